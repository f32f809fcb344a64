"""Rules' confidence: per-rule precision measured on labelled data, shrunk toward a prior."""

from __future__ import annotations

import pytest

from sevtriage.confidence import UNMEASURED_PRIOR, RulePrecision, measure_rules
from sevtriage.rules.stage import decide
from sevtriage.types import RuleMatch, RuleVerdict, Severity

S1, S2, S3, S4 = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW


def rule(rule_id: str, severity: Severity, strength: str = "strong") -> RuleMatch:
    return RuleMatch(id=rule_id, severity=severity, explanation="x", strength=strength)  # type: ignore[arg-type]


def test_counts_shrinkage_and_the_pooled_prior() -> None:
    a, b, weak = rule("a", S1), rule("b", S3), rule("w", S3, "weak")
    verdicts = [decide([a]), decide([a]), decide([a]), decide([b, weak]), decide([a, b]), decide([]), decide([weak])]
    labels = [S1, S1, S2, S3, S3, S4, S4]
    measured = measure_rules(verdicts, labels, {"a": "fa", "b": "fb"}, rules_version="r@1", prior_strength=4.0)
    assert {k: (r.matched, r.correct, r.fingerprint) for k, r in measured.rules.items()} == {
        "a": (4, 2, "fa"),
        "b": (2, 2, "fb"),
        "w": (2, 1, ""),
    }
    # Confident decisions: a, a, a (2 right) and b+w (right); the conflict and the abstentions are not decisions.
    assert (measured.decided, measured.decided_correct) == (4, 3)
    assert measured.prior_mean == pytest.approx(0.75)
    assert measured.estimate("a") == pytest.approx((2 + 4 * 0.75) / (4 + 4))
    assert measured.estimate("never-matched") == pytest.approx(0.75)
    # Agreeing rules: the best estimate among those naming the decided severity.
    assert measured.confidence([b, weak], S3) == pytest.approx(max(measured.estimate("b"), measured.estimate("w")))


def test_more_evidence_moves_the_estimate_away_from_the_prior() -> None:
    few = measure_rules([decide([rule("a", S2)])] * 5, [S3] * 5, {"a": "f"})
    many = measure_rules([decide([rule("a", S2)])] * 500, [S3] * 500, {"a": "f"})
    # Never right: the pooled prior is 0, but it only counts as 10 observations.
    assert few.estimate("a") == pytest.approx(0.0) and many.estimate("a") == pytest.approx(0.0)
    mixed = [decide([rule("a", S2)])] * 50 + [decide([rule("b", S2)])] * 5
    labels = [S2] * 50 + [S3] * 5
    measured = measure_rules(mixed, labels, {})
    assert measured.prior_mean == pytest.approx(50 / 55)
    assert 0 < measured.estimate("b") < measured.prior_mean < measured.estimate("a") <= 1


def test_nothing_decided_gives_the_unmeasured_prior() -> None:
    measured = measure_rules([decide([])], [S4], {})
    assert measured.prior_mean == UNMEASURED_PRIOR and measured.rules == {}


def test_a_changed_rule_loses_its_record() -> None:
    measured = measure_rules([decide([rule("a", S2)])] * 20, [S2] * 20, {"a": "old"})
    assert measured.matching({"a": "old"}).rules.keys() == {"a"}
    assert measured.matching({"a": "new"}).estimate("a") == measured.prior_mean
    assert measured.matching({}).rules == {}


def test_round_trip_through_the_card_dict() -> None:
    measured = measure_rules(
        [decide([rule("a", S2)]), decide([rule("b", S1)])], [S2, S3], {"a": "fa", "b": "fb"}, rules_version="v"
    )
    again = RulePrecision.from_dict(measured.to_dict())
    assert again == measured
    assert measured.to_dict()["rules"]["a"]["estimate"] == round(measured.estimate("a"), 4)


def test_lengths_and_priors_are_checked() -> None:
    with pytest.raises(ValueError, match="verdicts and labels must have the same length; got 1 and 0"):
        measure_rules([RuleVerdict((), None, False)], [], {})
    with pytest.raises(ValueError, match=r"prior_mean must be in \[0, 1\]; got 1.5"):
        RulePrecision(prior_mean=1.5)
