"""Review thresholds with a stated guarantee, chosen on out-of-fold predictions.

A model decision is auto-labelled (no specialist review) only when its calibrated probability reaches
the threshold of the class it chose. Each class's threshold is the lowest candidate at which a one-sided
Clopper-Pearson lower confidence bound (Clopper and Pearson, 1934, Biometrika 26(4)) of the precision of
the auto-labelled out-of-fold decisions reaches the target: with probability at least `confidence_level`
the class's auto-labels are at least `auto_precision` right on data like the validation data.

Many candidate thresholds are tried, so the search follows "Learn then Test" (Angelopoulos, Bates, Candès,
Jordan and Lei, 2021, "Learn then Test: Calibrating Predictive Algorithms to Achieve Risk Control",
arXiv:2110.01052): each candidate is a hypothesis "precision below the target", the candidates are tested
in a fixed sequence from the strictest threshold down with the exact binomial test (equivalent to the
Clopper-Pearson bound), and the search stops at the first one that cannot be rejected. Fixed-sequence
testing, one of the family-wise error controlling procedures LTT uses, needs no split of the error level
between the candidates. The order is fixed before any label is read: the candidate grid is fixed, and the
leading candidates that hold too few decisions (known from the confidences alone, not from the labels)
are left out, so the test begins where it has power (`min_auto_support`). The guarantee is per class; a
class without enough evidence (too few decisions, or no candidate passes) is never auto-labelled.

A separate alert level sends a request to review when severity 1 is likely enough but was not chosen:
missing a critical request is the costliest mistake, so it is tuned for severity-1 recall.

The guarantee is only as good as the validation data's likeness to what comes next; `text_model` fits
the calibrator and chooses these thresholds on folds split by corpus part (writer and batch), not by
random rows, so that the out-of-fold predictions see wording their fold never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sevtriage.types import LABELS, MAX_CRITICAL_ALERT, ReviewThresholds

# Candidate thresholds, strictest first (the fixed sequence of the search). Fixed in advance, as LTT asks;
# fine steps near 1 because calibrated probabilities of a confident linear model crowd there.
CANDIDATES: tuple[float, ...] = (
    0.9999,
    0.9995,
    0.999,
    0.998,
    0.995,
    *(round(0.99 - 0.01 * i, 2) for i in range(99)),
)


@dataclass(frozen=True, slots=True)
class Targets:
    """What the thresholds must achieve on validation data, and how sure we must be of it."""

    auto_precision: float = 0.95
    critical_recall: float = 0.95
    # The search begins at the strictest candidate with at least this many decisions (counted from the
    # confidences, not the labels). Power, not luck: with 100 decisions a class that is truly 99% right
    # passes the first test with probability 0.74 (at most one mistake), with 59 (the fewest that can pass
    # at all) only 0.55 (no mistake), and a failed first test ends the search for good.
    min_auto_support: int = 100
    # Never auto-label a decision the calibrated model finds less likely than not, whatever validation says.
    min_auto_confidence: float = 0.5
    min_critical_alert: float = 0.05
    max_critical_alert: float = MAX_CRITICAL_ALERT
    # Level of the one-sided Clopper-Pearson lower bound that must reach `auto_precision`.
    confidence_level: float = 0.95

    def __post_init__(self) -> None:
        for name in ("auto_precision", "critical_recall"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1]; got {value}")
        if not 0 < self.confidence_level < 1:
            raise ValueError(f"confidence_level must be in (0, 1); got {self.confidence_level}")
        if not 0 <= self.min_auto_confidence <= 1:
            raise ValueError(f"min_auto_confidence must be in [0, 1]; got {self.min_auto_confidence}")
        if not 0 <= self.min_critical_alert <= self.max_critical_alert <= 1:
            raise ValueError(
                "critical alert bounds must satisfy 0 <= min_critical_alert <= max_critical_alert <= 1; "
                f"got {self.min_critical_alert} and {self.max_critical_alert}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "auto_precision": self.auto_precision,
            "confidence_level": self.confidence_level,
            "critical_recall": self.critical_recall,
            "min_auto_support": self.min_auto_support,
            "min_auto_confidence": self.min_auto_confidence,
            "min_critical_alert": self.min_critical_alert,
            "max_critical_alert": self.max_critical_alert,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Targets:
        return cls(
            auto_precision=float(data["auto_precision"]),
            critical_recall=float(data["critical_recall"]),
            min_auto_support=int(data["min_auto_support"]),
            min_auto_confidence=float(data.get("min_auto_confidence", 0.0)),
            min_critical_alert=float(data["min_critical_alert"]),
            max_critical_alert=float(data["max_critical_alert"]),
            confidence_level=float(data.get("confidence_level", 0.95)),
        )


@dataclass(frozen=True, slots=True)
class ClassEvidence:
    """What the search found for one class: the threshold (None: always reviewed) and its evidence.

    `decisions` and `correct` count the out-of-fold decisions of the class at or above the threshold (at the
    first candidate tested when no threshold passed); `lower_bound` is their Clopper-Pearson lower bound.
    """

    severity: int
    threshold: float | None
    decisions: int
    correct: int
    lower_bound: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": None if self.threshold is None else round(self.threshold, 6),
            "decisions": self.decisions,
            "correct": self.correct,
            "lower_bound": round(self.lower_bound, 4),
        }


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """The thresholds and, per class, the evidence behind them."""

    thresholds: ReviewThresholds
    evidence: tuple[ClassEvidence, ...]


def precision_lower_bound(correct: npt.ArrayLike, n: npt.ArrayLike, level: float = 0.95) -> npt.NDArray[np.float64]:
    """One-sided Clopper-Pearson lower bound of a binomial proportion (0 where nothing is right).

    The exact bound is the `1 - level` quantile of Beta(correct, n - correct + 1) (Clopper and Pearson, 1934).
    """
    from scipy.stats import beta

    k = np.asarray(correct, dtype=np.float64)
    total = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = beta.ppf(1.0 - level, np.maximum(k, 1e-12), np.maximum(total - k + 1.0, 1e-12))
    return np.asarray(np.where(k > 0, bound, 0.0), dtype=np.float64)


def choose_thresholds(
    y_true: npt.ArrayLike,
    predicted: npt.ArrayLike,
    probabilities: npt.ArrayLike,
    targets: Targets | None = None,
) -> ReviewThresholds:
    """Thresholds chosen on validation data (see `select_thresholds` for the evidence too)."""
    return select_thresholds(y_true, predicted, probabilities, targets).thresholds


def select_thresholds(
    y_true: npt.ArrayLike,
    predicted: npt.ArrayLike,
    probabilities: npt.ArrayLike,
    targets: Targets | None = None,
) -> ThresholdChoice:
    """Choose thresholds on validation (out-of-fold) data by fixed-sequence testing.

    Parameters
    ----------
    y_true, predicted:
        True and predicted severities (1-4), one per validation request.
    probabilities:
        Calibrated probabilities, shape (n, 4), columns in the order of severities 1-4.
    targets:
        Precision target, bound level and recall target; the defaults ask for a 95% lower bound of 95%.
    """
    targets = targets or Targets()
    truth = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(predicted, dtype=np.int64)
    proba = np.asarray(probabilities, dtype=np.float64)
    if proba.shape != (len(truth), len(LABELS)) or len(pred) != len(truth):
        raise ValueError(
            f"probabilities must have shape (n, {len(LABELS)}) and predictions n entries; got {proba.shape} "
            f"and {len(pred)} for n={len(truth)}"
        )
    confidence = proba[np.arange(len(pred)), pred - 1] if len(pred) else np.zeros(0)
    evidence = tuple(_class_threshold(truth, pred, confidence, label, targets) for label in LABELS)
    alert = _critical_alert(truth, pred, proba[:, 0] if len(pred) else np.zeros(0), targets)
    auto = {e.severity: e.threshold for e in evidence}
    return ThresholdChoice(ReviewThresholds(auto_label=auto, critical_alert=alert), evidence)


def _class_threshold(
    truth: npt.NDArray[np.int64],
    pred: npt.NDArray[np.int64],
    confidence: npt.NDArray[np.float64],
    label: int,
    targets: Targets,
) -> ClassEvidence:
    mine = pred == label
    conf = confidence[mine]
    right = truth[mine] == label
    grid = np.asarray([c for c in CANDIDATES if c >= targets.min_auto_confidence], dtype=np.float64)
    # Decisions auto-labelled at each candidate, and how many of them are right (vectorised over the grid).
    kept = conf[None, :] >= grid[:, None]
    n = kept.sum(axis=1)
    k = (kept & right[None, :]).sum(axis=1)
    bound = precision_lower_bound(k, n, targets.confidence_level)
    # Fewest decisions whose bound could reach the target if all were right: (1 - level)^(1/n) >= target.
    # Candidates below that are skipped from the confidences alone, never from the labels.
    alpha = 1.0 - targets.confidence_level
    powerless = int(np.ceil(np.log(alpha) / np.log(targets.auto_precision))) if targets.auto_precision < 1 else 0
    testable = np.flatnonzero(n >= max(targets.min_auto_support, powerless, 1))
    if not len(testable) or targets.auto_precision >= 1:
        if not len(grid):
            return ClassEvidence(label, None, 0, 0, 0.0)
        # Never tested: the evidence shown is everything down to the confidence floor.
        return ClassEvidence(label, None, int(n[-1]), int(k[-1]), float(bound[-1]))
    chosen: int | None = None
    for index in testable:
        if bound[index] < targets.auto_precision:
            break  # fixed sequence: stop at the first hypothesis that cannot be rejected
        chosen = int(index)
    at = chosen if chosen is not None else int(testable[0])
    threshold = float(grid[chosen]) if chosen is not None else None
    return ClassEvidence(label, threshold, int(n[at]), int(k[at]), float(bound[at]))


def _critical_alert(
    truth: npt.NDArray[np.int64],
    pred: npt.NDArray[np.int64],
    p_critical: npt.NDArray[np.float64],
    targets: Targets,
) -> float:
    critical = truth == 1
    missed = np.sort(p_critical[critical & (pred != 1)])[::-1]
    caught_by_label = int((critical & (pred == 1)).sum())
    needed = int(np.ceil(targets.critical_recall * int(critical.sum()))) - caught_by_label
    # Severity-1 requests the label missed; the alert must catch enough of them to reach the recall
    # target. It never rises above the cap: "meaningful probability" of a critical request is reviewed
    # even when validation data had no such miss.
    level = float(missed[min(needed, len(missed)) - 1]) if needed > 0 and len(missed) else targets.max_critical_alert
    return min(targets.max_critical_alert, max(targets.min_critical_alert, level))
