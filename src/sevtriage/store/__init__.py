"""The decision store: requests, suggested decisions, specialists' reviews and accounts, in one database."""

from __future__ import annotations

from sevtriage.errors import NotStored
from sevtriage.store.store import (
    EVENT_KINDS,
    ROLES,
    Action,
    AlertRecord,
    DeadlineRule,
    DecisionStore,
    EventKind,
    NewAlert,
    NotFound,
    Override,
    QueueFilter,
    RequestEvent,
    ReviewConflict,
    RuleCount,
    RuleReload,
    StoredRequest,
    User,
    UserExists,
)

__all__ = [
    "EVENT_KINDS",
    "ROLES",
    "Action",
    "AlertRecord",
    "DeadlineRule",
    "DecisionStore",
    "EventKind",
    "NewAlert",
    "NotFound",
    "NotStored",
    "Override",
    "QueueFilter",
    "RequestEvent",
    "ReviewConflict",
    "RuleCount",
    "RuleReload",
    "StoredRequest",
    "User",
    "UserExists",
]
