"""`Triage`: real rules, the shipped model and the SLA policy together."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sevtriage.errors import ConfigError
from sevtriage.model.corpus import read_heldout_ids, read_labelled, split
from sevtriage.model.evaluation import tickets_of
from sevtriage.rules.stage import RuleStage
from sevtriage.sla import SlaPolicy
from sevtriage.text import model_text
from sevtriage.triage import Triage
from sevtriage.types import REVIEW_NO_MODEL, Severity, Ticket

DATA = Path(__file__).resolve().parent.parent / "data"
ARRIVAL = datetime(2026, 11, 26, 9, 20, tzinfo=ZoneInfo("Europe/Bratislava"))


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load(engine="python")


@pytest.fixture(scope="module")
def tickets() -> list[Ticket]:
    heldout = split(read_labelled(DATA), read_heldout_ids(DATA)).heldout
    return tickets_of(heldout[:120])


def test_load_picks_up_the_bundled_model_and_policy(triage: Triage) -> None:
    assert triage.model is not None and triage.sla is not None
    assert triage.model_version == triage.model.card.model_version


def test_batch_equals_one_by_one(triage: Triage, tickets: list[Ticket]) -> None:
    batch = triage.classify_many(tickets[:40])
    assert [d.to_dict() for d in batch] == [triage.classify(t).to_dict() for t in tickets[:40]]


def test_texts_prepared_once_decide_as_each_stage_reading_its_own(triage: Triage, tickets: list[Ticket]) -> None:
    # Replies (whose rules text leaves the subject out) and quoted mail, where the rules' and the model's texts differ.
    odd = [
        Ticket("reply", "Re: App down", "Thanks, it works again.\n\n> The app is down for everyone", ARRIVAL),
        Ticket("fw", "Fw: Chrome 49", "-----Original Message-----\nNobody can log in on Android 7", ARRIVAL),
        Ticket("empty-reply", "Re: Výpadok", "", ARRIVAL, "premier"),
    ]
    batch = [*tickets[:30], *odd]
    assert triage.model is not None
    expected = []
    for ticket in batch:
        verdict = triage.rule_stage.evaluate_many([ticket])[0]
        opinion = triage.model.opinions([model_text(ticket.subject, ticket.body)])[0]
        expected.append(triage._decide(ticket, verdict, opinion).to_dict())
    assert [d.to_dict() for d in triage.classify_many(batch)] == expected


@pytest.mark.parametrize("second_opinion", [True, False])
def test_rules_decide_when_sure_and_the_model_otherwise(
    triage: Triage, tickets: list[Ticket], second_opinion: bool
) -> None:
    variant = Triage(triage.rule_stage, triage.model, triage.sla, second_opinion=second_opinion)
    decisions = variant.classify_many(tickets)
    verdicts = triage.rule_stage.evaluate_many(tickets)
    assert any(v.confident for v in verdicts) and not all(v.confident for v in verdicts)
    for decision, verdict in zip(decisions, verdicts, strict=True):
        if verdict.confident and decision.source == "model":
            # Escalated by a sure second opinion, pending review.
            assert second_opinion and decision.needs_review
            assert decision.severity is not None and verdict.severity is not None
            assert decision.severity < verdict.severity
        elif verdict.confident:
            assert (decision.source, decision.severity) == ("rules", verdict.severity)
            if second_opinion:
                assert decision.model is not None
                assert decision.needs_review == bool(decision.review_reasons)
            else:
                assert decision.model is None and triage.model is not None
                # Without the model to back them, rules less precise than the promise go to review.
                floor = triage.model.thresholds.rules_min_confidence
                assert decision.needs_review == (decision.confidence < floor)
        elif decision.model is not None and decision.model.familiarity and decision.model.familiarity.reasons:
            # Unfamiliar or vague text: reviewed, never suggested as 4, as 1 only when the text says so.
            assert decision.source == "model" and decision.needs_review
            assert decision.severity is not None and decision.severity != Severity.LOW
            if decision.severity == Severity.CRITICAL:
                said = decision.model.familiarity.says_critical
                assert said or any(m.severity == Severity.CRITICAL for m in verdict.matches)
        else:
            assert decision.source == "model" and decision.model is not None
            assert decision.severity is not None and decision.severity <= decision.model.severity
            if decision.severity != decision.model.severity:
                # Under review the suggestion moves to a more severe class the model finds at least as probable.
                assert decision.needs_review
                p = decision.model.probabilities
                assert p[int(decision.severity)] >= p[int(decision.model.severity)]
            assert decision.matched_rules == verdict.matches


def test_decisions_get_deadlines_with_the_default_plan(triage: Triage) -> None:
    ticket = Ticket(id="T-1", subject="Production down", body="Nobody can log in, error 503 for everyone.")
    late = Ticket(id="T-2", subject=ticket.subject, body=ticket.body, received_at=ARRIVAL)
    premier = Ticket(id="T-3", subject=ticket.subject, body=ticket.body, received_at=ARRIVAL, plan="premier")
    without, standard, with_plan = triage.classify_many([ticket, late, premier])
    assert triage.sla is not None
    assert without.deadlines is None and without.plan == triage.sla.default_plan
    assert standard.severity is not None and standard.plan == triage.sla.default_plan
    assert standard.deadlines == triage.sla.deadlines(standard.severity, triage.sla.default_plan, ARRIVAL)
    assert with_plan.plan == "premier"
    assert with_plan.deadlines == triage.sla.deadlines(with_plan.severity or 4, "premier", ARRIVAL)


def test_without_a_model_nothing_is_guessed(tickets: list[Ticket]) -> None:
    rules_only = Triage(RuleStage.load(engine="python"), None, SlaPolicy.load())
    for decision in rules_only.classify_many(tickets):
        if decision.source is None:
            assert decision.severity is None and decision.needs_review
            assert decision.review_reasons[-1] == REVIEW_NO_MODEL
        else:
            assert decision.source == "rules"
        assert decision.model is None and decision.model_version is None


def test_explanations_name_terms(triage: Triage) -> None:
    (decision,) = triage.classify_many([Ticket(id="q", subject="Prehľad dochádzky", body="stránka sa načítava pomaly")])
    assert decision.model is not None and decision.model.top_terms


def test_thread_safe(triage: Triage, tickets: list[Ticket]) -> None:
    expected = [d.to_dict() for d in triage.classify_many(tickets)]
    chunks = [tickets[i : i + 10] for i in range(0, len(tickets), 10)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(triage.classify_many, chunks * 3))
    flat = [d.to_dict() for chunk in results[: len(chunks)] for d in chunk]
    assert flat == expected
    assert [[d.to_dict() for d in r] for r in results[len(chunks) :]] == [
        [d.to_dict() for d in r] for r in results[: len(chunks)]
    ] * 2


def test_a_given_model_path_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"none\.joblib: model file not found; train one with: sevtriage train"):
        Triage.load(model=tmp_path / "none.joblib", engine="python")


def test_confidence_is_the_estimated_probability_that_the_decided_severity_is_right(
    triage: Triage, tickets: list[Ticket]
) -> None:
    decisions = triage.classify_many(tickets)
    sources = {d.source for d in decisions}
    assert sources == {"rules", "model"}
    for decision in decisions:
        assert decision.severity is not None and decision.model is not None
        if decision.source == "model":
            # The calibrated probability of the decided severity, also when review moved it off the label.
            assert decision.confidence == decision.model.probabilities[int(decision.severity)]
        else:
            # The measured precision of the rules that decided, whatever the model thinks.
            expected = triage.rule_precision.confidence(decision.matched_rules, decision.severity)
            assert decision.confidence == expected
            assert 0.5 < decision.confidence < 1.0


def test_rule_precision_comes_from_the_card_for_unchanged_rules(triage: Triage) -> None:
    assert triage.model is not None
    measured = triage.model.card.rule_precision
    # The file may change elsewhere (a scope section, a signal no rule reads): what counts is that every
    # measured rule is unchanged, by its fingerprint.
    assert measured is not None
    fingerprints = triage.rule_stage.book.fingerprints()
    assert {k: r.fingerprint for k, r in measured.rules.items()} == {k: fingerprints[k] for k in measured.rules}
    assert triage.rule_precision.rules.keys() == measured.rules.keys()
    assert set(measured.rules) <= {rule.id for rule in triage.rule_stage.book.rules}
