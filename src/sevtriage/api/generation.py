"""The generation of rules in service, shared by the worker processes of `sevtriage serve --workers N`.

A small JSON file in the server's run directory says which generation is current and which rule and model
versions it was loaded with. The worker that reloads (`POST /v1/admin/reload`, or SIGHUP forwarded by the parent)
writes the next generation; the others notice the file changed (one `stat` at most every `CHECK_SECONDS`, on the
request path) and load the same files in a thread of their own while their old set keeps serving.

A file and not the decision store, because the service may run without a store, and a `stat` costs about a
microsecond where a database round trip costs a millisecond.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "generation.json"
LOCK_NAME = "generation.lock"
# How often a worker looks at the file at most: a reload reaches every worker within this plus its load time.
CHECK_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Published:
    """What the reloading worker announced: the generation and the versions it loaded for it."""

    generation: int
    rules_version: str | None
    model_version: str | None
    by_pid: int


class SharedGeneration:
    """Reads and advances the generation file in `directory` (the same directory in every worker)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME
        self._seen: tuple[int, int, int] | None = None
        self._published: Published | None = None

    def begin(self) -> None:
        """Write generation 1 (the parent does this once, before it starts the workers)."""
        self._write(Published(1, None, None, os.getpid()))

    def read(self) -> Published | None:
        """The published generation; re-read only when the file changed since the last call (a `stat` otherwise)."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        # The file is replaced, never written in place, so a new version always has a new inode.
        signature = (info.st_ino, info.st_mtime_ns, info.st_size)
        if signature != self._seen:
            self._published = self._load()
            self._seen = signature
        return self._published

    def publish(self, rules_version: str, model_version: str | None) -> int:
        """Announce a reload done by this process; return its generation (one more than the last published)."""
        with open(self.directory / LOCK_NAME, "a+b") as lock:
            # Two workers reloading at once must not both announce the same number.
            fcntl.flock(lock, fcntl.LOCK_EX)
            last = self._load()
            generation = (last.generation if last is not None else 0) + 1
            self._write(Published(generation, rules_version, model_version, os.getpid()))
            return generation

    def _load(self) -> Published | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return Published(
            int(data["generation"]), data.get("rules_version"), data.get("model_version"), int(data.get("by_pid", 0))
        )

    def _write(self, published: Published) -> None:
        fresh = self.path.with_name(f".{FILE_NAME}.{os.getpid()}")
        fresh.write_text(
            json.dumps(
                {
                    "generation": published.generation,
                    "rules_version": published.rules_version,
                    "model_version": published.model_version,
                    "by_pid": published.by_pid,
                }
            ),
            encoding="utf-8",
        )
        os.replace(fresh, self.path)  # atomic: a reader sees the old file or the new one, never half of one
