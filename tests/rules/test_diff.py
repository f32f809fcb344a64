"""The diff core: `DiffCounter` adds up in batches what `build_diff` gives at once, and `evaluate_both` shares the
signal work only when both rule files read requests alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.resources import default_rules_path
from sevtriage.rules.diff import DiffCounter, build_diff, evaluate_both
from sevtriage.rules.report import build_report
from sevtriage.rules.rulebook import load_rulebook
from sevtriage.rules.stage import RuleStage, decide
from sevtriage.types import RuleMatch, RuleVerdict, Severity, Ticket

BOOK = load_rulebook(default_rules_path())
RULES = [(rule.id, rule.severity) for rule in BOOK.rules[:6]]
CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"


def _verdict(picked: list[int]) -> RuleVerdict:
    return decide([RuleMatch(RULES[i][0], RULES[i][1], "e") for i in sorted(set(picked))])


_rows = st.lists(
    st.tuples(
        st.lists(st.integers(0, len(RULES) - 1), max_size=3),
        st.lists(st.integers(0, len(RULES) - 1), max_size=3),
        st.one_of(st.none(), st.sampled_from(list(Severity))),
    ),
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(_rows, st.integers(0, 30))
def test_batches_add_up_to_the_whole_and_precision_matches_the_rules_report(
    rows: list[tuple[list[int], list[int], Severity | None]], cut: int
) -> None:
    ids = [f"r{i}" for i in range(len(rows))]
    old = [_verdict(o) for o, _, _ in rows]
    new = [_verdict(n) for _, n, _ in rows]
    labels = [label for _, _, label in rows]
    whole = build_diff(BOOK, BOOK, ids, old, new, labels)
    counter = DiffCounter(BOOK, BOOK)
    counter.add(ids[:cut], old[:cut], new[:cut], labels[:cut])
    counter.add(ids[cut:], old[cut:], new[cut:], labels[cut:])
    assert counter.result() == whole
    # The per-rule precision is the rules report's on the labelled rows (an independent count of the same thing).
    known = [i for i, label in enumerate(labels) if label is not None]
    report = build_report(BOOK, [new[i] for i in known], [labels[i] for i in known if labels[i] is not None])
    by_rule = {row.id: row.precision for row in report.rules}
    assert {d.id: d.new_precision for d in whole.rules} == by_rule
    sev1 = [i for i in known if labels[i] == Severity.CRITICAL]
    expected = sum(1 for i in sev1 if new[i].confident and new[i].severity == 1) / len(sev1) if sev1 else None
    assert whole.new_sev1_recall == expected


def _tickets(n: int) -> list[Ticket]:
    out = []
    for path in sorted(CORPUS.glob("*/part-0[12].jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            out.append(Ticket(id=row["id"], subject=row["subject"], body=row["body"]))
    return out[:n]


@pytest.mark.parametrize(
    ("old_text", "new_text", "alike"),
    [
        # A rule's severity: the signals are untouched, so the facts are found once for both files.
        ("  - id: serious-performance\n    severity: 2\n", "  - id: serious-performance\n    severity: 1\n", True),
        # Phrases of a signal: the files read requests differently, each finds its own facts.
        ("      en: [workaround, work around, as a workaround, ", "      en: [", False),
    ],
)
def test_evaluate_both_equals_evaluating_each_file_alone(
    tmp_path: Path, old_text: str, new_text: str, alike: bool
) -> None:
    source = default_rules_path().read_text(encoding="utf-8")
    assert source.count(old_text) == 1
    edited = tmp_path / "edited.yaml"
    edited.write_text(source.replace(old_text, new_text), encoding="utf-8")
    old, new = RuleStage.load(engine="python"), RuleStage.load(edited, engine="python")
    assert old.reads_like(new) is alike
    tickets = _tickets(400)
    both = evaluate_both(old, new, tickets)
    assert both == (old.evaluate_many(tickets), new.evaluate_many(tickets))
    assert both[0] != both[1]  # the edit changes something, so sharing could not hide behind equal outputs


def test_facts_must_be_one_per_ticket() -> None:
    stage = RuleStage.load(engine="python")
    with pytest.raises(ValueError, match="facts must be one per ticket; got 0 for 1"):
        stage.evaluate_many([Ticket(id="x", body="down")], facts=[])
