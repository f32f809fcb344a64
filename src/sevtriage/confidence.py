"""How sure a rules decision is: each rule's precision measured on labelled data, shrunk toward a prior.

A decision's `confidence` is the estimated probability that its severity is right. For the model that is
the calibrated probability of the decided severity; for the rules it is the precision of the rules that
decided, measured at `sevtriage train` time on the training corpus (the rules are not fitted, so in-sample
counts are what there is; the fresh, challenge and external sets are never used).

A rule that matched few requests has a noisy precision, so each is shrunk toward the pooled precision of all
confident rule decisions: the posterior mean of a Beta-binomial model with a Beta(m * p0, m * (1 - p0)) prior,
`(correct + m * p0) / (matched + m)` (Gelman et al., "Bayesian Data Analysis", 3rd ed., 2013, section 2.4 and
chapter 5: a conjugate prior worth `m` observations; with the prior's mean estimated from the pooled data this
is empirical-Bayes shrinkage). A rule never measured, or changed since (its fingerprint differs), gets the
prior. When several rules agree, the decision gets the best of their estimates.

Pure: measurement takes verdicts and labels; the CLI reads the data and the rule stage supplies fingerprints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sevtriage.types import RuleMatch, RuleVerdict, Severity

# The prior's weight in pseudo-observations: a rule needs about this many matches before its own record
# counts as much as the pooled one.
PRIOR_STRENGTH = 10.0
# The prior mean when nothing was measured at all (no model card, or no rule decided on the training data):
# the bundled rules' precision on corpus requests held out from tuning was 93.6%, and 87.3% on the fresh
# set written by an independent writer (README, "Rules"); 0.9 sits between them.
UNMEASURED_PRIOR = 0.9


@dataclass(frozen=True, slots=True)
class RuleRecord:
    """One rule's record on labelled data: how often it matched and how often its severity was the label."""

    id: str
    fingerprint: str
    severity: int
    matched: int
    correct: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "severity": self.severity,
            "matched": self.matched,
            "correct": self.correct,
        }


@dataclass(frozen=True, slots=True)
class RulePrecision:
    """Per-rule precision estimates (shrunk toward `prior_mean`) for the rules' `confidence`."""

    prior_mean: float = UNMEASURED_PRIOR
    prior_strength: float = PRIOR_STRENGTH
    rules: Mapping[str, RuleRecord] = field(default_factory=dict)
    rules_version: str | None = None
    decided: int = 0
    decided_correct: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.prior_mean <= 1:
            raise ValueError(f"prior_mean must be in [0, 1]; got {self.prior_mean}")
        if self.prior_strength <= 0:
            raise ValueError(f"prior_strength must be greater than 0; got {self.prior_strength}")

    def estimate(self, rule_id: str) -> float:
        """The shrunk precision of one rule (the prior when it was never measured)."""
        record = self.rules.get(rule_id)
        if record is None:
            return self.prior_mean
        m = self.prior_strength
        return (record.correct + m * self.prior_mean) / (record.matched + m)

    def confidence(self, matches: Sequence[RuleMatch], severity: Severity) -> float:
        """How likely a rules decision of `severity` is right: the best estimate among the rules naming it."""
        agreeing = [self.estimate(m.id) for m in matches if m.severity == severity]
        return max(agreeing, default=self.prior_mean)

    def matching(self, fingerprints: Mapping[str, str]) -> RulePrecision:
        """Only the records of rules that still exist unchanged (same fingerprint); the rest get the prior."""
        kept = {k: r for k, r in self.rules.items() if fingerprints.get(k) == r.fingerprint}
        return replace(self, rules=kept)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "Beta-binomial posterior mean: (correct + m * prior) / (matched + m)",
            "prior_mean": round(self.prior_mean, 6),
            "prior_strength": self.prior_strength,
            "rules_version": self.rules_version,
            "decided": self.decided,
            "decided_correct": self.decided_correct,
            "rules": {
                k: {**r.to_dict(), "estimate": round(self.estimate(k), 4)} for k, r in sorted(self.rules.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RulePrecision:
        rules = {
            str(k): RuleRecord(
                id=str(k),
                fingerprint=str(v["fingerprint"]),
                severity=int(v["severity"]),
                matched=int(v["matched"]),
                correct=int(v["correct"]),
            )
            for k, v in (data.get("rules") or {}).items()
        }
        version = data.get("rules_version")
        return cls(
            prior_mean=float(data["prior_mean"]),
            prior_strength=float(data["prior_strength"]),
            rules=rules,
            rules_version=None if version is None else str(version),
            decided=int(data.get("decided", 0)),
            decided_correct=int(data.get("decided_correct", 0)),
        )


def measure_rules(
    verdicts: Sequence[RuleVerdict],
    labels: Sequence[Severity | int],
    fingerprints: Mapping[str, str],
    *,
    rules_version: str | None = None,
    prior_strength: float = PRIOR_STRENGTH,
) -> RulePrecision:
    """Count each rule's matches and correct matches on labelled requests (verdicts in the labels' order).

    The prior mean is the pooled precision of the confident rule decisions, or `UNMEASURED_PRIOR` when the
    rules decided nothing.
    """
    if len(verdicts) != len(labels):
        raise ValueError(f"verdicts and labels must have the same length; got {len(verdicts)} and {len(labels)}")
    matched: dict[str, int] = {}
    correct: dict[str, int] = {}
    severity: dict[str, int] = {}
    decided = decided_correct = 0
    for verdict, label in zip(verdicts, labels, strict=True):
        truth = int(label)
        for match in verdict.matches:
            matched[match.id] = matched.get(match.id, 0) + 1
            correct[match.id] = correct.get(match.id, 0) + int(int(match.severity) == truth)
            severity[match.id] = int(match.severity)
        if verdict.confident and verdict.severity is not None:
            decided += 1
            decided_correct += int(int(verdict.severity) == truth)
    records = {
        rule_id: RuleRecord(rule_id, fingerprints.get(rule_id, ""), severity[rule_id], n, correct[rule_id])
        for rule_id, n in matched.items()
    }
    prior = decided_correct / decided if decided else UNMEASURED_PRIOR
    return RulePrecision(prior, prior_strength, records, rules_version, decided, decided_correct)
