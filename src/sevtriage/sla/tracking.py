"""SLA status of a request from its events: initial response met / breached / due, next update due, breach flag.

Pure: no I/O and no clock of its own; the caller says what "now" is. The rules are DESIGN.md's:
- the first response stops the initial-response clock, the latest response starts the ongoing one
  (`SlaPolicy.next_update_due`);
- a changed severity counts from arrival, so the severity in force is the only one that matters;
- a breach is decided by business time elapsed (`SlaPolicy.breached`: ``between(start, end) > target``, with the
  Premier "X business hours / 8 hours outside business hours" clause as whichever comes first). A request still
  waiting is breached once the time elapsed up to now breaks the target.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from sevtriage.sla.policy import Kind, SlaPolicy
from sevtriage.types import Severity

ClockState = Literal["met", "breached", "due", "no_target", "not_started", "stopped", "unknown"]
Clause = Literal["business", "elapsed"]

__all__ = [
    "ClockState",
    "DueSoon",
    "Event",
    "ResponseClock",
    "SlaFacts",
    "SlaStatus",
    "due_soon",
    "facts_from_events",
    "sla_status",
]


class Event(Protocol):
    """What the SLA clock reads of a request event (`sevtriage.store.RequestEvent` has these)."""

    @property
    def kind(self) -> str: ...

    @property
    def at(self) -> datetime: ...

    @property
    def to_severity(self) -> Severity | None: ...


@dataclass(frozen=True, slots=True)
class SlaFacts:
    """The facts the clocks need: arrival, the severity in force, the plan and the responses."""

    request_id: str
    received_at: datetime | None
    severity: Severity | None
    plan: str | None
    first_response_at: datetime | None = None
    last_response_at: datetime | None = None
    resolved_at: datetime | None = None


def facts_from_events(
    request_id: str, events: Iterable[Event], *, plan: str | None, severity: Severity | None = None
) -> SlaFacts:
    """Fold a request's events (any order) into `SlaFacts`.

    The severity is the last one an event set (received or severity_changed), unless `severity` is given (the
    store knows the severity in force). A follow-up after the resolution reopens the request.
    """
    ordered = sorted(events, key=lambda e: e.at.astimezone(UTC))
    received = first = last = resolved = None
    found_severity: Severity | None = None
    for event in ordered:
        if event.kind == "received":
            received = event.at if received is None else received
            found_severity = event.to_severity if event.to_severity is not None else found_severity
        elif event.kind == "severity_changed" and event.to_severity is not None:
            found_severity = event.to_severity
        elif event.kind == "response":
            first = event.at if first is None else first
            last = event.at
        elif event.kind == "resolved":
            resolved = event.at
        elif event.kind == "follow_up" and resolved is not None:
            resolved = None
    return SlaFacts(
        request_id=request_id,
        received_at=received,
        severity=severity if severity is not None else found_severity,
        plan=plan,
        first_response_at=first,
        last_response_at=last,
        resolved_at=resolved,
    )


@dataclass(frozen=True, slots=True)
class ResponseClock:
    """One response clock (initial, or the ongoing one's next update).

    `state`: ``met`` (answered in time), ``breached`` (answered late, or waiting past the target), ``due``
    (waiting, still in time; `due` says until when), ``no_target`` (the policy sets none), ``not_started`` (the
    ongoing clock before the first response), ``stopped`` (resolved), ``unknown`` (no arrival time or severity).
    """

    kind: Kind
    state: ClockState
    started_at: datetime | None
    due: datetime | None
    target: str | None
    clause: str
    ended_at: datetime | None = None
    business_elapsed: timedelta | None = None

    @property
    def breached(self) -> bool:
        return self.state == "breached"

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "started_at": _iso(self.started_at),
            "due": _iso(self.due),
            "target": self.target,
            "clause": self.clause,
            "ended_at": _iso(self.ended_at),
            "business_elapsed_minutes": (
                self.business_elapsed / timedelta(minutes=1) if self.business_elapsed is not None else None
            ),
        }


@dataclass(frozen=True, slots=True)
class SlaStatus:
    """Where a request stands against the policy at `at`.

    `waiting`: no response has reached the customer and the request is not resolved. `breached`: the initial
    response broke its target (late or still missing), or the next update is overdue.
    """

    request_id: str
    at: datetime
    severity: Severity | None
    plan: str | None
    received_at: datetime | None
    initial: ResponseClock
    ongoing: ResponseClock
    waiting: bool
    resolved: bool

    @property
    def breached(self) -> bool:
        return self.initial.breached or self.ongoing.breached

    @property
    def next_due(self) -> datetime | None:
        """The next deadline still running (initial while waiting, else the next update), for ordering."""
        for clock in (self.initial, self.ongoing):
            if clock.state in ("due", "breached") and clock.ended_at is None:
                return clock.due
        return None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.request_id,
            "at": self.at.isoformat(),
            "severity": int(self.severity) if self.severity is not None else None,
            "plan": self.plan,
            "received_at": _iso(self.received_at),
            "waiting": self.waiting,
            "resolved": self.resolved,
            "breached": self.breached,
            "initial_response": self.initial.to_dict(),
            "next_update": self.ongoing.to_dict(),
        }


def sla_status(policy: SlaPolicy, facts: SlaFacts, now: datetime) -> SlaStatus:
    """The request's SLA status at `now` (an aware instant)."""
    resolved = facts.resolved_at is not None and facts.resolved_at <= now
    # Events after `now` have not happened yet (a status "as of" an earlier time).
    first = facts.first_response_at if facts.first_response_at and facts.first_response_at <= now else None
    last = facts.last_response_at if facts.last_response_at and facts.last_response_at <= now else first
    stop = facts.resolved_at if resolved else None
    waiting = first is None and not resolved
    if facts.received_at is None or facts.severity is None:
        why = "no arrival time" if facts.received_at is None else "no severity yet"
        unknown = ResponseClock("initial", "unknown", facts.received_at, None, None, why)
        ongoing = ResponseClock("ongoing", "unknown", last, None, None, why)
        return SlaStatus(
            facts.request_id, now, facts.severity, facts.plan, facts.received_at, unknown, ongoing, waiting, resolved
        )
    initial = _clock(policy, facts, "initial", facts.received_at, first or stop, now)
    if last is None:
        ongoing = ResponseClock("ongoing", "not_started", None, None, None, "starts with the first response")
    elif resolved:
        ongoing = ResponseClock("ongoing", "stopped", last, None, None, "resolved", ended_at=stop)
    else:
        ongoing = _clock(policy, facts, "ongoing", last, None, now)
    return SlaStatus(
        facts.request_id, now, facts.severity, facts.plan, facts.received_at, initial, ongoing, waiting, resolved
    )


def _clock(
    policy: SlaPolicy, facts: SlaFacts, kind: Kind, start: datetime, end: datetime | None, now: datetime
) -> ResponseClock:
    assert facts.severity is not None
    if kind == "initial":
        deadline = policy.deadlines(facts.severity, facts.plan, start).initial_response
    else:
        deadline = policy.next_update_due(facts.severity, facts.plan, start)
    if deadline.due is None:
        return ResponseClock(kind, "no_target", start, None, None, deadline.clause, ended_at=end)
    check = policy.breached(facts.severity, facts.plan, start, max(end or now, start), kind=kind)
    if end is not None:
        state: ClockState = "breached" if check.breached else "met"
    else:
        state = "breached" if check.breached else "due"
    return ResponseClock(
        kind, state, start, deadline.due, deadline.target, deadline.clause, end, business_elapsed=check.business_elapsed
    )


@dataclass(frozen=True, slots=True)
class DueSoon:
    """A running clock close to its target: which one, by which clause, how much time is left, when it is due."""

    kind: Kind
    clause: Clause
    started_at: datetime
    due: datetime | None
    left: timedelta  # business time for the business clause, real time for the elapsed one; <= 0 when breached


def due_soon(
    policy: SlaPolicy,
    status: SlaStatus,
    *,
    business_lead: timedelta,
    elapsed_lead: timedelta,
) -> DueSoon | None:
    """The running clock of `status` that will break its target within the lead time, else None.

    Each clause is measured in its own time: the business clause in business time left (warned only while the
    desk is open, since its clock does not move outside business hours), the "8 hours outside business hours"
    clause in real time left (warned at any hour). So outside business hours only the elapsed clause can warn.
    """
    running = [c for c in (status.initial, status.ongoing) if c.state in ("due", "breached") and c.ended_at is None]
    if not running or status.severity is None:
        return None
    clock = running[0]
    assert clock.started_at is not None
    target = policy.target(status.severity, status.plan, clock.kind)
    if target is None:  # pragma: no cover - a running clock has a target
        return None
    now = status.at
    calendar = policy.calendar
    found: list[DueSoon] = []
    elapsed_left = None
    if target.elapsed is not None:
        elapsed_left = target.elapsed - (now.astimezone(UTC) - clock.started_at.astimezone(UTC))
        if elapsed_left <= elapsed_lead:
            found.append(DueSoon(clock.kind, "elapsed", clock.started_at, clock.due, elapsed_left))
    business_left = target.business - calendar.between(clock.started_at, now)
    if business_left <= business_lead and calendar.is_open(now):
        found.append(DueSoon(clock.kind, "business", clock.started_at, clock.due, business_left))
    if not found:
        return None
    # Report the clause that breaks first (in real time, the elapsed one if both are near).
    return min(found, key=lambda d: (d.left > timedelta(0), d.clause == "business"))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
