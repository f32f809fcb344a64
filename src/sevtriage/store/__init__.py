"""The decision store: requests, suggested decisions, specialists' reviews and accounts, in one database."""

from __future__ import annotations

from sevtriage.errors import NotStored
from sevtriage.store.store import (
    EVENT_KINDS,
    Action,
    AlertRecord,
    DeadlineRule,
    DecisionStore,
    EventKind,
    NewAlert,
    NotFound,
    QueueFilter,
    RequestEvent,
    ReviewConflict,
    StoredRequest,
    User,
    UserExists,
)

__all__ = [
    "EVENT_KINDS",
    "Action",
    "AlertRecord",
    "DeadlineRule",
    "DecisionStore",
    "EventKind",
    "NewAlert",
    "NotFound",
    "NotStored",
    "QueueFilter",
    "RequestEvent",
    "ReviewConflict",
    "StoredRequest",
    "User",
    "UserExists",
]
