"""The combiner: rules first, the model when unsure, review when the model is not trustworthy enough."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevtriage.combiner import combine
from sevtriage.confidence import UNMEASURED_PRIOR, RulePrecision, RuleRecord
from sevtriage.types import (
    REVIEW_CRITICAL_RISK,
    REVIEW_DISAGREE,
    REVIEW_LOW_CONFIDENCE,
    REVIEW_NO_MODEL,
    REVIEW_NO_RULE,
    REVIEW_RULE_CONFLICT,
    REVIEW_WEAK_RULES,
    ModelOpinion,
    ReviewThresholds,
    RuleMatch,
    RuleVerdict,
    Severity,
)

S1, S2, S3, S4 = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
THRESHOLDS = ReviewThresholds(auto_label={1: 0.6, 2: 0.7, 3: 0.8, 4: None}, critical_alert=0.2)


def match(severity: Severity, strength: str = "strong") -> RuleMatch:
    return RuleMatch(id=f"r{int(severity)}-{strength}", severity=severity, explanation="x", strength=strength)  # type: ignore[arg-type]


def opinion(severity: Severity, *probabilities: float) -> ModelOpinion:
    return ModelOpinion(severity, dict(zip((1, 2, 3, 4), probabilities, strict=True)))


NO_RULE = RuleVerdict(matches=(), severity=None, confident=False, reasons=(REVIEW_NO_RULE,))
WEAK_3 = RuleVerdict(matches=(match(S3, "weak"),), severity=None, confident=False, reasons=(REVIEW_WEAK_RULES,))
CONFLICT_1_3 = RuleVerdict(
    matches=(match(S1), match(S3)), severity=None, confident=False, reasons=(REVIEW_RULE_CONFLICT,)
)
SURE_2 = RuleVerdict(matches=(match(S2),), severity=S2, confident=True, reasons=())


@pytest.mark.parametrize(
    ("verdict", "model", "severity", "source", "needs_review", "reasons"),
    [
        # Confident rules decide; a model that agrees changes nothing.
        (SURE_2, None, S2, "rules", False, ()),
        (SURE_2, opinion(S2, 0.1, 0.8, 0.1, 0.0), S2, "rules", False, ()),
        # A second opinion that disagrees, or smells a critical request, sends it to review; the rules' answer stays.
        (SURE_2, opinion(S4, 0.0, 0.0, 0.0, 1.0), S2, "rules", True, (REVIEW_DISAGREE,)),
        (SURE_2, opinion(S2, 0.3, 0.7, 0.0, 0.0), S2, "rules", True, (REVIEW_CRITICAL_RISK,)),
        (SURE_2, opinion(S1, 0.55, 0.45, 0.0, 0.0), S2, "rules", True, (REVIEW_DISAGREE, REVIEW_CRITICAL_RISK)),
        # The model is sure of a more severe answer: it holds until review (under-triage costs most).
        (SURE_2, opinion(S1, 0.65, 0.35, 0.0, 0.0), S1, "model", True, (REVIEW_DISAGREE,)),
        # Sure of a milder answer: the rules' severity stays.
        (SURE_2, opinion(S3, 0.0, 0.1, 0.9, 0.0), S2, "rules", True, (REVIEW_DISAGREE,)),
        # No model: nothing is guessed.
        (NO_RULE, None, None, None, True, (REVIEW_NO_RULE, REVIEW_NO_MODEL)),
        # Under review, the suggestion is the most severe class at least as probable as the model's label.
        (NO_RULE, opinion(S4, 0.02, 0.57, 0.13, 0.28), S2, "model", True, (REVIEW_NO_RULE, REVIEW_LOW_CONFIDENCE)),
        (NO_RULE, opinion(S3, 0.0, 0.3, 0.4, 0.3), S3, "model", True, (REVIEW_NO_RULE, REVIEW_LOW_CONFIDENCE)),
        (CONFLICT_1_3, None, None, None, True, (REVIEW_RULE_CONFLICT, REVIEW_NO_MODEL)),
        # The model decides alone when it is sure enough.
        (NO_RULE, opinion(S3, 0.05, 0.05, 0.85, 0.05), S3, "model", False, ()),
        (NO_RULE, opinion(S1, 0.9, 0.05, 0.05, 0.0), S1, "model", False, ()),
        # Below the class threshold.
        (NO_RULE, opinion(S3, 0.1, 0.15, 0.7, 0.05), S3, "model", True, (REVIEW_NO_RULE, REVIEW_LOW_CONFIDENCE)),
        # A class without a threshold is always reviewed.
        (NO_RULE, opinion(S4, 0.0, 0.0, 0.01, 0.99), S4, "model", True, (REVIEW_NO_RULE, REVIEW_LOW_CONFIDENCE)),
        # Severity 1 likely enough but not chosen.
        (NO_RULE, opinion(S2, 0.25, 0.72, 0.03, 0.0), S2, "model", True, (REVIEW_NO_RULE, REVIEW_CRITICAL_RISK)),
        # A weak rule said 3, the model says 2: disagreement.
        (WEAK_3, opinion(S2, 0.0, 0.9, 0.1, 0.0), S2, "model", True, (REVIEW_WEAK_RULES, REVIEW_DISAGREE)),
        # A weak rule said 3 and the model agrees, sure enough: no review.
        (WEAK_3, opinion(S3, 0.0, 0.05, 0.9, 0.05), S3, "model", False, ()),
        # Conflicting rules 1 and 3: siding with the milder one is possible under-triage.
        (CONFLICT_1_3, opinion(S3, 0.0, 0.05, 0.9, 0.05), S3, "model", True, (REVIEW_RULE_CONFLICT, REVIEW_DISAGREE)),
        (CONFLICT_1_3, opinion(S1, 0.9, 0.05, 0.05, 0.0), S1, "model", False, ()),
    ],
)
def test_combine_table(
    verdict: RuleVerdict,
    model: ModelOpinion | None,
    severity: Severity | None,
    source: str | None,
    needs_review: bool,
    reasons: tuple[str, ...],
) -> None:
    result = combine(verdict, model, THRESHOLDS)
    assert (result.severity, result.source, result.needs_review, result.review_reasons) == (
        severity,
        source,
        needs_review,
        reasons,
    )


def test_confidence_is_the_probability_of_the_chosen_severity() -> None:
    assert combine(NO_RULE, opinion(S3, 0.05, 0.05, 0.85, 0.05), THRESHOLDS).confidence == pytest.approx(0.85)


MEASURED = RulePrecision(
    prior_mean=0.9,
    prior_strength=10.0,
    rules={
        "r2-strong": RuleRecord("r2-strong", "f", 2, matched=40, correct=38),
        "r2-weak": RuleRecord("r2-weak", "g", 2, matched=90, correct=89),
    },
)


def test_a_rules_decision_is_as_sure_as_the_rules_measured_precision_whatever_the_model_says() -> None:
    shrunk = (38 + 10 * 0.9) / (40 + 10)
    for model in (None, opinion(S2, 0.0, 0.8, 0.1, 0.1), opinion(S4, 0.0, 0.1, 0.1, 0.8)):
        result = combine(SURE_2, model, THRESHOLDS, MEASURED)
        assert result.source == "rules" and result.confidence == pytest.approx(shrunk)


def test_agreeing_rules_give_the_best_estimate_and_an_unmeasured_rule_the_prior() -> None:
    both = RuleVerdict(matches=(match(S2), match(S2, "weak")), severity=S2, confident=True, reasons=())
    assert combine(both, None, THRESHOLDS, MEASURED).confidence == pytest.approx((89 + 9) / 100)
    unknown = RuleVerdict(
        matches=(RuleMatch(id="new-rule", severity=S2, explanation="x"),), severity=S2, confident=True, reasons=()
    )
    assert combine(unknown, None, THRESHOLDS, MEASURED).confidence == pytest.approx(0.9)
    assert combine(unknown, None, THRESHOLDS).confidence == pytest.approx(UNMEASURED_PRIOR)


def test_an_escalated_decision_is_as_sure_as_the_model_is_of_its_severity() -> None:
    result = combine(SURE_2, opinion(S1, 0.65, 0.35, 0.0, 0.0), THRESHOLDS, MEASURED)
    assert (result.source, result.severity, result.confidence) == ("model", S1, pytest.approx(0.65))


def test_imprecise_rules_need_the_models_backing() -> None:
    strict = replace(THRESHOLDS, rules_min_confidence=0.95)  # the shrunk 0.94 is below
    unsure = combine(SURE_2, opinion(S2, 0.0, 0.6, 0.2, 0.2), strict, MEASURED)
    assert unsure.needs_review and unsure.review_reasons == (REVIEW_LOW_CONFIDENCE,)
    assert (unsure.source, unsure.severity) == ("rules", S2)
    backed = combine(SURE_2, opinion(S2, 0.0, 0.8, 0.1, 0.1), strict, MEASURED)
    assert not backed.needs_review
    alone = combine(SURE_2, None, strict, MEASURED)
    assert alone.needs_review and alone.review_reasons == (REVIEW_LOW_CONFIDENCE,)
    precise = RulePrecision(rules={"r2-strong": RuleRecord("r2-strong", "f", 2, matched=400, correct=396)})
    assert not combine(SURE_2, None, strict, precise).needs_review


def test_without_thresholds_every_model_decision_is_reviewed() -> None:
    result = combine(NO_RULE, opinion(S3, 0.0, 0.0, 1.0, 0.0), None)
    assert result.needs_review and REVIEW_LOW_CONFIDENCE in result.review_reasons


probabilities = st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda p: sum(p) > 0)
verdicts = st.sampled_from([NO_RULE, WEAK_3, CONFLICT_1_3, SURE_2])


@given(verdicts, probabilities, st.sampled_from(list(Severity)))
def test_safety_laws(verdict: RuleVerdict, raw: list[float], chosen: Severity) -> None:
    total = sum(raw)
    model = opinion(chosen, *(p / total for p in raw))
    result = combine(verdict, model, THRESHOLDS)
    if verdict.confident:
        assert verdict.severity is not None
        assert result.needs_review == (chosen != verdict.severity or model.probabilities[1] >= 0.2)
        threshold = THRESHOLDS.auto_label[int(chosen)]
        if chosen < verdict.severity and threshold is not None and model.probabilities[int(chosen)] >= threshold:
            assert (result.source, result.severity) == ("model", chosen)
        else:
            assert (result.source, result.severity) == ("rules", verdict.severity)
        # Never milder than the confident rules.
        assert result.severity is not None and result.severity <= verdict.severity
        return
    assert result.source == "model" and result.severity is not None
    # Never milder than the model's label; a more severe suggestion only when at least as probable.
    assert result.severity <= chosen
    assert model.probabilities[int(result.severity)] >= model.probabilities[int(chosen)]
    assert result.severity == chosen or result.needs_review
    if not result.needs_review:
        # Auto-labelled: sure enough, no sign of a missed critical request, no milder pick than a matched rule.
        threshold = THRESHOLDS.auto_label[int(chosen)]
        assert threshold is not None and result.confidence >= threshold
        assert chosen == S1 or model.probabilities[1] < THRESHOLDS.critical_alert
        assert all(chosen <= m.severity for m in verdict.matches)
        assert result.review_reasons == ()
    else:
        assert result.review_reasons[: len(verdict.reasons)] == verdict.reasons
