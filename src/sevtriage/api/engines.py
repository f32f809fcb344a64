"""Rules, model and SLA policy in service, swapped as one on reload.

A request reads `Engines.current` once and uses that snapshot to the end, so a reload in the middle of a
request never mixes old rules with a new model. Loading happens aside; only the finished set is swapped in
(one reference assignment, atomic under the GIL). A failed load leaves the old set in service.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sevtriage.intake.readers import IntakeRules
from sevtriage.settings import Settings, load_triage
from sevtriage.sla import SlaPolicy

if TYPE_CHECKING:
    from sevtriage.triage import Triage


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


def _policy_of(triage: Triage, settings: Settings) -> SlaPolicy:
    # A Triage built without a policy (rules only) still answers /v1/sla/due from the settings' policy file.
    return triage.sla if triage.sla is not None else SlaPolicy.load(settings.sla_path)


def build(settings: Settings, triage: Triage | None, generation: int) -> Loaded:
    triage = triage if triage is not None else load_triage(settings)
    policy = _policy_of(triage, settings)
    return Loaded(triage, policy, IntakeRules.from_policy(policy), generation, time.time())


class Engines:
    """Holds the `Loaded` set in service."""

    def __init__(self, settings: Settings, triage: Triage | None = None) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self.current: Loaded = build(settings, triage, 1)

    def reload(self) -> Loaded:
        """Load rules, model and policy afresh from the settings' paths and swap them in; raises on bad files."""
        with self._lock:  # one reload at a time; requests are never blocked by it
            fresh = build(self._settings, None, self.current.generation + 1)
            self.current = fresh
            return fresh
