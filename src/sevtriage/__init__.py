"""sevtriage: severity triage for software support desks."""

from __future__ import annotations

from sevtriage.types import Decision, ModelOpinion, RuleMatch, Severity, Ticket

__version__ = "0.1.0"

__all__ = ["Decision", "ModelOpinion", "RuleMatch", "Severity", "Ticket", "Triage", "__version__"]


def __getattr__(name: str) -> object:
    # Imported lazily: `Triage` pulls in the rules engine and scikit-learn, which `sevtriage.sla` users do not need.
    if name == "Triage":
        from sevtriage.triage import Triage

        return Triage
    raise AttributeError(name)
