"""Metrics of rules only, model only and combined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, precision_score, recall_score

from sevtriage.model.corpus import read_heldout_ids, read_labelled, split
from sevtriage.model.evaluation import ABSTAIN, evaluate, source_honesty, system_metrics
from sevtriage.triage import Triage
from sevtriage.types import Decision, Severity, Source

DATA = Path(__file__).resolve().parents[2] / "data"


def test_hand_computed_table() -> None:
    truth = [1, 1, 2, 3, 4, 4]
    pred = [1, 3, 2, ABSTAIN, 4, 3]
    auto = [True, True, False, False, True, False]
    m = system_metrics("x", truth, pred, auto, [0.9, 0.6, 0.5, 0.0, 0.8, 0.7])
    assert (m.n, m.decided) == (6, 5)
    assert m.accuracy == pytest.approx(3 / 6)
    assert m.critical_recall == pytest.approx(0.5)
    # 1 -> 3 is under-triage; the abstention is not; 4 -> 3 is over-triage.
    assert m.under_triage_rate == pytest.approx(1 / 6)
    assert m.over_triage_rate == pytest.approx(1 / 6)
    assert m.auto_coverage == pytest.approx(3 / 6)
    assert m.auto_precision == pytest.approx(2 / 3)
    # The 1 -> 3 went out without review: one of two critical requests lost, silently under-triaged.
    assert m.critical_caught == pytest.approx(1 / 2)
    assert m.silent_under_triage == pytest.approx(1 / 6)
    reviewed = system_metrics("y", truth, pred, [True, False, False, False, True, False])
    assert reviewed.critical_caught == 1.0 and reviewed.silent_under_triage == 0.0
    assert m.confusion == ((1, 0, 1, 0, 0), (0, 1, 0, 0, 0), (0, 0, 0, 0, 1), (0, 0, 1, 1, 0))
    by_class = {c.severity: c for c in m.per_class}
    assert (by_class[3].precision, by_class[3].recall, by_class[3].support) == (0.0, 0.0, 1)
    assert by_class[4].precision == 1.0 and by_class[4].recall == 0.5


def test_calibration_error() -> None:
    # Decisions at 0.75 confidence that are right 3 times in 4: perfectly calibrated.
    perfect = system_metrics("p", [1, 1, 1, 1], [1, 1, 1, 2], [True] * 4, [0.75] * 4)
    assert perfect.ece == pytest.approx(0.0)
    # Always sure, right half of the time: error 0.5.
    sure = system_metrics("s", [1, 2], [1, 1], [True] * 2, [1.0, 1.0])
    assert sure.ece == pytest.approx(0.5)
    assert sum(b.count for b in sure.reliability) == 2
    assert system_metrics("n", [1], [1], [True]).ece is None


def test_coverage_curve_starts_at_everything_decided() -> None:
    m = system_metrics("x", [1, 2, 3, 4], [1, 2, 3, 3], [True] * 4, [0.9, 0.8, 0.6, 0.4])
    first, last = m.coverage_curve[0], m.coverage_curve[-1]
    assert (first.threshold, first.coverage, first.precision) == (0.0, 1.0, 0.75)
    assert last.threshold == 1.0 and last.coverage == 0.0
    coverages = [p.coverage for p in m.coverage_curve]
    assert coverages == sorted(coverages, reverse=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 4)), min_size=1, max_size=80))
def test_per_class_scores_match_scikit_learn(pairs: list[tuple[int, int]]) -> None:
    truth = np.asarray([t for t, _ in pairs])
    pred = np.asarray([p for _, p in pairs])
    m = system_metrics("x", truth, pred, [False] * len(pairs))
    labels = [1, 2, 3, 4]
    kwargs = {"labels": labels, "average": None, "zero_division": 0}
    assert [c.precision for c in m.per_class] == pytest.approx(list(precision_score(truth, pred, **kwargs)))
    assert [c.recall for c in m.per_class] == pytest.approx(list(recall_score(truth, pred, **kwargs)))
    assert m.macro_f1 == pytest.approx(f1_score(truth, pred, labels=labels, average="macro", zero_division=0))
    assert m.under_triage_rate + m.over_triage_rate + m.accuracy + np.mean(pred == ABSTAIN) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def evaluation_slice() -> object:
    heldout = split(read_labelled(DATA), read_heldout_ids(DATA)).heldout
    return evaluate(Triage.load(engine="python"), heldout[::2])


def test_evaluate_three_systems_on_the_held_out_split(evaluation_slice: object) -> None:
    from sevtriage.model.evaluation import Evaluation

    assert isinstance(evaluation_slice, Evaluation)
    rules, model, combined = (evaluation_slice.system(n) for n in ("rules", "model", "combined"))
    assert rules is not None and model is not None and combined is not None
    assert rules.n == model.n == combined.n > 50
    # Rules abstain, the model and the combination always answer.
    assert rules.decided < rules.n and model.decided == combined.decided == combined.n
    assert rules.ece is None and model.ece is not None
    # The second opinion never lowers severity-1 recall against consulting the model only when unsure.
    first = evaluation_slice.system("rules-first")
    assert first is not None and first.n == combined.n
    assert combined.critical_recall >= first.critical_recall
    assert set(evaluation_slice.by_language) == {"cs", "en", "sk"}
    for item_id, true, predicted in evaluation_slice.under_triaged:
        assert predicted > true and item_id
    # Both sources decide some requests, and their counts add up to the combined system's.
    honesty = {h.source: h for h in evaluation_slice.honesty}
    assert set(honesty) == {"rules", "model"}
    assert sum(h.decisions for h in honesty.values()) == combined.decided
    other = evaluation_slice.other_authors
    assert other is not None and other.name == "model" and other.n >= 20


def test_source_honesty_by_hand() -> None:
    def decision(severity: int, source: Source, confidence: float, review: bool) -> Decision:
        return Decision(
            id="x",
            severity=Severity(severity),
            source=source,
            confidence=confidence,
            needs_review=review,
            review_reasons=(),
            matched_rules=(),
            model=None,
            plan=None,
            received_at=None,
            deadlines=None,
            rules_version="r",
            model_version=None,
        )

    decisions = [
        decision(1, "rules", 0.9, False),
        decision(2, "rules", 0.7, True),
        decision(3, "model", 0.8, False),
        decision(4, "model", 0.6, False),
    ]
    rules, model = source_honesty([1, 3, 3, 3], decisions)
    assert (rules.source, rules.decisions, rules.auto_labelled) == ("rules", 2, 1)
    assert rules.mean_confidence == pytest.approx(0.8) and rules.accuracy == pytest.approx(0.5)
    assert rules.auto_accuracy == pytest.approx(1.0)
    assert model.mean_confidence == pytest.approx(0.7) and model.accuracy == pytest.approx(0.5)
    assert model.auto_accuracy == pytest.approx(0.5)


def test_rule_examples_are_labelled_requests() -> None:
    from sevtriage.model.evaluation import rule_examples

    triage = Triage.load(engine="python")
    examples = rule_examples(triage)
    expected = [e for e in triage.rule_stage.book.all_examples() if e.expect is not None]
    assert [r.severity for r in examples] == [e.expect for e in expected]
    assert len({r.id for r in examples}) == len(examples)


def test_the_shipped_system_on_the_whole_held_out_split() -> None:
    """The gate behind the README's numbers: bundled rules + model on requests the model never saw."""
    heldout = split(read_labelled(DATA), read_heldout_ids(DATA)).heldout
    result = evaluate(Triage.load(engine="python"), heldout, other_authors=False)
    combined = result.system("combined")
    assert combined is not None and combined.n == len(heldout)
    assert combined.macro_f1 >= 0.85
    assert combined.critical_recall >= 0.9
    assert combined.under_triage_rate <= 0.05
    assert combined.auto_precision is not None and combined.auto_precision >= 0.93
