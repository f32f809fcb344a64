"""`DecisionStore.diff_request_batches`: the whole history for `rules diff`, a page at a time (SQLite, PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sevtriage.store import DecisionStore
from tests.store.test_rule_counts import fill
from tests.store.test_store import pair


@pytest.mark.parametrize("size", [1, 2, 4, 6, 100])
def test_pages_hold_every_request_once_in_id_order_with_the_same_labels(store: DecisionStore, size: int) -> None:
    fill(store)  # R1..R6; R1, R2, R3, R6 reviewed
    ticket, decision = pair("A0", 2)
    store.save_many([(ticket, replace(decision, needs_review=False))])  # decided without review: unlabelled
    pages = list(store.diff_request_batches(size=size))
    assert all(0 < len(page) <= size for page in pages)
    rows = [row for page in pages for row in page]
    assert [t.id for t, _ in rows] == ["A0", "R1", "R2", "R3", "R4", "R5", "R6"]
    assert dict((t.id, label) for t, label in rows) == dict((t.id, label) for t, label in store.diff_requests())
    assert {t.id: t for t, _ in rows} == {t.id: t for t, _ in store.diff_requests()}


def test_an_empty_store_has_no_pages_and_a_page_size_below_one_is_refused(store: DecisionStore) -> None:
    assert list(store.diff_request_batches()) == []
    with pytest.raises(ValueError, match="size must be at least 1; got 0"):
        next(store.diff_request_batches(size=0))
