"""How well `scope` and `missing_details` match a person's labels: precision and recall per item.

The labels file (`data/details-labels.jsonl`) has one JSON object per line:
`{"id": ..., "round": 1, "missing_details": [...], "scope": [...], "note": "..."}`. `round` says which
labelling pass a row came from, because a pass that the phrase lists were tuned on flatters them; the
evaluation reports each round as well as all of them. Pure: lines in, scores out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sevtriage.errors import InputError
from sevtriage.rules.scope import ScopeResult
from sevtriage.types import DETAIL_ITEMS, SCOPE_KINDS

ITEMS: tuple[str, ...] = (*DETAIL_ITEMS, *SCOPE_KINDS)


@dataclass(frozen=True, slots=True)
class DetailsLabel:
    """What a person found one request to lack, and which scope notes apply to it."""

    id: str
    round: int
    missing_details: frozenset[str]
    scope: frozenset[str]

    @property
    def items(self) -> frozenset[str]:
        return self.missing_details | self.scope


@dataclass(frozen=True, slots=True)
class ItemScore:
    """One item's agreement with the labels; precision or recall is None when nothing was flagged or labelled."""

    item: str
    labelled: int
    flagged: int
    agreed: int

    @property
    def precision(self) -> float | None:
        return self.agreed / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.agreed / self.labelled if self.labelled else None


def _names(value: object, allowed: Sequence[str], where: str, key: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: '{key}' must be a list of strings; got {json.dumps(value)}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise InputError(f"{where}: '{key}' items must be some of {{{', '.join(allowed)}}}; got '{unknown[0]}'")
    return frozenset(value)


def parse_details_labels(lines: Iterable[str], source: str) -> list[DetailsLabel]:
    """Labels from JSONL lines; a bad line raises InputError naming `source:line` and what is wrong."""
    labels: list[DetailsLabel] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{where}: each line must be a JSON object")
        request_id = row.get("id")
        if not isinstance(request_id, str) or not request_id:
            raise InputError(f"{where}: 'id' must be a non-empty string")
        if request_id in seen:
            raise InputError(f"{where}: id '{request_id}' is labelled twice")
        seen.add(request_id)
        label_round = row.get("round", 1)
        if not isinstance(label_round, int) or isinstance(label_round, bool) or label_round < 1:
            raise InputError(f"{where}: 'round' must be a positive whole number; got {json.dumps(label_round)}")
        labels.append(
            DetailsLabel(
                id=request_id,
                round=label_round,
                missing_details=_names(row.get("missing_details", []), DETAIL_ITEMS, where, "missing_details"),
                scope=_names(row.get("scope", []), SCOPE_KINDS, where, "scope"),
            )
        )
    return labels


def flagged_items(found: ScopeResult) -> frozenset[str]:
    """The items a scope reading flags: the missing details and the kinds of its notes."""
    return frozenset({*found.missing, *(note.kind for note in found.notes)})


def score_details(labels: Sequence[DetailsLabel], found: Mapping[str, ScopeResult]) -> tuple[ItemScore, ...]:
    """Per item, over the labelled requests present in `found`: labelled, flagged and agreed counts."""
    counts = {item: [0, 0, 0] for item in ITEMS}
    for label in labels:
        if label.id not in found:
            continue
        said = flagged_items(found[label.id])
        for item, (truth, flagged) in ((i, (i in label.items, i in said)) for i in ITEMS):
            counts[item][0] += truth
            counts[item][1] += flagged
            counts[item][2] += truth and flagged
    return tuple(ItemScore(item, *counts[item]) for item in ITEMS)
