"""The durable-rules evaluator. The only module that imports `durable`.

durable-rules 2.0.28 has hazards that this module designs around (each has a test):

- `post` fires only the first matching rule; `assert_fact` fires all of them, so facts are asserted.
- Every session id is a live session, capped at 1,024 per ruleset (the 1,025th raises MemoryError),
  so every request's fact is retracted and its session deleted right after evaluation.
- `delete_state` after a message no rule handled can crash the process, so a catch-all rule handles
  every fact.
- The default `Host` starts timer threads that race with `delete_state` when several threads call
  in (segfault), so the host here never starts them, and calls into the engine are serialised.
- A ruleset name cannot be registered twice in a host, so rulesets are named by a hash of their
  content and registered once per process; loading the same rules again reuses the registration.
- A registered ruleset is never freed by the host (about 1 MB each), so reloading rule files with new content
  grew memory without end. At most `MAX_LIVE_RULESETS` stay registered: registering another one deletes the
  least recently registered rulesets that no engine uses any more (`durable_rules_engine.delete_ruleset`). A
  ruleset still in use is never deleted, so more can be live while old engines still serve.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import durable_rules_engine
from durable.engine import Host

from sevtriage.rules.rulebook import FACT_TYPE, FACT_TYPE_KEY, CompiledRuleset, Fact

CATCH_ALL = "$sevtriage_catch_all"
_SID_KEY = "sid"


class _QuietHost(Host):  # type: ignore[misc]
    """A durable-rules host without the background dispatch/timer threads (we use no timers)."""

    def _run(self) -> None:
        # Host.__init__ calls _run to start two self-rescheduling threading.Timer loops; skipped.
        return None


class _Registered:
    """One ruleset registered in the shared host, with the state its actions write to."""

    def __init__(self, host: _QuietHost, ruleset: CompiledRuleset) -> None:
        self.lock = threading.Lock()
        self.fired: list[str] = []
        self._host = host
        self._name = ruleset.name
        self._sids = itertools.count()
        definition: dict[str, Any] = {}
        for rule in ruleset.rules:
            definition[rule.id] = {"all": [{"m": rule.condition}], "run": self._action(rule.id)}
        definition[CATCH_ALL] = {"all": [{"m": {FACT_TYPE_KEY: FACT_TYPE}}], "run": self._action(CATCH_ALL)}
        host.register_rulesets({ruleset.name: definition})

    def _action(self, rule_id: str) -> Callable[[Any], None]:
        def record(_closure: Any) -> None:
            self.fired.append(rule_id)

        return record

    def evaluate(self, fact: Fact) -> list[str]:
        """All rules fired for one fact (caller holds `lock`); leaves no session behind."""
        sid = f"r{next(self._sids)}"
        message: dict[str, Any] = {**fact, _SID_KEY: sid}
        self.fired.clear()
        try:
            self._host.assert_fact(self._name, message)
        finally:
            try:
                self._host.retract_fact(self._name, message)
            finally:
                self._host.delete_state(self._name, sid)
        return [rule_id for rule_id in self.fired if rule_id != CATCH_ALL]

    def live_facts(self, sid: str) -> list[Any]:
        """Facts still stored for a session (for tests: there must be none after a request)."""
        facts: list[Any] = self._host.get_facts(self._name, sid)
        return facts


MAX_LIVE_RULESETS = 8
log = logging.getLogger(__name__)
_HOST: _QuietHost | None = None
# Least recently registered first; the engines using each ruleset are tracked weakly.
_REGISTRY: dict[str, _Registered] = {}
_USERS: dict[str, weakref.WeakSet[DurableEngine]] = {}
_REGISTRY_LOCK = threading.Lock()


def _registered(ruleset: CompiledRuleset, user: DurableEngine) -> _Registered:
    global _HOST
    with _REGISTRY_LOCK:
        if _HOST is None:
            _HOST = _QuietHost()
        found = _REGISTRY.pop(ruleset.name, None)
        if found is None:
            _evict(_HOST, keep=MAX_LIVE_RULESETS - 1)
            found = _Registered(_HOST, ruleset)
            _USERS[ruleset.name] = weakref.WeakSet()
        _REGISTRY[ruleset.name] = found  # now the most recent
        _USERS[ruleset.name].add(user)
        return found


def _evict(host: _QuietHost, keep: int) -> None:
    """Delete unused rulesets, least recently registered first, until at most `keep` are live (caller locks)."""
    for name in list(_REGISTRY):
        if len(_REGISTRY) <= keep:
            return
        if len(_USERS[name]) > 0:
            continue  # an engine still evaluates with it
        registered = _REGISTRY.pop(name)
        del _USERS[name]
        with registered.lock:
            ruleset = host._ruleset_directory.pop(name)
            host._ruleset_list.remove(ruleset)
            durable_rules_engine.delete_ruleset(ruleset._handle)
    if len(_REGISTRY) > keep:
        log.warning("%d rulesets are live, above the cap of %d: old engines still use them", len(_REGISTRY), keep + 1)


def live_rulesets() -> int:
    """How many rulesets are registered in this process right now (the service's /metrics shows it)."""
    with _REGISTRY_LOCK:
        return len(_REGISTRY)


def registered_names() -> tuple[str, ...]:
    """Names of the rulesets registered in this process (each once, whatever the number of loads)."""
    with _REGISTRY_LOCK:
        return tuple(_REGISTRY)


class DurableEngine:
    """Evaluates a compiled ruleset on durable-rules; calls are serialised, so it is thread-safe."""

    name = "durable"

    def __init__(self, ruleset: CompiledRuleset) -> None:
        self.ruleset = ruleset
        self._registered = _registered(ruleset, self)
        self._order = {rule_id: i for i, rule_id in enumerate(ruleset.rule_ids)}

    def match_many(self, facts: Sequence[Fact]) -> list[tuple[str, ...]]:
        """For each fact, the ids of all rules that fired, in rule-file order."""
        out: list[tuple[str, ...]] = []
        with self._registered.lock:
            for fact in facts:
                fired = self._registered.evaluate(fact)
                out.append(tuple(sorted(set(fired), key=self._order.__getitem__)))
        return out

    def session_facts(self, sid: str) -> list[Any]:
        """Facts durable-rules still holds for a session id; raises once the session is deleted."""
        with self._registered.lock:
            return self._registered.live_facts(sid)
