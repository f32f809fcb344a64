"""Review thresholds chosen on validation data for the card's targets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from sevtriage.model.thresholds import CANDIDATES, Targets, choose_thresholds, select_thresholds
from sevtriage.types import ReviewThresholds


def one_hot(labels: list[int], confidence: list[float]) -> np.ndarray:
    proba = np.zeros((len(labels), 4))
    for row, (label, conf) in enumerate(zip(labels, confidence, strict=True)):
        proba[row] = (1 - conf) / 3
        proba[row, label - 1] = conf
    return proba


def exact_lower_bound(correct: int, n: int, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson lower bound from scipy's own exact interval (two-sided at 2 * level - 1)."""
    return float(binomtest(correct, n).proportion_ci(confidence_level=2 * level - 1, method="exact").low)


def kept_counts(truth: list[int], pred: list[int], conf: list[float], label: int, threshold: float) -> tuple[int, int]:
    kept = [t == label for t, p, c in zip(truth, pred, conf, strict=True) if p == label and c >= threshold]
    return sum(kept), len(kept)


def test_threshold_is_where_the_fixed_sequence_stops() -> None:
    # 300 predictions of class 3, surer first: right down to confidence ~0.8, then right only every other time.
    conf = [0.995 - 0.0015 * i for i in range(300)]
    truth = [3 if i < 150 or i % 2 else 4 for i in range(300)]
    choice = select_thresholds(truth, [3] * 300, one_hot([3] * 300, conf), Targets(auto_precision=0.9))
    threshold = choice.thresholds.auto_label[3]
    assert threshold is not None
    correct, n = kept_counts(truth, [3] * 300, conf, 3, threshold)
    assert exact_lower_bound(correct, n) >= 0.9
    (evidence,) = [e for e in choice.evidence if e.severity == 3]
    assert (evidence.correct, evidence.decisions) == (correct, n)
    assert evidence.lower_bound == pytest.approx(exact_lower_bound(correct, n), abs=1e-6)
    # The next candidate down fails the test: that is where the sequence stopped.
    lower = max(c for c in CANDIDATES if c < threshold)
    assert exact_lower_bound(*kept_counts(truth, [3] * 300, conf, 3, lower)) < 0.9


def test_the_sequence_does_not_resume_below_a_failure() -> None:
    # Right at the top, a run of mistakes around 0.85, then right again: precision over the kept set recovers
    # further down, but the fixed sequence stopped at the first failure and never looks there.
    conf = [0.99 - 0.0005 * i for i in range(800)]
    truth = [4 if 110 <= i < 140 else 3 for i in range(800)]
    choice = select_thresholds(truth, [3] * 800, one_hot([3] * 800, conf), Targets(auto_precision=0.9))
    threshold = choice.thresholds.auto_label[3]
    assert threshold is not None and threshold > conf[110]
    assert exact_lower_bound(*kept_counts(truth, [3] * 800, conf, 3, 0.6)) >= 0.9  # would pass, never tested


def test_a_class_with_too_little_evidence_is_never_auto_labelled() -> None:
    # 50 predictions, all right: 0.95 ** 50 > 0.05, so no bound at 95% can reach 95%.
    few = Targets(min_auto_support=10)
    choice = select_thresholds([2] * 50, [2] * 50, one_hot([2] * 50, [0.99] * 50), few)
    assert choice.thresholds.auto_label[2] is None
    # 60 are enough when all are right.
    choice = select_thresholds([2] * 60, [2] * 60, one_hot([2] * 60, [0.99] * 60), few)
    assert choice.thresholds.auto_label[2] is not None
    # By default the search needs 100 decisions before it starts.
    choice = select_thresholds([2] * 99, [2] * 99, one_hot([2] * 99, [0.99] * 99))
    assert choice.thresholds.auto_label[2] is None and choice.evidence[1].decisions == 99


def test_the_search_begins_where_it_has_enough_decisions() -> None:
    # A mistake among the 30 surest decisions would end a search that began there; with 100 it is absorbed.
    conf = [0.999 - 0.001 * i for i in range(400)]
    truth = [4 if i == 3 else 3 for i in range(400)]
    early = select_thresholds(truth, [3] * 400, one_hot([3] * 400, conf), Targets(min_auto_support=30))
    late = select_thresholds(truth, [3] * 400, one_hot([3] * 400, conf))
    assert early.thresholds.auto_label[3] is None
    assert late.thresholds.auto_label[3] is not None


def test_threshold_never_goes_below_the_confidence_floor() -> None:
    conf = [0.95 - 0.001 * i for i in range(800)]
    chosen = choose_thresholds([2] * 800, [2] * 800, one_hot([2] * 800, conf), Targets(min_auto_confidence=0.5))
    assert chosen.auto_label[2] == pytest.approx(0.5)


def test_class_that_never_reaches_the_target_is_always_reviewed() -> None:
    truth = [4] * 200
    chosen = choose_thresholds(truth, [3] * 200, one_hot([3] * 200, [0.95] * 200))
    assert chosen.auto_label[3] is None


def test_the_guarantee_holds_in_repeated_trials() -> None:
    # A perfectly calibrated model: P(right | confidence c) = c, confidence uniform on [0.5, 1]. The precision of
    # everything at or above t is (1 + t) / 2, so only t >= 0.8 truly reaches 90%. Chosen on 400 validation
    # decisions, a threshold below 0.8 (a broken promise) may happen in at most 5% of trials (plus noise).
    rng = np.random.default_rng(0)
    trials, broken = 300, 0
    for _ in range(trials):
        conf = rng.uniform(0.5, 1.0, 400)
        right = rng.uniform(size=400) < conf
        truth = np.where(right, 1, 2)
        chosen = choose_thresholds(truth, np.ones(400, dtype=int), one_hot([1] * 400, list(conf)), Targets(0.9))
        threshold = chosen.auto_label[1]
        broken += int(threshold is not None and threshold < 0.8)
    assert broken / trials <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / trials)


def test_critical_alert_catches_enough_missed_critical_requests() -> None:
    # 10 critical requests, the label catches 6; the alert must catch 4 more of the misses for 100% recall.
    truth = [1] * 10
    pred = [1] * 6 + [2] * 4
    proba = one_hot(pred, [0.9] * 6 + [0.5] * 4)
    proba[6:, 0] = [0.21, 0.12, 0.09, 0.07]
    chosen = choose_thresholds(truth, pred, proba, Targets(critical_recall=1.0, min_critical_alert=0.01))
    assert chosen.critical_alert == pytest.approx(0.07)


@pytest.mark.parametrize(("misses", "expected"), [([], 0.25), ([0.9], 0.25), ([0.01], 0.05)])
def test_critical_alert_stays_within_its_bounds(misses: list[float], expected: float) -> None:
    truth = [1] * (10 + len(misses))
    pred = [1] * 10 + [3] * len(misses)
    proba = one_hot(pred, [0.9] * len(pred))
    for i, p in enumerate(misses):
        proba[10 + i, 0] = p
    chosen = choose_thresholds(truth, pred, proba, Targets(critical_recall=1.0))
    assert chosen.critical_alert == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auto_precision": 0.0}, "auto_precision must be in (0, 1]; got 0.0"),
        ({"critical_recall": 1.5}, "critical_recall must be in (0, 1]; got 1.5"),
        ({"confidence_level": 1.0}, "confidence_level must be in (0, 1); got 1.0"),
        ({"min_critical_alert": 0.5, "max_critical_alert": 0.2}, "min_critical_alert <= max_critical_alert"),
    ],
)
def test_targets_are_validated(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
        Targets(**kwargs)  # type: ignore[arg-type]


def test_shape_mismatch_is_reported() -> None:
    with pytest.raises(ValueError, match=r"probabilities must have shape \(n, 4\)"):
        choose_thresholds([1, 2], [1, 2], np.zeros((2, 3)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4), st.floats(0.25, 1.0)), min_size=30, max_size=300))
def test_auto_labelled_validation_decisions_have_the_bound(rows: list[tuple[int, int, float]]) -> None:
    truth = [t for t, _, _ in rows]
    pred = [p for _, p, _ in rows]
    conf = [c for _, _, c in rows]
    targets = Targets(auto_precision=0.8, min_auto_support=5)
    chosen = choose_thresholds(truth, pred, one_hot(pred, conf), targets)
    for label, threshold in chosen.auto_label.items():
        if threshold is None:
            continue
        correct, n = kept_counts(truth, pred, conf, label, threshold)
        assert n >= targets.min_auto_support
        assert exact_lower_bound(correct, n) >= targets.auto_precision - 1e-9


def test_round_trip_through_the_card_dict() -> None:
    original = ReviewThresholds(auto_label={1: 0.5, 2: None, 3: 0.75, 4: 0.3}, critical_alert=0.12)
    assert ReviewThresholds.from_dict(original.to_dict()) == original
    assert Targets.from_dict(Targets().to_dict()) == Targets()
