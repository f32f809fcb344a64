"""Metrics of the ways to decide: rules only, model only, and combined (what `Triage` does).

With the model's second opinion on (the default), "rules-first" is also measured: the same rules
and model with the model consulted only where the rules are unsure.

Pure computation over labelled requests; the report module draws and writes the results.
A system may abstain (rules that do not know): an abstention counts as a miss for accuracy, recall
and macro-F1, and is not an under-triage (the request goes to a person, not to the wrong queue).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sevtriage.combiner import combine
from sevtriage.model.corpus import LabelledRequest
from sevtriage.text import model_text
from sevtriage.triage import Triage
from sevtriage.types import LABELS, REVIEW_TOO_VAGUE, REVIEW_UNFAMILIAR, Decision, RuleVerdict, Ticket

if TYPE_CHECKING:
    from sevtriage.model.text_model import TrainedModel

ABSTAIN = 0
ECE_BINS = 10


@dataclass(frozen=True, slots=True)
class ClassScores:
    """Precision, recall and F1 of one severity."""

    severity: int
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """One bin of a reliability diagram: mean confidence vs accuracy of the decisions inside it."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


@dataclass(frozen=True, slots=True)
class CoveragePoint:
    """Share of requests decided without review, and their precision, at one confidence threshold."""

    threshold: float
    coverage: float
    precision: float


@dataclass(frozen=True, slots=True)
class SystemMetrics:
    """Everything measured for one system on one labelled set."""

    name: str
    n: int
    decided: int
    accuracy: float
    macro_f1: float
    per_class: tuple[ClassScores, ...]
    # Rows: true severity 1-4; columns: predicted 1-4, then "abstained".
    confusion: tuple[tuple[int, ...], ...]
    critical_recall: float
    under_triage_rate: float
    over_triage_rate: float
    auto_coverage: float
    auto_precision: float | None
    # Severity-1 requests chosen as 1 or sent to a specialist (review or abstention): not lost in a milder queue.
    critical_caught: float
    # Share of all requests auto-labelled (no review) milder than the truth: under-triage nobody will see.
    silent_under_triage: float
    ece: float | None
    reliability: tuple[ReliabilityBin, ...]
    coverage_curve: tuple[CoveragePoint, ...]

    def summary(self) -> dict[str, Any]:
        """The headline numbers, rounded (for the model card and the CLI)."""
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "critical_recall": round(self.critical_recall, 4),
            "under_triage_rate": round(self.under_triage_rate, 4),
            "auto_coverage": round(self.auto_coverage, 4),
            "auto_precision": round(self.auto_precision, 4) if self.auto_precision is not None else None,
            "critical_caught": round(self.critical_caught, 4),
            "silent_under_triage": round(self.silent_under_triage, 4),
            "ece": round(self.ece, 4) if self.ece is not None else None,
        }


@dataclass(frozen=True, slots=True)
class ReasonCatch:
    """What one familiarity reason did on a labelled set (combined system)."""

    reason: str
    caught: int
    # Of those, how many the system would have auto-labelled without the check, and how many of those were wrong.
    would_auto: int
    would_auto_wrong: int
    # Severity-1 requests among those caught, and how many of them the suggestion still calls 1.
    critical: int
    critical_suggested: int


@dataclass(frozen=True, slots=True)
class FamiliarityEffect:
    """The `unfamiliar` and `too_vague` reasons on a labelled set: how many each catches, how precise the rest are."""

    n: int
    reasons: tuple[ReasonCatch, ...]
    auto_coverage_before: float
    auto_precision_before: float | None
    auto_coverage_after: float
    auto_precision_after: float | None


@dataclass(frozen=True, slots=True)
class SourceHonesty:
    """The combined system's decisions by one source: mean stated `confidence` against the share right."""

    source: str
    decisions: int
    mean_confidence: float
    accuracy: float
    auto_labelled: int
    auto_accuracy: float | None


def source_honesty(truth: npt.ArrayLike, decisions: Sequence[Decision]) -> tuple[SourceHonesty, ...]:
    """Per source (rules, model): how sure the decisions said they were and how often they were right."""
    y = np.asarray(truth, dtype=np.int64)
    source = np.asarray([d.source or "" for d in decisions])
    pred = np.asarray([int(d.severity) if d.severity else ABSTAIN for d in decisions], dtype=np.int64)
    conf = np.asarray([d.confidence for d in decisions], dtype=np.float64)
    auto = np.asarray([not d.needs_review for d in decisions], dtype=bool)
    out = []
    for name in ("rules", "model"):
        mine = source == name
        if not mine.any():
            continue
        right = pred[mine] == y[mine]
        kept = auto[mine]
        out.append(
            SourceHonesty(
                name,
                int(mine.sum()),
                float(conf[mine].mean()),
                float(right.mean()),
                int(kept.sum()),
                float(right[kept].mean()) if kept.any() else None,
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Rules only, model only (None without a model) and combined, on the same requests."""

    systems: tuple[SystemMetrics, ...]
    by_language: dict[str, dict[str, float]]
    under_triaged: tuple[tuple[str, int, int], ...]
    rules_version: str
    model_version: str | None
    # The model alone on the rule file's examples: text written by other people than the corpus.
    other_authors: SystemMetrics | None = None
    # Whether `confidence` means what it says: the combined decisions per source, stated against observed.
    honesty: tuple[SourceHonesty, ...] = ()
    # What the familiarity check (`unfamiliar`, `too_vague`) changed in the combined system.
    familiarity: FamiliarityEffect | None = None

    def system(self, name: str) -> SystemMetrics | None:
        return next((s for s in self.systems if s.name == name), None)


def system_metrics(
    name: str,
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    auto: npt.ArrayLike,
    confidence: npt.ArrayLike | None = None,
) -> SystemMetrics:
    """Metrics of one system.

    Parameters
    ----------
    y_true, y_pred:
        Severities 1-4; a prediction of 0 means the system abstained.
    auto:
        True where the decision needs no review (auto-labelled).
    confidence:
        The system's probability for its answer, for calibration and the coverage curve (optional).
    """
    truth = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(y_pred, dtype=np.int64)
    auto_mask = np.asarray(auto, dtype=bool)
    n = len(truth)
    per_class = tuple(_class_scores(truth, pred, label) for label in LABELS)
    confusion = tuple(tuple(int(np.sum((truth == t) & (pred == p))) for p in (*LABELS, ABSTAIN)) for t in LABELS)
    decided = pred != ABSTAIN
    critical = truth == 1
    auto_precision = float(np.mean(truth[auto_mask] == pred[auto_mask])) if auto_mask.any() else None
    ece: float | None = None
    reliability: tuple[ReliabilityBin, ...] = ()
    curve: tuple[CoveragePoint, ...] = ()
    if confidence is not None and n:
        conf = np.asarray(confidence, dtype=np.float64)
        correct = truth == pred
        ece, reliability = _calibration(conf[decided], correct[decided])
        curve = _coverage_curve(conf, correct, decided)
    return SystemMetrics(
        name=name,
        n=n,
        decided=int(decided.sum()),
        accuracy=float(np.mean(truth == pred)) if n else 0.0,
        macro_f1=float(np.mean([c.f1 for c in per_class])),
        per_class=per_class,
        confusion=confusion,
        critical_recall=float(np.mean(pred[critical] == 1)) if critical.any() else 0.0,
        # Severity numbers grow as severity falls: a larger predicted number is a milder queue.
        under_triage_rate=float(np.mean(decided & (pred > truth))) if n else 0.0,
        over_triage_rate=float(np.mean(decided & (pred < truth))) if n else 0.0,
        auto_coverage=float(np.mean(auto_mask)) if n else 0.0,
        auto_precision=auto_precision,
        critical_caught=float(np.mean((pred[critical] == 1) | ~auto_mask[critical])) if critical.any() else 0.0,
        silent_under_triage=float(np.mean(auto_mask & decided & (pred > truth))) if n else 0.0,
        ece=ece,
        reliability=reliability,
        coverage_curve=curve,
    )


def _class_scores(truth: npt.NDArray[np.int64], pred: npt.NDArray[np.int64], label: int) -> ClassScores:
    tp = int(np.sum((pred == label) & (truth == label)))
    predicted = int(np.sum(pred == label))
    support = int(np.sum(truth == label))
    precision = tp / predicted if predicted else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ClassScores(label, precision, recall, f1, support)


def _calibration(
    confidence: npt.NDArray[np.float64], correct: npt.NDArray[np.bool_]
) -> tuple[float | None, tuple[ReliabilityBin, ...]]:
    """Expected calibration error over equal-width bins of the top-label confidence (Guo et al., 2017)."""
    if len(confidence) == 0:
        return None, ()
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    # The last bin is closed so that confidence 1.0 (rules) lands in it.
    index = np.clip(np.digitize(confidence, edges[1:-1], right=False), 0, ECE_BINS - 1)
    bins: list[ReliabilityBin] = []
    ece = 0.0
    for b in range(ECE_BINS):
        inside = index == b
        count = int(inside.sum())
        if not count:
            bins.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), 0, 0.0, 0.0))
            continue
        conf = float(confidence[inside].mean())
        acc = float(correct[inside].mean())
        ece += abs(acc - conf) * count / len(confidence)
        bins.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), count, conf, acc))
    return ece, tuple(bins)


def _coverage_curve(
    confidence: npt.NDArray[np.float64], correct: npt.NDArray[np.bool_], decided: npt.NDArray[np.bool_]
) -> tuple[CoveragePoint, ...]:
    n = len(confidence)
    points = []
    for threshold in np.linspace(0.0, 1.0, 41):
        kept = decided & (confidence >= threshold)
        if not kept.any():
            points.append(CoveragePoint(float(threshold), 0.0, 1.0))
            continue
        points.append(CoveragePoint(float(threshold), float(kept.sum() / n), float(correct[kept].mean())))
    return tuple(points)


# -- evaluating the three systems ---------------------------------------------------------------------


def tickets_of(records: Sequence[LabelledRequest]) -> list[Ticket]:
    """Labelled requests as tickets (no arrival time: evaluation is about severity)."""
    return [Ticket(id=r.id, subject=r.subject, body=r.body) for r in records]


def evaluate(triage: Triage, records: Sequence[LabelledRequest], *, other_authors: bool = True) -> Evaluation:
    """Rules only, model only and combined on the same labelled requests.

    With `other_authors`, the model alone is also measured on the rule file's examples.
    """
    tickets = tickets_of(records)
    truth = np.asarray([int(r.severity) for r in records], dtype=np.int64)
    verdicts = triage.rule_stage.evaluate_many(tickets)
    rules_pred = np.asarray(
        [int(v.severity) if v.confident and v.severity is not None else ABSTAIN for v in verdicts], dtype=np.int64
    )
    systems = [system_metrics("rules", truth, rules_pred, rules_pred != ABSTAIN, None)]
    if triage.model is not None:
        systems.append(model_only_metrics(triage.model, records))
    if triage.model is not None and triage.second_opinion:
        # What the second opinion adds: the same parts, the model only where the rules are unsure.
        first = Triage(triage.rule_stage, triage.model, triage.sla, second_opinion=False)
        systems.append(_decision_metrics("rules-first", truth, first.classify_many(tickets)))
    decisions = triage.classify_many(tickets)
    combined_pred = np.asarray([int(d.severity) if d.severity else ABSTAIN for d in decisions], dtype=np.int64)
    systems.append(_decision_metrics("combined", truth, decisions))
    languages = sorted({r.language or "?" for r in records})
    by_language: dict[str, dict[str, float]] = {}
    for language in languages:
        mask = np.asarray([(r.language or "?") == language for r in records])
        part = system_metrics("combined", truth[mask], combined_pred[mask], [False] * int(mask.sum()))
        by_language[language] = {
            "n": float(mask.sum()),
            "accuracy": part.accuracy,
            "macro_f1": part.macro_f1,
            "critical_recall": part.critical_recall,
        }
    under = tuple(
        (r.id, int(r.severity), int(p))
        for r, p in zip(records, combined_pred, strict=True)
        if p != ABSTAIN and p > int(r.severity)
    )
    outside = None
    if other_authors and triage.model is not None:
        examples = rule_examples(triage)
        outside = model_only_metrics(triage.model, examples) if examples else None
    effect = None
    if triage.model is not None and triage.model.familiarity is not None and triage.familiarity:
        unchecked = Triage(
            triage.rule_stage, triage.model, triage.sla, second_opinion=triage.second_opinion, familiarity=False
        )
        effect = familiarity_effect(truth, decisions, unchecked.classify_many(tickets))
    return Evaluation(
        tuple(systems),
        by_language,
        under,
        triage.rules_version,
        triage.model_version,
        outside,
        honesty=source_honesty(truth, decisions),
        familiarity=effect,
    )


def familiarity_effect(
    truth: npt.NDArray[np.int64], checked: Sequence[Decision], unchecked: Sequence[Decision]
) -> FamiliarityEffect:
    """Compare the same decisions with and without the familiarity check."""
    auto_before = np.asarray([not d.needs_review for d in unchecked], dtype=bool)
    auto_after = np.asarray([not d.needs_review for d in checked], dtype=bool)
    before = np.asarray([int(d.severity) if d.severity else ABSTAIN for d in unchecked], dtype=np.int64)
    after = np.asarray([int(d.severity) if d.severity else ABSTAIN for d in checked], dtype=np.int64)
    catches = []
    for reason in (REVIEW_UNFAMILIAR, REVIEW_TOO_VAGUE, "either"):
        wanted = {REVIEW_UNFAMILIAR, REVIEW_TOO_VAGUE} if reason == "either" else {reason}
        caught = np.asarray([bool(wanted & set(d.review_reasons)) for d in checked], dtype=bool)
        critical = caught & (truth == 1)
        catches.append(
            ReasonCatch(
                reason=reason,
                caught=int(caught.sum()),
                would_auto=int((caught & auto_before).sum()),
                would_auto_wrong=int((caught & auto_before & (before != truth)).sum()),
                critical=int(critical.sum()),
                critical_suggested=int((critical & (after == 1)).sum()),
            )
        )
    n = len(truth)
    return FamiliarityEffect(
        n=n,
        reasons=tuple(catches),
        auto_coverage_before=float(auto_before.mean()) if n else 0.0,
        auto_precision_before=float(np.mean(before[auto_before] == truth[auto_before])) if auto_before.any() else None,
        auto_coverage_after=float(auto_after.mean()) if n else 0.0,
        auto_precision_after=float(np.mean(after[auto_after] == truth[auto_after])) if auto_after.any() else None,
    )


def rule_examples(triage: Triage) -> list[LabelledRequest]:
    """The rule file's examples that expect a severity, as labelled requests.

    They were written by someone other than the corpus authors, for another purpose: a small check
    of how the model does on text whose style it has not learned. (The rules pass them by design,
    so only the model-only numbers on them mean anything.)
    """
    out: list[LabelledRequest] = []
    for example in triage.rule_stage.book.all_examples():
        if example.expect is not None:
            out.append(
                LabelledRequest(
                    id=f"{example.rule_id or 'example'}@{example.line}",
                    subject=example.subject,
                    body=example.text,
                    severity=example.expect,
                    origin=f"{triage.rule_stage.version}:{example.line}",
                )
            )
    return out


def _decision_metrics(name: str, truth: npt.NDArray[np.int64], decisions: Sequence[Decision]) -> SystemMetrics:
    return system_metrics(
        name,
        truth,
        [int(d.severity) if d.severity else ABSTAIN for d in decisions],
        [not d.needs_review for d in decisions],
        [d.confidence for d in decisions],
    )


def model_only_metrics(model: TrainedModel, records: Sequence[LabelledRequest]) -> SystemMetrics:
    """The model on every request, routed to review by the card's thresholds as if no rule had matched."""

    truth = np.asarray([int(r.severity) for r in records], dtype=np.int64)
    opinions = model.opinions([model_text(r.subject, r.body) for r in records], top_k=0)
    nothing = RuleVerdict(matches=(), severity=None, confident=False, reasons=())
    combined = [combine(nothing, o, model.thresholds) for o in opinions]
    return system_metrics(
        "model",
        truth,
        [int(o.severity) for o in opinions],
        [not c.needs_review for c in combined],
        [c.confidence for c in combined],
    )
