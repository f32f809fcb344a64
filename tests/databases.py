"""The databases the store-backed tests run on: a SQLite file, and PostgreSQL when a server is given.

PostgreSQL runs when SEVTRIAGE_TEST_POSTGRES_URL names a server the tests may create databases on, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/postgres (each test gets a database of its own);
`scripts/start-test-postgres.sh` starts a throwaway one and prints its URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES = os.environ.get("SEVTRIAGE_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: once on SQLite, once on PostgreSQL (skipped without a server)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    if not POSTGRES:
        pytest.skip("set SEVTRIAGE_TEST_POSTGRES_URL to run the store tests on PostgreSQL too")
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"sevtriage_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()
