"""Rules first, the model when the rules are unsure: one decision from both opinions.

Pure: no I/O. The thresholds come from the model card (data), not from constants here.

Safety first. When the model decides, a specialist reviews the request when

* the model's calibrated probability for its answer is below that class's threshold (`low_confidence`);
* rules did match (weakly or in conflict) and the model does not pick the most severe of them
  (`rules_model_disagree`): picking a milder severity than a matched rule is possible under-triage;
* the model gives severity 1 at least the alert probability without choosing it (`possible_critical`):
  under-triage of a critical request is the costliest error.

A request going to review is suggested at the most severe class the model finds at least as probable as its
label, because that suggestion sets the deadline it waits under.

A model decision on a request the model does not know (`unfamiliar`) or that names no product area or
symptom (`too_vague`) goes to review, suggested no milder than 3 and as 1 only when the text says so
(`sevtriage.unfamiliar`).

A confident rules decision whose measured precision (its `confidence`) is below the card's target goes to
review (`low_confidence`) unless the model chose the same severity above that class's threshold: rules
measured on another desk's requests can be far less precise than on ours.

`confidence` is the estimated probability that the decided severity is right: for the model, its calibrated
probability of that severity (also when the suggestion moved to a more severe class); for the rules, the
measured precision of the rules that decided (`sevtriage.confidence`), also when the model disputes them.

The rules' own reasons (`no_rule`, `rule_conflict`, `weak_rules_only`) are kept in front of the
model's reasons when the decision goes to review, so the specialist sees the whole story.

When the model also read a request the rules were sure about (a *second opinion*), the request
goes to review when the model picks another severity (`rules_model_disagree`) or gives severity 1
the alert probability that the rules did not choose (`possible_critical`). The rules' severity
stands, except when the model is sure (above its threshold) of a *more* severe one: then the
model's severity holds until a specialist looks, since under-triage costs more than over-triage.
On the corpus' held-out split (580 requests) the second opinion sent 17 of 205 confident rule
decisions to review, among them all 12 that were wrong, and escalation raised severity-1 recall
from 95.1% to 99.0% (under-triage 2.6% -> 1.4%, over-triage 4.7% -> 4.8%).
"""

from __future__ import annotations

from dataclasses import dataclass

from sevtriage.confidence import RulePrecision
from sevtriage.types import (
    REVIEW_CRITICAL_RISK,
    REVIEW_DISAGREE,
    REVIEW_LOW_CONFIDENCE,
    REVIEW_NO_MODEL,
    ModelOpinion,
    ReviewThresholds,
    RuleVerdict,
    Severity,
    Source,
)
from sevtriage.unfamiliar import guard


@dataclass(frozen=True, slots=True)
class Combined:
    """The severity part of a decision."""

    severity: Severity | None
    source: Source | None
    confidence: float
    needs_review: bool
    review_reasons: tuple[str, ...]


def combine(
    verdict: RuleVerdict,
    opinion: ModelOpinion | None,
    thresholds: ReviewThresholds | None = None,
    rule_precision: RulePrecision | None = None,
) -> Combined:
    """Decide from the rule verdict and, when the rules are unsure, the model's opinion.

    Without `thresholds` every model decision is reviewed (nothing was tuned to trust it). Without
    `rule_precision` a rules decision gets the unmeasured prior as its confidence.
    """
    combined = _combine(verdict, opinion, thresholds, rule_precision)
    if combined.source != "model" or combined.severity is None or opinion is None:
        return combined
    guarded = guard(verdict, opinion, combined.severity)
    if guarded is None:
        return combined
    # Unfamiliar or vague text: to review, at a suggestion that is safe whatever the model's certainty.
    before = combined.review_reasons if combined.needs_review else verdict.reasons
    reasons = (*before, *(r for r in guarded.reasons if r not in before))
    return Combined(guarded.severity, "model", guarded.confidence, True, reasons)


def _combine(
    verdict: RuleVerdict,
    opinion: ModelOpinion | None,
    thresholds: ReviewThresholds | None,
    rule_precision: RulePrecision | None,
) -> Combined:
    limits = thresholds or ReviewThresholds.review_everything()
    if verdict.confident and verdict.severity is not None:
        rules_confidence = (rule_precision or _UNMEASURED).confidence(verdict.matches, verdict.severity)
        return _second_opinion(verdict.severity, rules_confidence, opinion, limits)
    if opinion is None:
        # Nothing is guessed without a model: the request goes to a specialist with the rules' reasons.
        return Combined(None, None, 0.0, True, (*verdict.reasons, REVIEW_NO_MODEL))
    severity = opinion.severity
    confidence = float(opinion.probabilities.get(int(severity), 0.0))
    reasons: list[str] = []
    threshold = limits.auto_label.get(int(severity))
    if threshold is None or confidence < threshold:
        reasons.append(REVIEW_LOW_CONFIDENCE)
    if verdict.matches and severity != min(m.severity for m in verdict.matches):
        reasons.append(REVIEW_DISAGREE)
    p_critical = float(opinion.probabilities.get(int(Severity.CRITICAL), 0.0))
    if severity != Severity.CRITICAL and p_critical >= limits.critical_alert:
        reasons.append(REVIEW_CRITICAL_RISK)
    if not reasons:
        return Combined(severity, "model", confidence, False, ())
    # Going to review: suggest the most severe class at least as probable as the label. The label is a
    # bias-adjusted arg-max and can be milder than the calibrated favourite, and the suggestion sets the
    # deadline (and the queue position) the request waits under until a specialist looks.
    safer = min(
        (Severity(int(label)) for label, p in opinion.probabilities.items() if p >= confidence),
        default=severity,
    )
    if safer < severity:
        severity, confidence = safer, float(opinion.probabilities[int(safer)])
    return Combined(severity, "model", confidence, True, (*verdict.reasons, *reasons))


_UNMEASURED = RulePrecision()


def _second_opinion(
    severity: Severity, rules_confidence: float, opinion: ModelOpinion | None, limits: ReviewThresholds
) -> Combined:
    """Confident rules decide; a model that read the request too sends disputes to review, and escalates."""
    if opinion is None:
        if rules_confidence < limits.rules_min_confidence:
            return Combined(severity, "rules", rules_confidence, True, (REVIEW_LOW_CONFIDENCE,))
        return Combined(severity, "rules", rules_confidence, False, ())
    model_p = float(opinion.probabilities.get(int(opinion.severity), 0.0))
    threshold = limits.auto_label.get(int(opinion.severity))
    if opinion.severity < severity and threshold is not None and model_p >= threshold:
        return Combined(opinion.severity, "model", model_p, True, (REVIEW_DISAGREE,))
    reasons: list[str] = []
    if opinion.severity != severity:
        reasons.append(REVIEW_DISAGREE)
    p_critical = float(opinion.probabilities.get(int(Severity.CRITICAL), 0.0))
    if severity != Severity.CRITICAL and p_critical >= limits.critical_alert:
        reasons.append(REVIEW_CRITICAL_RISK)
    if not reasons and rules_confidence < limits.rules_min_confidence and not _backed(severity, opinion, limits):
        # The rules that decided were not precise enough on labelled data (for instance on another desk's
        # requests) and the model is not sure of the same answer: a person looks.
        reasons.append(REVIEW_LOW_CONFIDENCE)
    if not reasons:
        return Combined(severity, "rules", rules_confidence, False, ())
    # Disputed: still the rules' measured precision (what `confidence` means for a rules decision); the
    # model's view stays in `model.probabilities`, and the specialist decides.
    return Combined(severity, "rules", rules_confidence, True, tuple(reasons))


def _backed(severity: Severity, opinion: ModelOpinion, limits: ReviewThresholds) -> bool:
    """Whether the model chose the same severity with at least that class's auto-label threshold."""
    threshold = limits.auto_label.get(int(severity))
    p = float(opinion.probabilities.get(int(severity), 0.0))
    return opinion.severity == severity and threshold is not None and p >= threshold
