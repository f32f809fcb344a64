"""`mail watch` over TLS against the real test Dovecot: IMAPS (TLS from the start) and STARTTLS, verified against
the throwaway CA that scripts/start-test-dovecot.sh made; a certificate that does not verify stops the watcher with
a clear message (exit code 2, no traceback), as does an unusable CA file."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from sevtriage.errors import ConfigError
from sevtriage.intake.imap_watch import MailWatcher, connect_imap
from sevtriage.intake.mail_import import request_id_for
from sevtriage.store import DecisionStore
from sevtriage.triage import Triage
from tests.intake.conftest import IMAP_PASSWORD, Dovecot
from tests.intake.test_imap_watch import _append, _config, _desk, _flags, _requests

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_the_watcher_speaks_tls_verified_against_the_configured_ca(
    security: str, dovecot: Dovecot, imap_user: str, triage: Triage, tmp_path: Path
) -> None:
    imaps_port, tls = dovecot.need_tls()
    port = imaps_port if security == "ssl" else dovecot.port
    config = _config(dovecot, imap_user, security=security, port=port, ca_file=str(tls / "ca.pem"))
    client = connect_imap(config)
    try:
        sock = client.socket()
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.getpeercert() is not None  # verified: a peer certificate is only returned after verification
    finally:
        client.logout()
    _append(dovecot, imap_user, _requests(2, f"tls-{security}-"))
    with DecisionStore.open(f"sqlite:///{tmp_path / 'desk.db'}") as store:
        desk = _desk(triage, store)
        MailWatcher(desk, store, config).run(once=True)
        assert desk.summary.requests == 2
        assert store.mail_known(f"tls-{security}-1@acme.example") is not None
        assert store.get(request_id_for(f"tls-{security}-0@acme.example")) is not None
    flags = _flags(dovecot, imap_user)
    assert len(flags) == 2
    assert all(any(f.startswith(b"$sev") or f == b"$needs-review" for f in got) for got in flags.values())


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_a_certificate_that_does_not_verify_stops_with_a_clear_message(
    security: str, dovecot: Dovecot, imap_user: str, tmp_path: Path
) -> None:
    imaps_port, tls = dovecot.need_tls()
    port = imaps_port if security == "ssl" else dovecot.port
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    env["SEVTRIAGE_IMAP_PASSWORD"] = IMAP_PASSWORD
    args = [
        sys.executable, "-m", "sevtriage", "mail", "watch",
        "--store", f"sqlite:///{tmp_path / 'desk.db'}",
        "--host", "127.0.0.1", "--port", str(port), "--user", imap_user, "--security", security,
    ]  # fmt: skip
    # A CA that signed something else: the watcher must not retry forever, nor print a traceback.
    done = subprocess.run(
        [*args, "--ca-file", str(tls / "other-ca.pem")], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"certificate of the IMAP server 127.0.0.1:{port} does not verify" in done.stderr
    assert "other-ca.pem" in done.stderr and "imap_ca_file" in done.stderr
    # The system's CAs (no --ca-file) do not know the test CA either.
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "the system trusts" in done.stderr


def test_an_unusable_ca_file_is_named(dovecot: Dovecot, imap_user: str, tmp_path: Path) -> None:
    imaps_port, _tls = dovecot.need_tls()
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    for path in (not_pem, tmp_path / "missing.pem"):
        config = _config(dovecot, imap_user, security="ssl", port=imaps_port, ca_file=str(path))
        with pytest.raises(ConfigError, match=r"imap_ca_file must be a readable PEM file .*" + path.name):
            connect_imap(config)


def test_starttls_on_a_server_without_it_is_a_clear_error(dovecot: Dovecot, imap_user: str) -> None:
    _imaps_port, tls = dovecot.need_tls()
    # 127.0.0.3 on the plain port offers no STARTTLS (scripts/start-test-dovecot.sh): never log in in clear text.
    config = _config(dovecot, imap_user, host="127.0.0.3", security="starttls", ca_file=str(tls / "ca.pem"))
    with pytest.raises(ConfigError, match="does not offer STARTTLS; set imap_security to 'ssl'"):
        connect_imap(config)
