"""A bounded per-word memo for the text features: memory stays flat on any stream of requests."""

from __future__ import annotations

import re
import threading
from typing import Generic, TypeVar

V = TypeVar("V")

_HAS_DIGIT = re.compile(r"\d")
# Words with a digit remembered at once: enough for the numbers that repeat (error codes, years, versions).
NUMBER_LIMIT = 4096


class WordCache(Generic[V]):
    """A value remembered per word; each pool is cleared when full, so memory is bounded whatever the stream.

    Words with a digit (ticket numbers, ids, times) get a small pool of their own. Most are never seen again;
    in the main pool, a stream of them would fill it to its bound and push out the vocabulary that does repeat.
    Thread-safe: writers take a lock; readers may read `words` directly (a dict lookup is atomic).
    """

    def __init__(self, limit: int, number_limit: int = NUMBER_LIMIT) -> None:
        self.words: dict[str, V] = {}
        self._numbers: dict[str, V] = {}
        self._limit = limit
        self._number_limit = number_limit
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.words) + len(self._numbers)

    def get(self, word: str) -> V | None:
        """The remembered value, or None."""
        found = self.words.get(word)
        return found if found is not None else self._numbers.get(word)

    def put(self, word: str, value: V) -> None:
        """Remember `value` for `word`, clearing its pool first when the pool is full."""
        if _HAS_DIGIT.search(word) is None:
            pool, limit = self.words, self._limit
        else:
            pool, limit = self._numbers, self._number_limit
        with self._lock:
            if len(pool) >= limit:
                pool.clear()
            pool[word] = value
