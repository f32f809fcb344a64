"""`mail watch` against a real Dovecot: keywords and folders, IDLE and polling, a dropped connection, a restart in
the middle of a mailbox (a killed process) and a rebuilt folder. Nothing is missed and nothing is processed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from imapclient import IMAPClient

from sevtriage.intake.imap_watch import ImapConfig, MailWatcher, connect_imap
from sevtriage.intake.mail import Mail, MailReject, Skipped, parse_mail
from sevtriage.intake.mail_import import MailDesk, MailRules, request_id_for
from sevtriage.store import DecisionStore
from sevtriage.triage import Triage
from tests.intake.conftest import IMAP_PASSWORD, Dovecot
from tests.intake.mail_corpus import cases, message

pytestmark = pytest.mark.timeout(300)


def _config(dovecot: Dovecot, user: str, **overrides: Any) -> ImapConfig:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "plain",
        "user": user,
        "password": IMAP_PASSWORD,
        "poll_seconds": 0.2,
        "backoff_max_seconds": 1.0,
        "timeout_seconds": 10.0,
        **overrides,
    }
    return ImapConfig(**options)


def _client(dovecot: Dovecot, user: str) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=10)
    client.login(user, IMAP_PASSWORD)
    return client


def _append(dovecot: Dovecot, user: str, messages: list[bytes], folder: str = "INBOX") -> None:
    with _client(dovecot, user) as client:
        for raw in messages:
            client.append(folder, raw)


def _requests(number: int, prefix: str = "m") -> list[bytes]:
    """`number` distinct requests (no shared subject, so none follows another)."""
    return [
        message(
            f"Problem {prefix}{i}: export {i} fails",
            f"Export number {i} fails with error {500 + i}.",
            minutes=i,
            message_id=f"<{prefix}{i}@acme.example>",
        ).as_bytes()
        for i in range(number)
    ]


def _desk(triage: Triage, store: DecisionStore) -> MailDesk:
    policy = triage.sla
    assert policy is not None
    return MailDesk(triage, store, MailRules(default_plan=policy.default_plan), batch_size=50)


def _wait(condition: Callable[[], bool], seconds: float = 60.0, step: float = 0.1) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise AssertionError("timed out waiting")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DecisionStore]:
    with DecisionStore.open(f"sqlite:///{tmp_path / 'desk.db'}") as opened:
        yield opened


@pytest.fixture
def running(triage: Triage, store: DecisionStore) -> Iterator[Callable[[ImapConfig], MailWatcher]]:
    """Start watchers in threads; stop them at the end of the test."""
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(config: ImapConfig) -> MailWatcher:
        watcher = MailWatcher(_desk(triage, store), store, config)
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        thread.start()
        started.append((thread, stop))
        _wait(lambda: watcher.connections >= 1)
        return watcher

    yield start
    for thread, stop in started:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()


def _flags(dovecot: Dovecot, user: str, folder: str = "INBOX") -> dict[bytes, set[bytes]]:
    """Message-ID -> IMAP flags of every message in a folder."""
    with _client(dovecot, user) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    found = {}
    for data in fetched.values():
        header = data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().strip()
        found[header.partition(":")[2].strip().strip("<>").encode()] = set(data[b"FLAGS"])
    return found


def test_once_triages_the_folder_and_marks_each_message(
    dovecot: Dovecot, imap_user: str, triage: Triage, store: DecisionStore
) -> None:
    corpus = cases()
    _append(dovecot, imap_user, [c.raw for c in corpus])
    config = _config(dovecot, imap_user, batch=7)
    desk = _desk(triage, store)
    MailWatcher(desk, store, config).run(once=True)
    s = desk.summary
    assert s.messages == len(corpus) == s.requests + s.follow_ups + s.responses + s.skipped_total + s.rejected
    flags = _flags(dovecot, imap_user)
    now = datetime.now(UTC)
    for case in corpus:
        # In a mailbox the server's arrival time stands in for a missing or broken Date header.
        parsed = parse_mail(case.raw, case.name, arrived_at=now)
        message_id = (parsed.message_id or "").encode()
        if isinstance(parsed, MailReject):
            if message_id in flags:  # a message without headers has no Message-ID to find it by
                assert flags[message_id] >= {b"$rejected"}
            continue
        got = flags[message_id]
        if isinstance(parsed, Skipped):
            assert b"$skipped" in got
            continue
        assert isinstance(parsed, Mail)
        record = store.mail_known(parsed.message_id)
        assert record is not None
        stored = store.get(record.request_id)
        assert stored.severity is not None
        assert f"$sev{int(stored.severity)}".encode() in got
        if record.kind == "request":
            assert (b"$needs-review" in got) == stored.suggested.needs_review
    assert sum(b"$rejected" in got for got in flags.values()) == 3  # no sender, no text, not mail at all
    # Everything was seen and the place remembered: a second pass handles nothing.
    cursor = store.imap_cursor(config.key)
    assert cursor is not None and cursor[1] == len(corpus)
    again = _desk(triage, store)
    MailWatcher(again, store, config).run(once=True)
    assert again.summary.messages == 0


def test_idle_triages_mail_as_it_arrives(
    dovecot: Dovecot, imap_user: str, store: DecisionStore, running: Callable[[ImapConfig], MailWatcher]
) -> None:
    watcher = running(_config(dovecot, imap_user))
    _append(dovecot, imap_user, _requests(1, "idle"))
    _wait(lambda: store.mail_known("idle0@acme.example") is not None, 30)
    assert watcher.desk.summary.requests == 1


def test_polling_when_idle_is_off(
    dovecot: Dovecot, imap_user: str, store: DecisionStore, running: Callable[[ImapConfig], MailWatcher]
) -> None:
    watcher = running(_config(dovecot, imap_user, idle=False))
    _append(dovecot, imap_user, _requests(2, "poll"))
    _wait(lambda: store.mail_known("poll1@acme.example") is not None, 30)
    assert watcher.desk.summary.requests == 2


def test_a_dropped_connection_is_resumed_without_loss_or_repeats(
    dovecot: Dovecot, imap_user: str, store: DecisionStore, running: Callable[[ImapConfig], MailWatcher]
) -> None:
    watcher = running(_config(dovecot, imap_user))
    _append(dovecot, imap_user, _requests(5, "a"))
    _wait(lambda: watcher.desk.summary.messages == 5)
    dovecot.kick(imap_user)
    # Mail that arrives while the watcher is cut off is picked up after it reconnects.
    _append(dovecot, imap_user, _requests(5, "b"))
    _wait(lambda: watcher.desk.summary.messages == 10)
    assert watcher.reconnects >= 1 and watcher.connections >= 2
    assert watcher.desk.summary.requests == 10
    assert sum(store.counts().values()) == 10
    flags = _flags(dovecot, imap_user)
    assert all(any(f.startswith(b"$sev") or f == b"$needs-review" for f in got) for got in flags.values())


def test_a_killed_watcher_restarts_where_it_stopped(dovecot: Dovecot, imap_user: str, tmp_path: Path) -> None:
    # Enough mail that the watcher is still busy when it is killed: with 30 and a 0.1 s look, a fast machine
    # had stored all of them before the kill landed.
    total = 80
    _append(dovecot, imap_user, _requests(total, "k"))
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    env["SEVTRIAGE_IMAP_PASSWORD"] = IMAP_PASSWORD
    args = [
        sys.executable,
        "-m",
        "sevtriage",
        "mail",
        "watch",
        "--store",
        url,
        "--host",
        "127.0.0.1",
        "--port",
        str(dovecot.port),
        "--user",
        imap_user,
        "--security",
        "plain",
        "--batch",
        "2",
    ]
    process = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with DecisionStore.open(url) as store:
            _wait(lambda: sum(store.counts().values()) >= 8, 120, step=0.005)
    finally:
        process.send_signal(signal.SIGKILL)  # no chance to tidy up: a crash
        process.wait(timeout=30)
    with DecisionStore.open(url) as store:
        stored_at_kill = sum(store.counts().values())
        cursor = store.imap_cursor(f"{imap_user}@127.0.0.1:{dovecot.port}/INBOX")
    assert stored_at_kill < total, "the watcher finished before it was killed; the test proves nothing"
    done = subprocess.run([*args, "--once"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with DecisionStore.open(url) as store:
        assert sum(store.counts().values()) == total
        for i in range(total):
            request_id = request_id_for(f"k{i}@acme.example")
            assert [r.kind for r in store.mail_messages(request_id)] == ["request"]
            assert [e.kind for e in store.events(request_id)].count("received") == 1
        final = store.imap_cursor(f"{imap_user}@127.0.0.1:{dovecot.port}/INBOX")
    assert cursor is not None and final is not None and final[1] == total and final[0] == cursor[0]
    flags = _flags(dovecot, imap_user)
    assert len(flags) == total
    assert all(any(f.startswith(b"$sev") or f == b"$needs-review" for f in got) for got in flags.values())


def test_a_rebuilt_folder_is_read_again_without_repeats(
    dovecot: Dovecot, imap_user: str, triage: Triage, store: DecisionStore
) -> None:
    _append(dovecot, imap_user, _requests(4, "v"))
    config = _config(dovecot, imap_user)
    MailWatcher(_desk(triage, store), store, config).run(once=True)
    uidvalidity, last = store.imap_cursor(config.key) or (0, 0)
    # As if the folder had been rebuilt: the remembered UIDVALIDITY no longer matches, and the UIDs mean nothing.
    store.save_imap_cursor(config.key, uidvalidity + 1, last + 100)
    _append(dovecot, imap_user, _requests(1, "w"))
    desk = _desk(triage, store)
    MailWatcher(desk, store, config).run(once=True)
    assert desk.summary.messages == 5
    assert desk.summary.requests == 1
    assert desk.summary.skipped["already_processed"] == 4
    assert store.imap_cursor(config.key) == (uidvalidity, 5)


class _Recording(IMAPClient):
    """A real IMAPClient that notes which commands moved messages, to show which path the watcher took."""

    calls: ClassVar[list[str]] = []

    def move(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("move")
        return super().move(*args, **kwargs)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("copy")
        return super().copy(*args, **kwargs)

    def uid_expunge(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("uid_expunge")
        return super().uid_expunge(*args, **kwargs)

    def expunge(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("expunge")
        return super().expunge(*args, **kwargs)


# The test Dovecot announces every capability on 127.0.0.1, no MOVE on 127.0.0.2, and neither MOVE nor UIDPLUS
# on 127.0.0.3 (scripts/start-test-dovecot.sh): the watcher must copy, flag \Deleted and expunge instead.
@pytest.mark.parametrize(
    ("host", "path"),
    [("127.0.0.1", ["move"]), ("127.0.0.2", ["copy", "uid_expunge"]), ("127.0.0.3", ["copy", "expunge"])],
    ids=["move", "no-move-uidplus", "no-move-no-uidplus"],
)
def test_folders_mode_moves_each_message(
    host: str, path: list[str], dovecot: Dovecot, imap_user: str, triage: Triage, store: DecisionStore
) -> None:
    auto = message("Out of office: x", "Away.", message_id="<ooo@acme.example>").as_bytes()
    _append(dovecot, imap_user, [*_requests(2, "f"), auto])
    folders = {f"sev{n}": f"Severity {n}" for n in range(1, 5)} | {"needs-review": "Review", "skipped": "Skipped"}
    config = _config(dovecot, imap_user, host=host, mark="folders", folders=folders)

    class Recording(_Recording):
        calls: ClassVar[list[str]] = []

    MailWatcher(_desk(triage, store), store, config, connect=lambda c: connect_imap(c, Recording)).run(once=True)
    assert Recording.calls == path * 3  # three messages, each moved the one way the server allows
    assert _flags(dovecot, imap_user) == {}
    assert set(_flags(dovecot, imap_user, "Skipped")) == {b"ooo@acme.example"}
    moved = {}
    for name in ("Review", *(f"Severity {n}" for n in range(1, 5))):
        for message_id in _flags(dovecot, imap_user, name):
            moved[message_id] = name
    assert set(moved) == {b"f0@acme.example", b"f1@acme.example"}
    for message_id, folder in moved.items():
        stored = store.get(request_id_for(message_id.decode()))
        expected = "Review" if stored.suggested.needs_review else f"Severity {int(stored.severity or 0)}"
        assert folder == expected
    # Moved, not copied: nothing left behind flagged \Deleted, and a second pass has nothing to do.
    with _client(dovecot, imap_user) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search("ALL") == []
    again = _desk(triage, store)
    MailWatcher(again, store, config).run(once=True)
    assert again.summary.messages == 0
