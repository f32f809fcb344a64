"""Alerts: a severity-1 decision, a possible_critical review, or a request about to breach, sent once.

Each alert is a row in the store's `alerts` table with a unique key (request, kind, clock cycle, channel), so it
is created once however often the check runs and whatever restarts in between. Delivery retries with exponential
back-off and is recorded (sent / failed with the error). A crash between a successful send and its record can
send that one alert a second time: delivery is at least once, never silently dropped.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import quote

from sevtriage.errors import ConfigError, Problem
from sevtriage.settings import Settings
from sevtriage.sla import SlaPolicy, due_soon
from sevtriage.store import DecisionStore, NewAlert, StoredRequest
from sevtriage.types import REVIEW_CRITICAL_RISK, Ticket
from sevtriage.watch.board import SlaBoard

log = logging.getLogger("sevtriage.alerts")


class Channel(Protocol):
    name: str

    def send(self, subject: str, text: str) -> None:
        """Deliver one alert; raise `DeliveryError` (retryable or not) when it did not go out."""


class DeliveryError(Exception):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class SmtpChannel:
    """E-mail through an SMTP server (STARTTLS and login when configured)."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = 10
    name: str = "email"

    def send(self, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = subject
        # RFC 3834: tells auto-responders (and our own mail import) that this is not a person writing.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPResponseException as error:
            # 5xx is permanent (RFC 5321 section 4.2.1); 4xx may pass later.
            raise DeliveryError(
                f"SMTP {error.smtp_code}: {error.smtp_error!r}", retryable=error.smtp_code < 500
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {error}") from None


@dataclass
class WebhookChannel:
    """A JSON POST of ``{"text": ...}``: the shape Slack and Microsoft Teams incoming webhooks both accept."""

    url: str
    timeout: float = 10
    name: str = "webhook"

    def send(self, subject: str, text: str) -> None:
        body = json.dumps({"text": f"{subject}\n{text}"}, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            # 408 and 429 and 5xx may pass later; another 4xx (wrong URL, revoked hook) will not.
            retryable = error.code in (408, 429) or error.code >= 500
            raise DeliveryError(f"webhook answered HTTP {error.code}", retryable=retryable) from None
        except (urllib.error.URLError, OSError) as error:
            raise DeliveryError(f"webhook unreachable: {error}") from None


def channels_from(settings: Settings) -> list[Channel]:
    """The channels the settings configure (maybe none)."""
    found: list[Channel] = []
    if settings.alerts_smtp_host:
        if not settings.alert_recipients:
            raise ConfigError(
                Problem("settings", None, "alerts_smtp_host is set but alerts_mail_to is empty; set the recipients")
            )
        password = settings.alerts_smtp_password.get_secret_value() if settings.alerts_smtp_password else None
        found.append(
            SmtpChannel(
                host=settings.alerts_smtp_host,
                port=settings.alerts_smtp_port,
                sender=settings.alerts_mail_from,
                recipients=settings.alert_recipients,
                starttls=settings.alerts_smtp_starttls,
                user=settings.alerts_smtp_user,
                password=password,
                timeout=settings.alerts_timeout_seconds,
            )
        )
    if settings.alerts_webhook_url:
        found.append(WebhookChannel(settings.alerts_webhook_url, timeout=settings.alerts_timeout_seconds))
    return found


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunReport:
    created: int
    sent: int
    retrying: int
    failed: int


class Alerts:
    """Finds what must be alerted, creates each alert once, and delivers the due ones with retries."""

    def __init__(
        self,
        store: DecisionStore,
        policy: SlaPolicy,
        settings: Settings,
        channels: Sequence[Channel],
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.policy = policy
        self.settings = settings
        self.channels = list(channels)
        self.clock = clock
        self.board = SlaBoard(store, policy, clock=clock)

    # -- what to alert ---------------------------------------------------------------------------------------
    def plan(self) -> list[NewAlert]:
        now = self.clock()
        kinds = set(self.settings.alert_kinds)
        wanted: list[tuple[str, str, StoredRequest, str, str]] = []  # (kind, cycle, request, subject, text)
        since = now - timedelta(hours=self.settings.alerts_max_age_hours)
        if kinds & {"critical", "possible_critical"}:
            for request in self.store.alert_candidates(since):
                if "critical" in kinds and request.severity is not None and int(request.severity) == 1:
                    wanted.append(("critical", "", request, *self._critical_text(request, "severity 1")))
                elif "possible_critical" in kinds and REVIEW_CRITICAL_RISK in request.suggested.review_reasons:
                    wanted.append(("possible_critical", "", request, *self._critical_text(request, "maybe severity 1")))
        if "breach_soon" in kinds:
            business = timedelta(minutes=self.settings.alerts_lead_business_minutes)
            elapsed = timedelta(minutes=self.settings.alerts_lead_elapsed_minutes)
            for request in self.store.open_requests():
                status = self.board.of(request, now=now)
                soon = due_soon(self.policy, status, business_lead=business, elapsed_lead=elapsed)
                if soon is None:
                    continue
                cycle = f"{soon.kind}@{soon.started_at.astimezone(UTC).isoformat()}"
                left = _span(soon.left)
                clause = "business time" if soon.clause == "business" else "real time (outside business hours)"
                what = "first response" if soon.kind == "initial" else "next update"
                state = f"breached {left} ago" if soon.left <= timedelta(0) else f"{left} left"
                due = soon.due.astimezone(self.policy.calendar.tz).strftime("%a %d %b %H:%M %Z") if soon.due else "?"
                subject = f"[sevtriage] SLA {state}: {request.id} {request.subject[:60]}".rstrip()
                text = (
                    f"The {what} to {request.id} is due {due}: {state} by {clause}.\n"
                    f"Severity {_sev(request)}, plan {request.plan or '-'}.\n{self._link(request)}"
                )
                wanted.append(("breach_soon", cycle, request, subject, text))
        return [
            NewAlert(f"{kind}|{request.id}|{cycle}|{channel.name}", request.id, kind, channel.name, subject, text)
            for kind, cycle, request, subject, text in wanted
            for channel in self.channels
        ]

    def _critical_text(self, request: StoredRequest, what: str) -> tuple[str, str]:
        subject = f"[sevtriage] {what.capitalize()}: {request.id} {request.subject[:80]}".rstrip()
        due = request.deadlines.initial_response if request.deadlines else None
        due_text = (
            due.due.astimezone(self.policy.calendar.tz).strftime("%a %d %b %H:%M %Z")
            if due and due.due
            else "no target"
        )
        reasons = ", ".join(request.suggested.review_reasons) or "none"
        text = (
            f"Request {request.id} looks {what} (plan {request.plan or '-'}, received "
            f"{request.received_at.isoformat() if request.received_at else '?'}).\n"
            f"First response due: {due_text}. Review reasons: {reasons}.\n"
            f"{request.subject}\n{request.body[:500]}\n{self._link(request)}"
        )
        return subject, text

    def _link(self, request: StoredRequest) -> str:
        base = self.settings.alerts_desk_url
        return f"{base.rstrip('/')}/review/requests/{quote(request.id, safe='')}" if base else ""

    # -- delivering ------------------------------------------------------------------------------------------
    def run_once(self) -> RunReport:
        """Create what is due to be alerted, then try every due delivery once."""
        created = self.store.add_alerts(self.plan()) if self.channels else 0
        by_name = {c.name: c for c in self.channels}
        sent = retrying = failed = 0
        for alert in self.store.alerts_due():
            channel = by_name.get(alert.channel)
            if channel is None:
                continue  # a channel switched off since; the alert waits for it
            try:
                channel.send(alert.subject, alert.text)
            except DeliveryError as error:
                attempts = alert.attempts + 1
                if error.retryable and attempts < self.settings.alerts_attempts:
                    wait = timedelta(seconds=self.settings.alerts_backoff_seconds * 2 ** (attempts - 1))
                    self.store.alert_attempted(alert.id, error=str(error), retry_at=self.clock() + wait)
                    retrying += 1
                else:
                    self.store.alert_attempted(alert.id, error=str(error), retry_at=None)
                    failed += 1
                log.warning("alert %s to %s not sent (attempt %d): %s", alert.key, alert.channel, attempts, error)
                continue
            self.store.alert_attempted(alert.id, error=None, retry_at=None)
            sent += 1
        return RunReport(created, sent, retrying, failed)


class AlertWorker:
    """Runs `Alerts.run_once` in a background thread every `interval` seconds, and at once when woken."""

    def __init__(self, alerts: Alerts, interval: float) -> None:
        self.alerts = alerts
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sevtriage-alerts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def sink(self, pairs: Sequence[tuple[Ticket, object]]) -> None:
        """A decision sink: newly stored decisions are checked at once. Never fails the decision."""
        self.wake()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.alerts.run_once()
            except Exception:  # the service keeps serving; the next round tries again
                log.exception("the alert check failed")
            self._wake.wait(self.interval)
            self._wake.clear()


def _sev(request: StoredRequest) -> str:
    return str(int(request.severity)) if request.severity is not None else "unknown"


def _span(value: timedelta) -> str:
    minutes = abs(int(value.total_seconds() // 60)) if value >= timedelta(0) else int(-value.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"
