"""Review thresholds chosen on validation data for the card's targets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.model.thresholds import Targets, choose_thresholds
from sevtriage.types import ReviewThresholds


def one_hot(labels: list[int], confidence: list[float]) -> np.ndarray:
    proba = np.zeros((len(labels), 4))
    for row, (label, conf) in enumerate(zip(labels, confidence, strict=True)):
        proba[row] = (1 - conf) / 3
        proba[row, label - 1] = conf
    return proba


def test_threshold_is_the_lowest_confidence_that_meets_the_precision_target() -> None:
    # 20 predictions of class 3: the 10 most confident are right, then right/wrong alternate.
    conf = [0.99 - 0.02 * i for i in range(20)]
    truth = [3] * 10 + [3, 4] * 5
    targets = Targets(auto_precision=0.9, min_auto_support=5)
    chosen = choose_thresholds(truth, [3] * 20, one_hot([3] * 20, conf), targets)
    kept = [c >= chosen.auto_label[3] for c in conf]  # type: ignore[operator]
    precision = np.mean([t == 3 for t, k in zip(truth, kept, strict=True) if k])
    assert precision >= 0.9
    # One step lower would break the target.
    assert chosen.auto_label[3] == pytest.approx(conf[12])


def test_threshold_never_goes_below_the_confidence_floor() -> None:
    # Every decision is right, even the unsure ones: validation alone would allow any threshold.
    conf = [0.9 - 0.04 * i for i in range(20)]
    targets = Targets(min_auto_support=5, min_auto_confidence=0.5)
    chosen = choose_thresholds([2] * 20, [2] * 20, one_hot([2] * 20, conf), targets)
    assert chosen.auto_label[2] == pytest.approx(min(c for c in conf if c >= 0.5))


def test_class_with_too_few_predictions_is_always_reviewed() -> None:
    chosen = choose_thresholds([1, 1, 2], [1, 1, 2], one_hot([1, 1, 2], [0.9, 0.9, 0.9]), Targets(min_auto_support=10))
    assert chosen.auto_label == {1: None, 2: None, 3: None, 4: None}


def test_class_that_never_reaches_the_target_is_always_reviewed() -> None:
    truth = [4] * 20
    chosen = choose_thresholds(truth, [3] * 20, one_hot([3] * 20, [0.95] * 20), Targets(min_auto_support=5))
    assert chosen.auto_label[3] is None


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
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4), st.floats(0.25, 1.0)), min_size=30, max_size=120))
def test_auto_labelled_validation_decisions_meet_the_target(rows: list[tuple[int, int, float]]) -> None:
    truth = [t for t, _, _ in rows]
    pred = [p for _, p, _ in rows]
    conf = [c for _, _, c in rows]
    targets = Targets(auto_precision=0.8, min_auto_support=5)
    chosen = choose_thresholds(truth, pred, one_hot(pred, conf), targets)
    for label, threshold in chosen.auto_label.items():
        if threshold is None:
            continue
        kept = [t == p for t, p, c in rows if p == label and c >= threshold]
        assert len(kept) >= targets.min_auto_support
        assert np.mean(kept) >= targets.auto_precision


def test_round_trip_through_the_card_dict() -> None:
    original = ReviewThresholds(auto_label={1: 0.5, 2: None, 3: 0.75, 4: 0.3}, critical_alert=0.12)
    assert ReviewThresholds.from_dict(original.to_dict()) == original
    assert Targets.from_dict(Targets().to_dict()) == Targets()
