"""Mail that arrives at awkward moments of `mail watch` against a real Dovecot (issue 11, the IDLE stall).

A real IMAPClient subclass APPENDs a message over a second connection at one exact moment of the watcher's cycle:
while it searches, while it marks a batch (STORE), just before IDLE is sent, or just after the server's
"+ idling". Each message must be triaged within seconds, not at the next IDLE renewal, and exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from sevtriage.intake.imap_watch import MailWatcher, connect_imap
from sevtriage.intake.mail_import import request_id_for
from sevtriage.store import DecisionStore
from sevtriage.triage import Triage
from tests.intake.conftest import Dovecot
from tests.intake.test_imap_watch import _append, _config, _desk, _flags, _requests, _wait

pytestmark = pytest.mark.timeout(120)

MOMENTS = ("search", "store", "before_idle", "after_idle")


class _Dropper:
    """Drops queued messages into the mailbox at `moment`, and tells when the watcher waits in IDLE."""

    def __init__(self, dovecot: Dovecot, user: str, moment: str) -> None:
        self.dovecot = dovecot
        self.user = user
        self.moment = moment
        self.queue: list[bytes] = []
        self.waiting = threading.Event()
        self.dropped = 0

    def at(self, moment: str) -> None:
        if moment == self.moment and self.queue:
            _append(self.dovecot, self.user, [self.queue.pop(0)])
            self.dropped += 1

    def client_class(self) -> type[IMAPClient]:
        dropper = self

        class Dropping(IMAPClient):
            def search(self, *args: Any, **kwargs: Any) -> Any:
                dropper.at("search")
                return super().search(*args, **kwargs)

            def add_flags(self, *args: Any, **kwargs: Any) -> Any:
                dropper.at("store")
                return super().add_flags(*args, **kwargs)

            def idle(self) -> Any:
                dropper.waiting.clear()
                dropper.at("before_idle")
                started = super().idle()
                dropper.at("after_idle")
                return started

            def idle_check(self, timeout: float | None = None) -> Any:
                dropper.waiting.set()
                return super().idle_check(timeout)

        return Dropping


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DecisionStore]:
    with DecisionStore.open(f"sqlite:///{tmp_path / 'desk.db'}") as opened:
        yield opened


@pytest.mark.parametrize("moment", MOMENTS)
def test_mail_arriving_at_any_moment_is_triaged_at_once(
    moment: str, dovecot: Dovecot, imap_user: str, triage: Triage, store: DecisionStore
) -> None:
    dropper = _Dropper(dovecot, imap_user, moment)
    # A long IDLE period: the renewal must not be what picks the message up.
    config = _config(dovecot, imap_user, idle_seconds=90.0)
    watcher = MailWatcher(
        _desk(triage, store), store, config, connect=lambda c: connect_imap(c, dropper.client_class())
    )
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        for round_ in range(3):
            # The watcher waits in IDLE; a first message wakes it, and the second arrives at `moment`.
            assert dropper.waiting.wait(30), "the watcher never reached IDLE"
            first, second = _requests(2, f"{moment}{round_}-")
            dropper.queue.append(second)
            _append(dovecot, imap_user, [first])
            expected = 2 * (round_ + 1)
            _wait(lambda n=expected: watcher.desk.summary.messages == n, 15)
            assert dropper.dropped == round_ + 1
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    summary = watcher.desk.summary
    assert summary.messages == summary.requests == 6
    for round_ in range(3):
        for i in range(2):
            request_id = request_id_for(f"{moment}{round_}-{i}@acme.example")
            assert [r.kind for r in store.mail_messages(request_id)] == ["request"]
    cursor = store.imap_cursor(config.key)
    assert cursor is not None and cursor[1] == 6
    flags = _flags(dovecot, imap_user)
    assert len(flags) == 6
    assert all(any(f.startswith(b"$sev") or f == b"$needs-review" for f in got) for got in flags.values())


def _imap_pids(dovecot: Dovecot, user: str) -> list[int]:
    """The pids of `user`'s IMAP server processes (doveadm who)."""
    out = subprocess.run(
        ["doveadm", "-c", str(dovecot.conf), "who", "-1", user], capture_output=True, text=True, timeout=30
    ).stdout
    return [int(fields[2]) for fields in (line.split() for line in out.splitlines()[1:]) if len(fields) >= 3]


def test_a_connection_closed_without_bye_is_noticed_in_idle(
    dovecot: Dovecot, imap_user: str, triage: Triage, store: DecisionStore
) -> None:
    # The server's process dies (SIGKILL): the socket ends without "* BYE". The watcher must reconnect at once,
    # not sit out the IDLE period on a dead connection.
    dropper = _Dropper(dovecot, imap_user, "none")
    config = _config(dovecot, imap_user, idle_seconds=90.0)
    watcher = MailWatcher(
        _desk(triage, store), store, config, connect=lambda c: connect_imap(c, dropper.client_class())
    )
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert dropper.waiting.wait(30), "the watcher never reached IDLE"
        pids = _imap_pids(dovecot, imap_user)
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGKILL)
        _append(dovecot, imap_user, _requests(1, "eof"))
        _wait(lambda: store.mail_known("eof0@acme.example") is not None, 15)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert watcher.reconnects == 1 and watcher.desk.summary.requests == 1
