"""Review thresholds chosen on validation data for targets kept in the model card.

A model decision is auto-labelled (no specialist review) only when its calibrated probability
reaches the threshold of the predicted class. Each class gets the lowest threshold at which the
auto-labelled decisions of that class reach the target precision on validation data, never below
`min_auto_confidence`; a class that never reaches it gets no threshold (always reviewed). A separate
alert level sends a request to review when severity 1 is likely enough but was not chosen: missing
a critical request is the costliest mistake, so it is tuned for severity-1 recall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sevtriage.types import LABELS, MAX_CRITICAL_ALERT, ReviewThresholds


@dataclass(frozen=True, slots=True)
class Targets:
    """What the thresholds must achieve on validation data."""

    auto_precision: float = 0.95
    critical_recall: float = 0.95
    min_auto_support: int = 10
    # Never auto-label a decision the calibrated model finds less likely than not, whatever validation says:
    # validation data written by the same people who wrote the training data flatters the model.
    min_auto_confidence: float = 0.5
    min_critical_alert: float = 0.05
    max_critical_alert: float = MAX_CRITICAL_ALERT

    def __post_init__(self) -> None:
        for name in ("auto_precision", "critical_recall"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1]; got {value}")
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
        )


def choose_thresholds(
    y_true: npt.ArrayLike,
    predicted: npt.ArrayLike,
    probabilities: npt.ArrayLike,
    targets: Targets | None = None,
) -> ReviewThresholds:
    """Choose thresholds on validation data.

    Parameters
    ----------
    y_true, predicted:
        True and predicted severities (1-4), one per validation request.
    probabilities:
        Calibrated probabilities, shape (n, 4), columns in the order of severities 1-4.
    targets:
        Precision and recall targets; the defaults ask for 95% precision of auto-labelled decisions.
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
    auto = {label: _class_threshold(truth, pred, confidence, label, targets) for label in LABELS}
    alert = _critical_alert(truth, pred, proba[:, 0] if len(pred) else np.zeros(0), targets)
    return ReviewThresholds(auto_label=auto, critical_alert=alert)


def _class_threshold(
    truth: npt.NDArray[np.int64],
    pred: npt.NDArray[np.int64],
    confidence: npt.NDArray[np.float64],
    label: int,
    targets: Targets,
) -> float | None:
    mine = pred == label
    if int(mine.sum()) < targets.min_auto_support:
        return None
    conf = confidence[mine]
    correct = (truth[mine] == label).astype(np.float64)
    order = np.argsort(-conf, kind="stable")
    conf, correct = conf[order], correct[order]
    precision = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    # Lowest threshold whose auto-labelled set (everything at or above it) meets the target, with
    # enough decisions to trust the estimate; cut only between distinct confidence values.
    best: float | None = None
    for k in range(len(conf)):
        if conf[k] < targets.min_auto_confidence:
            break
        if k + 1 < len(conf) and conf[k + 1] == conf[k]:
            continue
        if k + 1 >= targets.min_auto_support and precision[k] >= targets.auto_precision:
            best = float(conf[k])
    return best


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
