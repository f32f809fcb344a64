"""Alerts against real receivers: an SMTP server (aiosmtpd) and an HTTP webhook receiver, over the real store."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from sevtriage.api import create_app
from sevtriage.cli import main
from sevtriage.settings import Settings
from sevtriage.sla import SlaPolicy
from sevtriage.store import DecisionStore
from sevtriage.triage import Triage
from sevtriage.watch.alerts import Alerts, channels_from
from tests.api.test_api import TOKEN, ThreadServer
from tests.databases import url  # noqa: F401 - the SQLite / PostgreSQL store fixture
from tests.store.test_store import pair

POLICY = SlaPolicy.load()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


class Hook:
    """A webhook receiver: answers the queued status codes first, then 200; keeps every JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.answers: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                payload = json.loads(self.rfile.read(length))
                status = hook.answers.pop(0) if hook.answers else 200
                if status == 200:
                    hook.bodies.append(payload)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _settings(smtp_port: int | None, hook_url: str | None, **more: Any) -> Settings:
    options: dict[str, Any] = {"alerts_backoff_seconds": 30, "alerts_attempts": 3, **more}
    if smtp_port is not None:
        options.update(alerts_smtp_host="127.0.0.1", alerts_smtp_port=smtp_port, alerts_mail_to="oncall@example.com")
    if hook_url is not None:
        options["alerts_webhook_url"] = hook_url
    return Settings.load(**options)


def _alerts(store: DecisionStore, settings: Settings, clock: Clock) -> Alerts:
    return Alerts(store, POLICY, settings, channels_from(settings), clock=clock)


# Tuesday 24 November 2026 10:00 CET (09:00 UTC), the arrival of the test_store requests.
ARRIVAL = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_a_severity_1_decision_is_mailed_and_posted_once_even_across_restarts(
    url: str,  # noqa: F811
    smtp: tuple[int, Mailbox],
    hook: Hook,
) -> None:
    port, box = smtp
    clock = Clock(ARRIVAL + timedelta(minutes=5))
    settings = _settings(port, hook.url, alerts_kinds="critical,possible_critical")
    with DecisionStore.open(url, clock=clock) as store:
        store.save_many([pair("T-1", severity=1, subject="Shop down"), pair("T-2", severity=3)])
        report = _alerts(store, settings, clock).run_once()
        assert (report.created, report.sent, report.failed) == (2, 2, 0)
        assert _alerts(store, settings, clock).run_once().created == 0
    with DecisionStore.open(url, clock=clock) as again:  # a restart: a new process, the same store
        assert _alerts(again, settings, clock).run_once() == type(report)(0, 0, 0, 0)
        assert {(a.request_id, a.kind, a.channel, a.status, a.attempts) for a in again.alerts()} == {
            ("T-1", "critical", "email", "sent", 1),
            ("T-1", "critical", "webhook", "sent", 1),
        }
    [mail] = box.messages
    assert (mail["To"], mail["Subject"], mail["Auto-Submitted"]) == (
        "oncall@example.com",
        "[sevtriage] Severity 1: T-1 Shop down",
        "auto-generated",
    )
    assert "First response due: Tue 24 Nov 14:00 CET" in mail.get_content()  # the stored deadline (pair: +4 h)
    [posted] = hook.bodies
    assert list(posted) == ["text"]  # the field Slack and Teams incoming webhooks both read
    assert posted["text"].startswith("[sevtriage] Severity 1: T-1 Shop down\nRequest T-1 looks severity 1")


def test_a_possible_critical_review_alerts_and_old_requests_do_not(url: str, hook: Hook) -> None:  # noqa: F811
    clock = Clock(ARRIVAL + timedelta(days=2))
    settings = _settings(None, hook.url, alerts_kinds="critical,possible_critical")
    with DecisionStore.open(url, clock=clock) as store:
        store.save_many([pair("OLD", severity=1)])  # received two days ago: older than alerts_max_age_hours
        fresh_ticket, fresh = pair("NEW", severity=3, reasons=("possible_critical",))
        recent = clock.now - timedelta(minutes=3)
        store.save(replace(fresh_ticket, received_at=recent), replace(fresh, received_at=recent))
        assert _alerts(store, settings, clock).run_once().sent == 1
        assert [(a.request_id, a.kind) for a in store.alerts()] == [("NEW", "possible_critical")]
    assert hook.bodies[0]["text"].startswith("[sevtriage] Maybe severity 1: NEW")


def test_failed_deliveries_are_retried_with_back_off_and_recorded(url: str, hook: Hook) -> None:  # noqa: F811
    clock = Clock(ARRIVAL + timedelta(minutes=5))
    settings = _settings(None, hook.url, alerts_kinds="critical")
    hook.answers = [503, 500]
    with DecisionStore.open(url, clock=clock) as store:
        store.save(*pair("T-1", severity=1))
        alerts = _alerts(store, settings, clock)
        assert alerts.run_once().retrying == 1
        assert alerts.run_once().sent == 0  # the retry is not due yet (30 s)
        clock.now += timedelta(seconds=30)
        assert alerts.run_once().retrying == 1  # second failure: next try in 60 s
        [waiting] = store.alerts()
        assert (waiting.status, waiting.attempts, waiting.last_error) == ("pending", 2, "webhook answered HTTP 500")
        assert waiting.next_attempt_at == clock.now + timedelta(seconds=60)
        clock.now += timedelta(seconds=60)
        assert alerts.run_once().sent == 1
        [done] = store.alerts()
        assert (done.status, done.attempts, done.sent_at) == ("sent", 3, clock.now)
    assert len(hook.bodies) == 1


def test_a_refused_webhook_is_given_up_at_once_and_an_unreachable_one_after_the_attempts(
    url: str,  # noqa: F811
    hook: Hook,
) -> None:
    clock = Clock(ARRIVAL + timedelta(minutes=5))
    hook.answers = [404]
    with DecisionStore.open(url, clock=clock) as store:
        store.save(*pair("T-1", severity=1))
        assert _alerts(store, _settings(None, hook.url, alerts_kinds="critical"), clock).run_once().failed == 1
        [gone] = store.alerts()
        assert (gone.status, gone.attempts, gone.last_error) == ("failed", 1, "webhook answered HTTP 404")
        store.save(*pair("T-2", severity=1))
        dead = f"http://127.0.0.1:{_free_port()}/hook"
        alerts = _alerts(store, _settings(None, dead, alerts_kinds="critical", alerts_attempts=2), clock)
        assert alerts.run_once().retrying == 1
        clock.now += timedelta(seconds=30)
        assert alerts.run_once().failed == 1
        failed = {a.request_id: a for a in store.alerts(status="failed")}
        assert failed["T-2"].attempts == 2 and failed["T-2"].last_error.startswith("webhook unreachable")


def test_about_to_breach_outside_business_hours_is_the_8_hour_clause(url: str, hook: Hook) -> None:  # noqa: F811
    # Premier severity 2 on Saturday 28 November 14:00 CET: 2 business hours would end Monday 10:00, but
    # "8 hours outside business hours" ends 22:00 the same evening. At 21:10 it has 50 minutes left.
    received = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    clock = Clock(datetime(2026, 11, 28, 20, 10, tzinfo=UTC))
    settings = _settings(None, hook.url, alerts_kinds="breach_soon")
    with DecisionStore.open(url, clock=clock) as store:
        ticket, decision = pair("P-2", severity=2, plan="premier", subject="Reports are slow")
        store.save(replace(ticket, received_at=received), replace(decision, received_at=received, deadlines=None))
        alerts = _alerts(store, settings, clock)
        assert alerts.run_once().sent == 1
        clock.now += timedelta(minutes=20)
        assert alerts.run_once().created == 0  # once per clock cycle
        # Answered at 21:30: the next update is a new cycle, due 8 hours later (05:30), warned from 04:30.
        store.record_response("P-2", clock.now, "support@example.com")
        clock.now = datetime(2026, 11, 29, 3, 45, tzinfo=UTC)
        assert alerts.run_once().sent == 1
    first, second = (b["text"] for b in hook.bodies)
    assert "The first response to P-2 is due Sat 28 Nov 22:00 CET: 50 min left by real time" in first
    assert "The next update to P-2 is due Sun 29 Nov 05:30 CET: 45 min left by real time" in second


def test_alerts_run_once_and_list_from_the_command_line(
    tmp_path: Any, hook: Hook, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    now = datetime.now(UTC)
    with DecisionStore.open(store_url) as store:
        ticket, decision = pair("T-1", severity=1)
        store.save(replace(ticket, received_at=now), replace(decision, received_at=now))
    monkeypatch.setenv("SEVTRIAGE_ALERTS_WEBHOOK_URL", hook.url)
    assert main(["alerts", "run", "--once", "--store", store_url]) == 0
    assert capsys.readouterr().err == "alerts: 1 new, 1 sent, 0 to retry, 0 failed\n"
    assert len(hook.bodies) == 1
    assert main(["alerts", "list", "--json", "--store", store_url]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["request_id"], r["kind"], r["channel"], r["status"]) for r in records] == [
        ("T-1", "critical", "webhook", "sent")
    ]
    monkeypatch.delenv("SEVTRIAGE_ALERTS_WEBHOOK_URL")
    assert main(["alerts", "run", "--once", "--store", store_url]) == 2
    assert "no alert channel is configured; set alerts_smtp_host" in capsys.readouterr().err


def test_the_service_alerts_a_stored_severity_1_decision_at_once(tmp_path: Any, hook: Hook) -> None:
    settings = Settings.load(
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        api_token=TOKEN,
        secret_key="s" * 40,
        alerts_webhook_url=hook.url,
        alerts_kinds="critical,possible_critical",
        alerts_check_seconds=3600,  # only the wake-up after the decision can send it in time
    )
    app = create_app(settings, Triage.load())
    body = {
        "id": "S-1",
        "body": "Production is down, nobody can log in, all users are affected.",
        "plan": "premier",
        "received_at": datetime.now(UTC).isoformat(),
    }
    with ThreadServer(app) as server:
        answer = httpx.post(f"{server.url}/v1/classify", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        decision = answer.json()
        assert decision["severity"] == 1 or "possible_critical" in decision["review_reasons"]
        deadline = time.monotonic() + 20
        while not hook.bodies and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(hook.bodies) == 1 and "S-1" in hook.bodies[0]["text"]
