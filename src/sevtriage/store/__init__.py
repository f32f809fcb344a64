"""The decision store: requests, suggested decisions, specialists' reviews and accounts, in one database."""

from __future__ import annotations

from sevtriage.store.store import (
    Action,
    DecisionStore,
    NotFound,
    NotStored,
    QueueFilter,
    ReviewConflict,
    StoredRequest,
    User,
    UserExists,
)

__all__ = [
    "Action",
    "DecisionStore",
    "NotFound",
    "NotStored",
    "QueueFilter",
    "ReviewConflict",
    "StoredRequest",
    "User",
    "UserExists",
]
