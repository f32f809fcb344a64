"""Precision and recall of `scope` / `missing_details` against hand labels: parsing the labels, scoring."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevtriage.errors import InputError
from sevtriage.rules.scope import ScopeResult
from sevtriage.rules.scope_eval import ITEMS, DetailsLabel, parse_details_labels, score_details
from sevtriage.types import DETAIL_ITEMS, SCOPE_KINDS, ScopeNote


def note(kind: str) -> ScopeNote:
    return ScopeNote(kind=kind, evidence=(), detail="", policy="")


def label(request_id: str, missing: set[str], scope: frozenset[str] = frozenset(), round_: int = 1) -> DetailsLabel:
    return DetailsLabel(request_id, round_, frozenset(missing), scope)


def test_labels_parse_with_rounds_and_defaults() -> None:
    lines = [
        json.dumps({"id": "A", "round": 2, "missing_details": ["workaround"], "scope": ["third_party"], "note": "x"}),
        "",
        json.dumps({"id": "B"}),
    ]
    assert parse_details_labels(lines, "labels.jsonl") == [
        label("A", {"workaround"}, frozenset({"third_party"}), 2),
        label("B", set()),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "labels.jsonl:2: not valid JSON"),
        ("[1, 2]", "labels.jsonl:2: each line must be a JSON object"),
        ('{"missing_details": []}', "labels.jsonl:2: 'id' must be a non-empty string"),
        ('{"id": "A"}', "labels.jsonl:2: id 'A' is labelled twice"),
        ('{"id": "C", "round": 0}', "labels.jsonl:2: 'round' must be a positive whole number; got 0"),
        ('{"id": "C", "missing_details": "workaround"}', "'missing_details' must be a list of strings"),
        ('{"id": "C", "missing_details": ["os_version"]}', "'missing_details' items must be some of {browser_version"),
        ('{"id": "C", "scope": ["workaround"]}', "got 'workaround'"),
    ],
)
def test_a_bad_line_names_file_line_and_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(InputError, match=r"^labels\.jsonl:2: ") as error:
        parse_details_labels(['{"id": "A"}', line], "labels.jsonl")
    assert message in str(error.value)


def test_scores_count_agreement_per_item() -> None:
    labels = [
        label("A", {"workaround", "steps_taken"}),
        label("B", {"workaround"}, frozenset({"third_party"})),
        label("C", set()),
        label("not-read", {"recent_changes"}),  # absent from what was read: not counted
    ]
    found = {
        "A": ScopeResult((), ("workaround",)),
        "B": ScopeResult((note("third_party"), note("uncertified_environment")), ("steps_taken",)),
        "C": ScopeResult((), ("workaround",)),
    }
    scores = {s.item: s for s in score_details(labels, found)}
    assert (scores["workaround"].labelled, scores["workaround"].flagged, scores["workaround"].agreed) == (2, 2, 1)
    assert scores["workaround"].precision == 0.5 and scores["workaround"].recall == 0.5
    assert (scores["steps_taken"].precision, scores["steps_taken"].recall) == (0.0, 0.0)
    assert (scores["third_party"].precision, scores["third_party"].recall) == (1.0, 1.0)
    assert scores["uncertified_environment"].recall is None and scores["uncertified_environment"].precision == 0.0
    assert scores["recent_changes"].labelled == 0 and scores["recent_changes"].precision is None


items = st.frozensets(st.sampled_from(ITEMS))


@given(st.lists(st.tuples(items, items), max_size=30))
def test_counts_are_bounded_and_match_the_labels(pairs: list[tuple[frozenset[str], frozenset[str]]]) -> None:
    labels = [
        DetailsLabel(f"R{i}", 1, truth & set(DETAIL_ITEMS), truth & set(SCOPE_KINDS))
        for i, (truth, _) in enumerate(pairs)
    ]
    found = {
        f"R{i}": ScopeResult(
            tuple(note(k) for k in sorted(said & set(SCOPE_KINDS))), tuple(sorted(said & set(DETAIL_ITEMS)))
        )
        for i, (_, said) in enumerate(pairs)
    }
    for score in score_details(labels, found):
        assert score.labelled == sum(score.item in truth for truth, _ in pairs)
        assert score.flagged == sum(score.item in said for _, said in pairs)
        assert 0 <= score.agreed <= min(score.labelled, score.flagged)
