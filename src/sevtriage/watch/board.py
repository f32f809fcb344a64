"""`SlaBoard`: the SLA status of stored requests, the waiting and breached lists, and recording responses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from sevtriage.errors import InputError
from sevtriage.sla import SlaFacts, SlaPolicy, SlaStatus, facts_from_events, sla_status
from sevtriage.store import DecisionStore, RequestEvent, StoredRequest

Listing = Literal["open", "waiting", "breached"]
LISTINGS: tuple[Listing, ...] = ("open", "waiting", "breached")


def _now() -> datetime:
    return datetime.now(UTC)


def facts_of(request: StoredRequest) -> SlaFacts:
    """The SLA facts of a stored request from its clock columns (kept in step with its events by the store)."""
    return SlaFacts(
        request_id=request.id,
        received_at=request.received_at,
        severity=request.severity,
        plan=request.plan,
        first_response_at=request.first_response_at,
        last_response_at=request.last_response_at,
        resolved_at=request.resolved_at,
    )


class SlaBoard:
    """Where stored requests stand against the SLA policy, for the API, the CLI, the desk and the alerts."""

    def __init__(self, store: DecisionStore, policy: SlaPolicy, *, clock: Callable[[], datetime] = _now) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock

    def status(self, request_id: str, *, now: datetime | None = None) -> tuple[SlaStatus, list[RequestEvent]]:
        """One request's status, computed from its events, and the events; `NotFound` when unknown."""
        request = self.store.get(request_id)
        events = self.store.events(request_id)
        facts = facts_from_events(request_id, events, plan=request.plan, severity=request.severity)
        return sla_status(self.policy, facts, now or self.clock()), events

    def of(self, request: StoredRequest, *, now: datetime | None = None) -> SlaStatus:
        """The status of a request already loaded (the desk's queue rows)."""
        return sla_status(self.policy, facts_of(request), now or self.clock())

    def listing(
        self, which: Listing = "open", *, limit: int | None = 200, now: datetime | None = None
    ) -> list[SlaStatus]:
        """Unresolved requests: all (``open``), those no response has reached (``waiting``), or those whose SLA is
        broken now (``breached``: the initial response late or missing past its target, or an update overdue).

        Most urgent first: breached before in time, then by the running deadline; no deadline last.
        """
        when = now or self.clock()
        rows = self.store.open_requests(waiting_only=which == "waiting")
        found = [self.of(r, now=when) for r in rows]
        if which == "breached":
            found = [s for s in found if s.breached]
        far = datetime.max.replace(tzinfo=UTC)
        found.sort(key=lambda s: (not s.breached, (s.next_due or far).astimezone(UTC), s.request_id))
        return found[:limit] if limit is not None else found

    def record_response(self, request_id: str, at: datetime | None, by: str, *, ref: str | None = None) -> SlaStatus:
        """Record a response (now when `at` is None) and return the request's status afterwards."""
        self.store.record_response(request_id, at or self.clock(), by, ref=ref)
        return self.status(request_id)[0]

    def record_resolved(self, request_id: str, at: datetime | None, by: str) -> SlaStatus:
        self.store.record_resolved(request_id, at or self.clock(), by)
        return self.status(request_id)[0]


def event_json(event: RequestEvent) -> dict[str, object]:
    return {
        "kind": event.kind,
        "at": event.at.isoformat(),
        "by": event.by,
        "from_severity": int(event.from_severity) if event.from_severity is not None else None,
        "to_severity": int(event.to_severity) if event.to_severity is not None else None,
        "ref": event.ref,
        "note": event.note,
    }


def parse_at(value: str, what: str) -> datetime:
    """An ISO-8601 instant with offset for an event time; `InputError` says how to write it."""
    text = value.strip()
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.utcoffset() is None:
        raise InputError(
            f"{what} must be an ISO-8601 instant with a UTC offset, e.g. 2026-11-27T16:50+01:00 or "
            f"2026-11-27T15:50Z; got {value!r}"
        )
    return instant
