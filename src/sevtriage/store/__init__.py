"""The decision store: requests, suggested decisions, specialists' reviews and accounts, in one database."""

from __future__ import annotations

from sevtriage.errors import NotStored
from sevtriage.store.store import (
    Action,
    DecisionStore,
    NotFound,
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
