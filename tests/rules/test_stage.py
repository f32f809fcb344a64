"""The rule stage end to end: verdicts, evidence, context, threads and memory."""

from __future__ import annotations

import gc
import threading
from collections.abc import Sequence
from pathlib import Path

import psutil
import pytest

from sevtriage.rules.rulebook import Fact
from sevtriage.rules.stage import Engine, RuleStage, decide
from sevtriage.types import (
    REVIEW_NO_RULE,
    REVIEW_RULE_CONFLICT,
    REVIEW_WEAK_RULES,
    RuleMatch,
    RuleVerdict,
    Severity,
    Ticket,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"


def _match(rule_id: str, severity: int, strength: str = "strong") -> RuleMatch:
    return RuleMatch(rule_id, Severity(severity), "e", (), "strong" if strength == "strong" else "weak")


@pytest.mark.parametrize(
    ("matches", "severity", "reasons"),
    [
        ([], None, (REVIEW_NO_RULE,)),
        ([_match("a", 1)], Severity(1), ()),
        ([_match("a", 1), _match("b", 1, "weak")], Severity(1), ()),
        ([_match("a", 1), _match("b", 2)], None, (REVIEW_RULE_CONFLICT,)),
        ([_match("a", 1), _match("b", 2, "weak")], None, (REVIEW_RULE_CONFLICT,)),
        ([_match("a", 3, "weak")], None, (REVIEW_WEAK_RULES,)),
        ([_match("a", 3, "weak"), _match("b", 3, "weak")], None, (REVIEW_WEAK_RULES,)),
    ],
)
def test_decide(matches: list[RuleMatch], severity: Severity | None, reasons: tuple[str, ...]) -> None:
    verdict = decide(matches)
    assert verdict == RuleVerdict(tuple(matches), severity, severity is not None, reasons)


@pytest.fixture(scope="module", params=["python", "durable"])
def stage(request: pytest.FixtureRequest) -> RuleStage:
    if request.param == "durable":
        pytest.importorskip("durable")
    return RuleStage.load(engine=request.param)


def test_version_names_the_file_and_its_hash(stage: RuleStage) -> None:
    name, digest = stage.version.split("@")
    assert name == "severity.yaml" and len(digest) == 12 and int(digest, 16) >= 0


def test_bundled_examples_all_pass(stage: RuleStage) -> None:
    failed = [(r.example.line, r.problem) for r in stage.run_examples() if not r.passed]
    assert failed == []


@pytest.mark.parametrize(
    ("subject", "body", "extra", "expected"),
    [
        # one user vs everyone
        ("", "One employee cannot log in since the update.", {}, 3),
        ("", "Nobody can log in since 8:00, the whole company waits.", {}, 1),
        # environment as a field and in the text
        ("", "The app is down, nothing works.", {"environment": "staging"}, 3),
        ("", "The app is down, nothing works.", {"environment": "production"}, 1),
        ("", "Testovací server je nedostupný.", {}, 3),
        # "no data was lost" is not data loss
        ("", "After the import no data was lost.", {}, None),
        ("", "After the import data was lost.", {}, 1),
        # a workaround lowers 1 to 2
        ("", "Terminály nefungujú, nikto sa nemôže pípnuť.", {}, 1),
        ("", "Terminály nefungujú, dočasné riešenie je zapisovať príchody ručne na papier.", {}, 2),
        # shouting on a how-to question
        ("URGENT!!! SÚRNE!!!", "Ako môžem pridať nového zamestnanca?", {}, 4),
        # quoted history and signatures do not count
        ("Re: App down", "Thanks. How can I export the list?\n\n> The app is down, nobody can log in!", {}, 4),
        ("", "Where can I change the date format?\n\nBest regards,\nJan\nData Loss Prevention Ltd", {}, 4),
    ],
)
def test_context_changes_severity(
    stage: RuleStage, subject: str, body: str, extra: dict[str, str], expected: int | None
) -> None:
    verdict = stage.evaluate(Ticket(id="t", subject=subject, body=body, extra=extra))
    if expected is None:
        assert not verdict.confident and verdict.severity is None
    else:
        assert verdict.confident, verdict
        assert verdict.severity == Severity(expected)


def test_matches_carry_explanation_and_original_evidence(stage: RuleStage) -> None:
    verdict = stage.evaluate(Ticket(id="t", body="Dobrý deň, od rána sa NIKTO nemôže prihlásiť do Managry."))
    (match,) = verdict.matches
    assert match.id == "nobody-can-log-in" and match.severity == Severity(1) and match.strength == "strong"
    assert "nobody" in match.explanation
    assert set(match.evidence) == {"nemôže prihlásiť", "NIKTO"}


def test_conflicting_rules_abstain_with_all_matches(stage: RuleStage) -> None:
    verdict = stage.evaluate(Ticket(id="t", body="The app is a bit slow today. It would be nice to have a dark mode."))
    assert verdict.confident is False and verdict.severity is None
    assert [m.id for m in verdict.matches] == ["mild-slowness", "enhancement-suggestion"]
    assert verdict.reasons == (REVIEW_RULE_CONFLICT,)


def test_evaluate_many_equals_evaluate(stage: RuleStage) -> None:
    tickets = [
        Ticket(id=str(i), body=r.example.text, subject=r.example.subject) for i, r in enumerate(stage.run_examples())
    ]
    assert stage.evaluate_many(tickets) == [stage.evaluate(t) for t in tickets]


def test_empty_request_abstains(stage: RuleStage) -> None:
    assert stage.evaluate(Ticket(id="t")).reasons == (REVIEW_NO_RULE,)


def _tickets(stage: RuleStage, count: int) -> list[Ticket]:
    examples = list(stage.book.all_examples())
    out = []
    for i in range(count):
        ex = examples[i % len(examples)]
        out.append(Ticket(id=str(i), subject=ex.subject, body=f"{ex.text} #{i}", extra=dict(ex.fields)))
    return out


@pytest.mark.slow
def test_eight_threads_give_the_same_decisions_as_one_and_memory_does_not_grow() -> None:
    pytest.importorskip("durable")
    # No memo: every evaluation goes through durable-rules itself.
    stage = RuleStage.load(engine="durable", memo_size=0)
    tickets = _tickets(stage, 20_000)
    # The thread round uses the first 8,000 (1,000 per thread is plenty to interleave); the memory round all.
    threaded = tickets[:8_000]
    expected = [stage.evaluate(t) for t in threaded]

    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss
    results: list[list[RuleVerdict]] = [[] for _ in range(8)]

    def work(shard: int) -> None:
        results[shard] = [stage.evaluate(t) for t in threaded[shard::8]]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for shard in range(8):
        assert results[shard] == expected[shard::8]

    # A second full round: if the engine kept anything per request, the process would grow with it.
    results.clear()
    gc.collect()
    rss_mid = process.memory_info().rss
    for start in range(0, len(tickets), 1000):
        stage.evaluate_many(tickets[start : start + 1000])
    gc.collect()
    rss_after = process.memory_info().rss
    grown_mb = (rss_after - rss_mid) / 1e6
    assert grown_mb < 8, (
        f"process grew by {grown_mb:.1f} MB over 20,000 more requests (before: {rss_before / 1e6:.0f} MB)"
    )


class _CountingEngine:
    """Wraps the real engine and counts the facts it is asked about."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name
        self.asked = 0

    def match_many(self, facts: Sequence[Fact]) -> list[tuple[str, ...]]:
        self.asked += len(facts)
        return self.inner.match_many(facts)


@pytest.mark.parametrize("engine", ["durable", "python"])
def test_the_memo_asks_the_engine_once_per_fact_pattern_and_changes_nothing(engine: str) -> None:
    if engine == "durable":
        pytest.importorskip("durable")
    plain = RuleStage.load(engine=engine, memo_size=0)
    memo = RuleStage.load(engine=engine, memo_size=5)
    counting = _CountingEngine(memo.engine)
    memo._engine = counting
    tickets = _tickets(memo, 400)
    patterns = {tuple(sorted(memo.compiled.fact(f.signals, f.fields).items())) for f in map(memo.facts, tickets)}
    assert len(patterns) > 5  # more patterns than the memo holds, so eviction is exercised

    got = [v for start in range(0, 400, 50) for v in memo.evaluate_many(tickets[start : start + 50])]

    assert got == plain.evaluate_many(tickets)
    assert len(memo._memo) <= 5
    assert len(patterns) <= counting.asked < len(tickets)


_FIELD_RULES = """
signals:
  down:
    description: d
    phrases: {en: [app is down]}
  slow:
    description: s
    phrases: {en: [slow]}
rules:
  - id: down-in-production
    severity: 1
    explanation: e
    when: {all: [down, {field: environment, in: [production]}]}
    examples: [{text: x, expect: abstain}]
  - id: down-elsewhere
    severity: 3
    explanation: e
    when: {all: [down], none: [{field: environment, in: [production]}]}
    examples: [{text: x, expect: abstain}]
  - id: slow
    severity: 4
    explanation: e
    when: {all: [slow]}
    examples: [{text: x, expect: abstain}]
"""


def test_the_memo_tells_apart_requests_that_differ_only_in_a_field_or_in_one_signal(tmp_path: Path) -> None:
    # The memo key is the set of signals and the field values: two requests share an answer only when the engine
    # would see the same fact (a rule here reads the environment itself, not through a signal).
    path = tmp_path / "fields.yaml"
    path.write_text(_FIELD_RULES, encoding="utf-8")
    memo, plain = RuleStage.load(path, engine="python"), RuleStage.load(path, engine="python", memo_size=0)
    texts = ["The app is down.", "The app is down and slow.", "slow", ""]
    environments = [None, "production", "test", "Production ", "staging"]
    tickets = [
        Ticket(id=f"{i}-{j}", subject="", body=text, extra={} if env is None else {"environment": env})
        for i, text in enumerate(texts)
        for j, env in enumerate(environments)
    ]
    expected = plain.evaluate_many(tickets)
    assert memo.evaluate_many(tickets) == expected  # the memo filled in one batch
    assert memo.evaluate_many(tickets[::-1]) == expected[::-1]  # and answered from it
    assert {v.severity for v in expected[:5]} == {1, 3}  # the same text, another environment: another verdict
    assert len({tuple(m.id for m in v.matches) for v in expected}) == 6
