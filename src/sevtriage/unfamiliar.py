"""Requests the model does not know, or that name nothing to decide on, go to review with a safe suggestion.

Pure: no I/O. The measures and the reasons come with the model's opinion (`ModelOpinion.familiarity`,
computed by `sevtriage.model.familiarity` with the cut-offs of the model card); this module decides what
they do to a decision that the model made.

The choice, with the safety rule in mind (missing a severity-1 request costs far more than over-rating a
severity-4 one), for a model decision flagged `unfamiliar` or `too_vague`:

* it goes to review: the model's probability is not evidence on text unlike its training data (it said
  "low, confidence 1.00" to "something is off with the app since yesterday");
* it is suggested no milder than 3, whatever the model says: "I can't tell" is never severity 4. The
  suggestion only sets the deadline the request waits under until a specialist looks; a 3 that should
  have been a 4 costs a little queue position, a 4 that hid a 2 costs a missed deadline. (A "sure" model
  was considered as an exception and rejected: sureness on unfamiliar text is what the issue measured to
  be wrong.)
* it is suggested 1 only when the text says so: a matched severity-1 rule, or critical wording from the
  lexicon (everyone, outage, lost data). Otherwise a model's 1 becomes 2: the request is still near the
  top of the queue (severity 2 has a business-hours deadline), without paging anybody for a guess;
* its `confidence` stays what the field means elsewhere: the model's calibrated probability of the
  suggested severity.

Decisions of confident rules are left alone: the rules found their own evidence in the text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sevtriage.types import ModelOpinion, RuleVerdict, Severity

# The mildest severity a flagged request is suggested at.
MILDEST_WHEN_UNSURE = Severity.MEDIUM
# What a flagged severity-1 suggestion becomes when the text does not say it is critical.
CRITICAL_WITHOUT_EVIDENCE = Severity.HIGH


@dataclass(frozen=True, slots=True)
class Guarded:
    """A model decision after the familiarity check: severity, confidence and the reasons to add."""

    severity: Severity
    confidence: float
    reasons: tuple[str, ...]


def guard(verdict: RuleVerdict, opinion: ModelOpinion, severity: Severity) -> Guarded | None:
    """What the familiarity check changes in a model decision of `severity`; None when it changes nothing."""
    familiarity = opinion.familiarity
    if familiarity is None or not familiarity.reasons:
        return None
    says_critical = familiarity.says_critical or any(m.severity == Severity.CRITICAL for m in verdict.matches)
    safer = min(severity, MILDEST_WHEN_UNSURE)
    if safer == Severity.CRITICAL and not says_critical:
        safer = CRITICAL_WITHOUT_EVIDENCE
    return Guarded(safer, float(opinion.probabilities.get(int(safer), 0.0)), familiarity.reasons)
