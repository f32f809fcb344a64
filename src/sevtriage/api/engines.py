"""Rules, model and SLA policy in service, swapped as one on reload.

A request reads `Engines.current` once and uses that snapshot to the end, so a reload in the middle of a
request never mixes old rules with a new model. Loading happens aside; only the finished set is swapped in
(one reference assignment, atomic under the GIL). A failed load leaves the old set in service.

With several worker processes (`sevtriage serve --workers N`) the worker that reloads publishes the new
generation (`sevtriage.api.generation`); every other worker sees it when it next reads `current` and loads the
same files in a background thread, serving its old set until the new one is ready.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sevtriage.api.generation import CHECK_SECONDS, Published, SharedGeneration
from sevtriage.intake.readers import IntakeRules
from sevtriage.settings import Settings, load_triage
from sevtriage.sla import SlaPolicy

if TYPE_CHECKING:
    from sevtriage.triage import Triage

log = logging.getLogger("sevtriage.api")


@dataclass(frozen=True, slots=True)
class Loaded:
    """One consistent set: what a request classifies with from start to end."""

    triage: Triage
    sla: SlaPolicy
    intake: IntakeRules
    generation: int
    loaded_at: float

    @property
    def rules_version(self) -> str:
        return str(self.triage.rules_version)

    @property
    def model_version(self) -> str | None:
        return self.triage.model_version


def settle_heap() -> None:
    """Collect what the last swap left behind, then exempt everything alive from later collections (`gc.freeze`).

    Rules, model and caches are hundreds of thousands of objects that live as long as the process. Python's full
    (generation 2) collections walk all of them, and each such pause held up every request in flight: measured
    under 10 and 50 clients, ten full collections in 16 s, the longest 208 ms (benchmarks/README.md, issue 13
    target 2). Frozen objects are never walked nor collected (https://docs.python.org/3/library/gc.html#gc.freeze),
    so everything is unfrozen first: whatever of the replaced set is held only by reference cycles is collected
    here, after the swap (today that set is freed by reference counting alone, tests/api/test_heap.py; this keeps
    it so if a cycle appears). A request still holding the old set at that moment keeps it alive, at most until
    the next reload.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _policy_of(triage: Triage, settings: Settings) -> SlaPolicy:
    # A Triage built without a policy (rules only) still answers /v1/sla/due from the settings' policy file.
    return triage.sla if triage.sla is not None else SlaPolicy.load(settings.sla_path)


def build(settings: Settings, triage: Triage | None, generation: int) -> Loaded:
    triage = triage if triage is not None else load_triage(settings)
    policy = _policy_of(triage, settings)
    return Loaded(triage, policy, IntakeRules.from_policy(policy), generation, time.time())


class Engines:
    """Holds the `Loaded` set in service; with `shared`, follows the reloads of the other worker processes."""

    def __init__(
        self, settings: Settings, triage: Triage | None = None, shared: SharedGeneration | None = None
    ) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._shared = shared
        published = shared.read() if shared is not None else None
        generation = published.generation if published is not None else 1
        self._current: Loaded = build(settings, triage, generation)
        self._attempted = generation
        self._next_check = 0.0

    @property
    def current(self) -> Loaded:
        """The set in service; in a worker process, first a cheap look whether another worker reloaded."""
        if self._shared is not None:
            now = time.monotonic()
            if now >= self._next_check:
                self._next_check = now + CHECK_SECONDS
                self._follow(self._shared)
        return self._current

    def reload(self) -> Loaded:
        """Load rules, model and policy afresh from the settings' paths and swap them in; raises on bad files.

        With other worker processes, announces the new generation so that they load the same files too.
        """
        with self._lock:  # one reload at a time; requests are never blocked by it
            fresh = build(self._settings, None, self._current.generation + 1)
            if self._shared is not None:
                generation = self._shared.publish(fresh.rules_version, fresh.model_version)
                fresh = replace(fresh, generation=generation)
                self._attempted = generation
            self._current = fresh
            settle_heap()
            return fresh

    def _follow(self, shared: SharedGeneration) -> None:
        published = shared.read()
        if published is None or published.generation <= max(self._current.generation, self._attempted):
            return
        if not self._lock.acquire(blocking=False):
            return  # a reload or another follow is under way here; the next look starts this one
        self._attempted = published.generation
        threading.Thread(target=self._load_published, args=(published,), name="sevtriage-follow", daemon=True).start()

    def _load_published(self, published: Published) -> None:
        """In its own thread, with the lock held: load what another worker published and swap it in."""
        try:
            try:
                fresh = build(self._settings, None, published.generation)
            except Exception as error:  # the files broke after the other worker read them: keep the old set
                log.error(
                    "generation %d was published by worker %d, but loading it failed here, so the previous rules "
                    "and model stay in service in worker %d: %s",
                    published.generation,
                    published.by_pid,
                    os.getpid(),
                    error,
                )
                return
            if published.rules_version is not None and fresh.rules_version != published.rules_version:
                # Someone edited the files between the two loads: say so (/healthz shows the versions too).
                log.warning(
                    "worker %d loaded rules %s for generation %d, but worker %d announced %s (the file changed "
                    "in between); reload again to bring all workers to one version",
                    os.getpid(),
                    fresh.rules_version,
                    published.generation,
                    published.by_pid,
                    published.rules_version,
                )
            self._current = fresh
            settle_heap()
            log.info(
                "worker %d follows generation %d: rules %s, model %s",
                os.getpid(),
                published.generation,
                fresh.rules_version,
                fresh.model_version,
            )
        finally:
            self._lock.release()
