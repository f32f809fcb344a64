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

from sevtriage.triage import Triage
from tests.databases import url  # noqa: F401 - the SQLite / PostgreSQL store fixture

ROOT = Path(__file__).resolve().parents[2]
IMAP_PASSWORD = "sevtriage-test"


@pytest.fixture(scope="session")
def triage() -> Triage:
    return Triage.load()


@pytest.fixture
def store_url(url: str) -> str:  # noqa: F811
    """The shared SQLite / PostgreSQL store fixture (`tests.databases.url`), under the mail tests' name."""
    return url


@dataclass(frozen=True)
class Dovecot:
    """A running test Dovecot: its config file (for doveadm) and port.

    On `port`, 127.0.0.1 has every capability, 127.0.0.2 announces no MOVE and 127.0.0.3 neither MOVE nor UIDPLUS.
    With TLS (`tls` is the folder of ca.pem and other-ca.pem), the plain port offers STARTTLS and `imaps_port`
    speaks TLS from the start; both are None from a server started by an older script.
    """

    conf: Path
    port: int
    imaps_port: int | None = None
    tls: Path | None = None

    def need_tls(self) -> tuple[int, Path]:
        """The IMAPS port and the folder of the test CA, or skip the test (a server without TLS)."""
        if self.imaps_port is None or self.tls is None:
            pytest.skip("the test Dovecot has no TLS (no openssl, or started by an older start-test-dovecot.sh)")
        return self.imaps_port, self.tls

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
        imaps = conf.parent / "imaps_port"
        yield Dovecot(
            conf,
            int((conf.parent / "port").read_text().strip()),
            int(imaps.read_text().strip()) if imaps.is_file() else None,
            conf.parent / "tls" if imaps.is_file() else None,
        )
    finally:
        if started:
            subprocess.run(["bash", str(ROOT / "scripts" / "stop-test-dovecot.sh"), str(conf)], timeout=60)


@pytest.fixture
def imap_user() -> str:
    """A mailbox of its own for each test (the test server lets any user in)."""
    return f"t{uuid.uuid4().hex[:10]}"
