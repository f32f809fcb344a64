"""Rules first, the model when the rules are unsure: one decision from both opinions.

Pure: no I/O. The thresholds come from the model card (data), not from constants here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sevtriage.types import (
    REVIEW_NO_MODEL,
    ModelOpinion,
    RuleVerdict,
    Severity,
    Source,
)


@dataclass(frozen=True, slots=True)
class Combined:
    """The severity part of a decision."""

    severity: Severity | None
    source: Source | None
    confidence: float
    needs_review: bool
    review_reasons: tuple[str, ...]


def combine(verdict: RuleVerdict, opinion: ModelOpinion | None) -> Combined:
    """Decide from the rule verdict and, when the rules are unsure, the model's opinion."""
    if verdict.confident and verdict.severity is not None:
        return Combined(verdict.severity, "rules", 1.0, False, ())
    if opinion is None:
        # Nothing is guessed without a model: the request goes to a specialist with the rules' reasons.
        return Combined(None, None, 0.0, True, (*verdict.reasons, REVIEW_NO_MODEL))
    confidence = float(opinion.probabilities.get(int(opinion.severity), 0.0))
    return Combined(opinion.severity, "model", confidence, True, verdict.reasons)
