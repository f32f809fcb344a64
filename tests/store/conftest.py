"""Fixtures of the store tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sevtriage.store import DecisionStore
from tests.databases import url  # noqa: F401  (a fixture)
from tests.store.test_store import NOW


@pytest.fixture
def store(url: str) -> Iterator[DecisionStore]:  # noqa: F811
    with DecisionStore.open(url, clock=lambda: NOW) as opened:
        yield opened
