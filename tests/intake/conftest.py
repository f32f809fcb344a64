"""Fixtures for the mail tests: the real triage, real stores (SQLite, and PostgreSQL when one is given) and a real
Dovecot IMAP server (started here unless scripts/test.sh started one; the IMAP tests skip only without Dovecot)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sevtriage.triage import Triage

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = os.environ.get("SEVTRIAGE_TEST_POSTGRES_URL")
IMAP_PASSWORD = "sevtriage-test"


@pytest.fixture(scope="session")
def triage() -> Triage:
    return Triage.load()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'desk.db'}"
        return
    if not POSTGRES:
        pytest.skip("set SEVTRIAGE_TEST_POSTGRES_URL to run the mail store tests on PostgreSQL too")
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"sevtriage_mail_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@dataclass(frozen=True)
class Dovecot:
    """A running test Dovecot: its config file (for doveadm) and port."""

    conf: Path
    port: int

    def kick(self, user: str) -> None:
        """Drop every IMAP connection of `user`, as a server restart or a network failure would."""
        subprocess.run(["doveadm", "-c", str(self.conf), "kick", user], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    given = os.environ.get("SEVTRIAGE_TEST_DOVECOT")
    started = False
    if given:
        conf = Path(given)
    else:
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "start-test-dovecot.sh")], capture_output=True, text=True, timeout=300
        )
        if not out.stdout.strip():
            pytest.skip(f"no Dovecot for the IMAP tests: {out.stderr.strip()}")
        conf = Path(out.stdout.strip())
        started = True
    try:
        yield Dovecot(conf, int((conf.parent / "port").read_text().strip()))
    finally:
        if started:
            subprocess.run(["bash", str(ROOT / "scripts" / "stop-test-dovecot.sh"), str(conf)], timeout=60)


@pytest.fixture
def imap_user() -> str:
    """A mailbox of its own for each test (the test server lets any user in)."""
    return f"t{uuid.uuid4().hex[:10]}"
