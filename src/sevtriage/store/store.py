"""`DecisionStore`: the one module that talks to the database.

Requests and their suggested decisions come in from the batch intake and the service; specialists' actions come
in from the review desk. Every write is one transaction. Specialists' actions use optimistic concurrency: each
request row has a version number, an action names the version the specialist saw, and an action on a version
that has moved on is refused with `ReviewConflict` instead of overwriting the other specialist's work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, InterfaceError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement

from sevtriage.errors import ConfigError, InputError, NotStored, Problem, SevtriageError
from sevtriage.language import guess_language
from sevtriage.store import migrations
from sevtriage.store.codec import deadlines_from_json, deadlines_to_json, decision_from_json, decision_to_json
from sevtriage.store.schema import (
    actions,
    alerts,
    events,
    mail_cursors,
    mail_messages,
    requests,
    rule_matches,
    rule_reloads,
    sessions,
    sign_in_failures,
    users,
)
from sevtriage.text import MAX_PLAN_LENGTH, id_problem, storable
from sevtriage.types import Deadlines, Decision, MailEvent, MailRecord, Severity, Ticket

Status = Literal["pending", "auto", "accepted", "changed"]
EventKind = Literal["received", "follow_up", "response", "severity_changed", "resolved"]
EVENT_KINDS: tuple[EventKind, ...] = ("received", "follow_up", "response", "severity_changed", "resolved")
SYSTEM_ACTOR = "sevtriage"
REVIEWED: tuple[Status, ...] = ("accepted", "changed")
# The review reason a reviewed request gets back when a customer's follow-up makes it more severe.
ESCALATED = "escalated_by_follow_up"
# The deadlines of a severity counted from arrival; `SlaPolicy.deadlines` has exactly this shape.
DeadlineRule = Callable[[Severity, str | None, datetime], Deadlines | None]


class ReviewConflict(SevtriageError):
    """Someone else acted on the request after the specialist opened it; nothing was saved.

    Carries what happened (`last`, the latest line of the request's history) so that a page can say it in its
    own time zone (`describe`); `str()` says it in UTC.
    """

    def __init__(self, request_id: str, seen: int, now: int, last: Action | None) -> None:
        self.request_id = request_id
        self.seen = seen
        self.now = now
        self.last = last
        super().__init__(self.describe(UTC))

    def describe(self, zone: tzinfo) -> str:
        what = "changed"
        act = self.last
        if act is not None:
            when = act.at.astimezone(zone).strftime("%Y-%m-%d %H:%M ") + (act.at.astimezone(zone).tzname() or "")
            if act.kind == "accepted":
                what = f"accepted by {act.actor} at {when} (severity {_sev(act.to_severity)})"
            elif act.kind == "changed":
                what = (
                    f"changed by {act.actor} at {when} (severity {_sev(act.from_severity)} → {_sev(act.to_severity)})"
                )
            else:
                sev = f"{_sev(act.from_severity)} → {_sev(act.to_severity)}"
                what = f"given a new suggestion at {when} (severity {sev})"
        return (
            f"request {self.request_id} was {what} after you opened it (you saw version {self.seen}, it is now "
            f"version {self.now}); nothing was saved. Look at the request as it is now and act again."
        )


class NotFound(SevtriageError):
    """No stored request (or user) has that id."""


def _not_stored(error: Exception) -> NotStored:
    """What to tell the caller about a failed write, without the SQL or the request text it carried."""
    if isinstance(error, NotStored):
        return error
    if isinstance(error, SevtriageError):
        return NotStored(str(error), retryable=False)
    if isinstance(error, OperationalError | InterfaceError | TimeoutError):
        orig = getattr(error, "orig", None) or error
        first = str(orig).strip().splitlines()[0][:200] if str(orig).strip() else type(orig).__name__
        return NotStored(f"the decision store is out of reach ({first}); try again", retryable=True)
    orig = getattr(error, "orig", None) or error
    return NotStored(
        f"the decision store refused the request ({type(orig).__name__}); the server log has the details",
        retryable=False,
    )


def _dialect_insert(conn: Connection) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (SQLite 3.24+ and PostgreSQL 9.5+)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert
    if conn.dialect.name == "sqlite":
        return sqlite.insert
    raise ConfigError(f"the decision store supports SQLite and PostgreSQL; got {conn.dialect.name}")


class UserExists(SevtriageError):
    """An account with that name exists already."""


def _utc(value: datetime | None) -> datetime | None:
    """Aware instant to naive UTC for the database."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise InputError(f"times must carry a UTC offset; got the naive time {value.isoformat()}")
    return value.astimezone(UTC).replace(tzinfo=None)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Action:
    """One line of a request's history: who did what, when, from which severity to which, and why."""

    request_id: str
    actor: str
    at: datetime
    kind: str  # suggested, resuggested, accepted, changed
    from_severity: Severity | None
    to_severity: Severity | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One event in a request's life, for the SLA clock.

    `kind` is ``received``, ``follow_up`` (the customer wrote again), ``response`` (support answered),
    ``severity_changed`` (a review or a re-triage changed the severity in force) or ``resolved``. `at` is when it
    happened (an aware UTC instant), `by` who did it (a mail address, a specialist, ``sevtriage``), `ref` the
    caller's id for it (e.g. a Message-ID), `note` free text. `recorded_at` is when the store learnt of it.
    """

    request_id: str
    kind: EventKind
    at: datetime
    by: str | None
    from_severity: Severity | None
    to_severity: Severity | None
    ref: str | None
    note: str | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to create: `key` names it uniquely (request, kind, clock cycle, channel)."""

    key: str
    request_id: str
    kind: str
    channel: str
    subject: str
    text: str


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert as stored: what it says, where it goes, and how its delivery went."""

    id: int
    key: str
    request_id: str
    kind: str
    channel: str
    subject: str
    text: str
    status: str  # pending, sent, failed
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A request as the review desk sees it: the text, the suggestion, the outcome and its history."""

    id: str
    subject: str
    body: str
    fields: dict[str, str]
    plan: str | None
    received_at: datetime | None
    language: str
    suggested: Decision
    final_severity: Severity | None
    status: Status
    deadlines: Deadlines | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    history: tuple[Action, ...] = field(default=())
    # The SLA clock (see `DecisionStore.record_response`); None until a response / resolution is recorded.
    first_response_at: datetime | None = None
    last_response_at: datetime | None = None
    resolved_at: datetime | None = None

    @property
    def severity(self) -> Severity | None:
        """The severity in force: the specialist's when reviewed, else the suggestion."""
        return self.final_severity if self.final_severity is not None else self.suggested.severity

    @property
    def reviewed(self) -> bool:
        return self.status in REVIEWED

    @property
    def ticket(self) -> Ticket:
        return Ticket(
            id=self.id,
            subject=self.subject,
            body=self.body,
            received_at=self.received_at,
            plan=self.plan,
            extra=dict(self.fields),
        )


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the specialist narrowed the queue to; None means any."""

    severity: int | Literal["none"] | None = None
    plan: str | None = None
    reason: str | None = None
    language: str | None = None


ROLES = ("specialist", "lead")


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password_hash: str
    created_at: datetime
    active: bool
    # "specialist" or "lead": a lead also sees the desk's Rules page.
    role: str = "specialist"

    @property
    def is_lead(self) -> bool:
        return self.role == "lead"


@dataclass(frozen=True, slots=True)
class RuleCount:
    """One rule's record in the store: requests it matched, how many of them were reviewed, how many reviews
    ended at the rule's severity (its precision against reviews), and how many the specialist overrode (changed
    the suggested severity)."""

    rule_id: str
    severity: Severity | None
    matched: int
    reviewed: int
    agreed: int
    overridden: int

    @property
    def precision(self) -> float | None:
        return self.agreed / self.reviewed if self.reviewed else None

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.reviewed if self.reviewed else None


@dataclass(frozen=True, slots=True)
class Override:
    """A reviewed request whose suggested severity a specialist changed, under one of the rules it matched."""

    rule_id: str
    request_id: str
    subject: str
    suggested: Severity | None
    final: Severity | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class RuleReload:
    """One reload of the rules: when, who asked (desk user, api-token, sighup, cli), the outcome and the file."""

    at: datetime
    actor: str
    outcome: str  # applied, refused
    rules_version: str | None
    rules_sha256: str | None
    rules_path: str | None
    message: str | None


def _reasons_column(reasons: Iterable[str]) -> str:
    joined = "|".join(reasons)
    return f"|{joined}|" if joined else ""


def _queue_group() -> Any:
    # Requests with an initial-response deadline first (an overdue one is the earliest of all); then those with
    # no severity yet (they may be critical), then those whose severity has no response target.
    return case(
        (requests.c.initial_due.is_not(None), 0),
        (requests.c.suggested_severity.is_(None), 1),
        else_=2,
    )


def _queue_order() -> list[Any]:
    return [
        _queue_group(),
        requests.c.initial_due,
        # Explicit, because SQLite and PostgreSQL put NULLs at opposite ends by default.
        requests.c.received_at.asc().nulls_first(),
        requests.c.id,
    ]


def _queue_position(row: StoredRequest) -> tuple[int, datetime | None, datetime | None]:
    """Where `row` stands in `_queue_order`: its group, initial-response due time and arrival (naive UTC)."""
    initial = row.deadlines.initial_response.due if row.deadlines else None
    group = 0 if initial is not None else 1 if row.suggested.severity is None else 2
    return group, _utc(initial), _utc(row.received_at)


def _later_than(due: datetime | None, arrived: datetime | None, request_id: str) -> Any:
    """Rows of the same group that come after (due, arrived, id) in `_queue_order` (NULL arrivals first)."""
    c = requests.c
    if arrived is None:
        after_arrival = or_(c.received_at.is_not(None), and_(c.received_at.is_(None), c.id > request_id))
    else:
        after_arrival = or_(c.received_at > arrived, and_(c.received_at == arrived, c.id > request_id))
    if due is None:  # groups 1 and 2: no deadline on either side
        return after_arrival
    return or_(c.initial_due > due, and_(c.initial_due == due, after_arrival))


class DecisionStore:
    """Stored requests, suggested decisions, specialists' actions and accounts.

    Open with `DecisionStore.open(url)`: any SQLAlchemy URL (``sqlite:///sevtriage.db`` by default,
    ``postgresql+psycopg://...`` when several service processes share one store). Migrations run on open.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self.clock = clock

    # -- opening ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, *, clock: Callable[[], datetime] = _now) -> DecisionStore:
        """Connect to `url`, bring its schema up to date, and return the store.

        Raises `ConfigError` when the URL is not a database URL, the driver is missing or the database is out
        of reach, with what to do about it.
        """
        engine = _create_engine(url)
        shown = engine.url.render_as_string(hide_password=True)
        store = cls(engine, clock=clock)
        try:
            with store._write() as conn:
                migrations.migrate(conn, where=shown)
        except OperationalError as error:
            engine.dispose()
            raise ConfigError(
                Problem(
                    shown,
                    None,
                    f"cannot open the decision store: {error.orig}; check store_url (SEVTRIAGE_STORE_URL) and that "
                    "the database is reachable",
                )
            ) from None
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> DecisionStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE)."""
        with self.engine.connect() as conn:
            conn.execution_options(sevtriage_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def schema_version(self) -> int:
        with self._read() as conn:
            return migrations.current_version(conn)

    # -- suggestions in --------------------------------------------------------------------------------------
    def save(self, ticket: Ticket, decision: Decision) -> None:
        """Store one request with its suggested decision (see `save_many`)."""
        self.save_many([(ticket, decision)])

    def save_many(self, pairs: Iterable[tuple[Ticket, Decision]]) -> int:
        """Store requests with their suggested decisions in one transaction; return how many rows changed.

        A new id is inserted. A known id that no specialist has reviewed yet gets the new suggestion (its version
        moves on, so a specialist looking at the old one gets a conflict). A reviewed request is left alone:
        the specialist's word stands. If anything fails, nothing of the batch is written.
        """
        now = self.clock()
        changed = 0
        with self._write() as conn:
            batch: list[tuple[Ticket, Decision]] = []
            for pair in pairs:
                batch.append(pair)
                if len(batch) >= 500:
                    changed += self._save_batch(conn, batch, now)
                    batch = []
            if batch:
                changed += self._save_batch(conn, batch, now)
        return changed

    def save_each(self, pairs: Sequence[tuple[Ticket, Decision]]) -> list[NotStored | None]:
        """Store each pair, and say for each whether it is stored (None) or why not (`NotStored`).

        The pairs are written in one transaction first. If that fails, each pair is written again in a
        transaction of its own, so that one request the database refuses costs only itself, never the requests
        that happened to share its batch (the service coalesces concurrent calls into one batch).
        """
        if not pairs:
            return []
        try:
            self.save_many(pairs)
            return [None] * len(pairs)
        except Exception as error:
            if len(pairs) == 1:
                return [_not_stored(error)]
        outcomes: list[NotStored | None] = []
        for one in pairs:
            try:
                self.save_many([one])
                outcomes.append(None)
            except Exception as error:
                outcomes.append(_not_stored(error))
        return outcomes

    def _save_batch(self, conn: Connection, batch: Sequence[tuple[Ticket, Decision]], now: datetime) -> int:
        by_id: dict[str, tuple[Ticket, Decision]] = {}
        for ticket, decision in batch:
            if ticket.id != decision.id:
                raise InputError(f"ticket id {ticket.id!r} and decision id {decision.id!r} differ; pair them by id")
            problem = id_problem(ticket.id)
            if problem is not None:
                raise InputError(problem)
            by_id[ticket.id] = (ticket, decision)
        stamp = _utc(now)
        values = {request_id: self._row_values(t, d) for request_id, (t, d) in by_id.items()}
        # Insert-or-skip in one statement (INSERT ... ON CONFLICT DO NOTHING), in id order so that two writers
        # with overlapping ids take their locks in the same order. A select-then-insert would let two writers
        # both see an id as new, and the second one would fail on the primary key (issue 10, item 2).
        ordered = sorted(by_id)
        inserted: set[str] = set()
        if ordered:
            statement = (
                _dialect_insert(conn)(requests)
                .on_conflict_do_nothing(index_elements=[requests.c.id])
                .returning(requests.c.id)
            )
            rows = [{**values[i], "id": i, "created_at": stamp, "updated_at": stamp, "version": 1} for i in ordered]
            inserted = {row.id for row in conn.execute(statement, rows)}
        history: list[dict[str, Any]] = []
        new_events: list[dict[str, Any]] = []
        changed = len(inserted)
        for request_id in ordered:
            if request_id in inserted:
                decision = by_id[request_id][1]
                severity = int(decision.severity) if decision.severity is not None else None
                history.append(self._history_row(request_id, now, "suggested", None, severity, decision))
                arrived = values[request_id]["received_at"] or stamp
                new_events.append(
                    _event_row(request_id, "received", arrived, SYSTEM_ACTOR, stamp, to_severity=severity)
                )
        known = [i for i in ordered if i not in inserted]
        if known:
            # Locked (on PostgreSQL) until the end of the transaction, so that two writers re-suggesting the same
            # request take turns instead of both reading the old suggestion.
            existing = {
                row.id: row
                for row in conn.execute(
                    select(
                        requests.c.id,
                        requests.c.status,
                        requests.c.suggested_json,
                        requests.c.subject,
                        requests.c.body,
                        requests.c.suggested_severity,
                    )
                    .where(requests.c.id.in_(known))
                    .order_by(requests.c.id)
                    .with_for_update()
                )
            }
            for request_id in known:
                ticket, decision = by_id[request_id]
                row_values = values[request_id]
                old = existing[request_id]
                severity = int(decision.severity) if decision.severity is not None else None
                if old.status in REVIEWED:
                    continue
                current = (row_values["suggested_json"], row_values["subject"], row_values["body"])
                if (old.suggested_json, old.subject, old.body) == current:
                    continue
                conn.execute(
                    update(requests)
                    .where(requests.c.id == request_id)
                    .values(**row_values, updated_at=stamp, version=requests.c.version + 1)
                )
                history.append(
                    self._history_row(request_id, now, "resuggested", old.suggested_severity, severity, decision)
                )
                if old.suggested_severity != severity:
                    new_events.append(
                        _event_row(
                            request_id,
                            "severity_changed",
                            stamp,
                            SYSTEM_ACTOR,
                            stamp,
                            from_severity=old.suggested_severity,
                            to_severity=severity,
                            note="re-triaged",
                        )
                    )
                changed += 1
        if history:
            conn.execute(insert(actions), history)
        if new_events:
            conn.execute(insert(events), new_events)
        # The matched rules of every request whose suggestion was written just now (new or re-suggested).
        written = sorted({row["request_id"] for row in history})
        _replace_matches(conn, [(i, by_id[i][1]) for i in written], fresh=inserted)
        return changed

    @staticmethod
    def _row_values(ticket: Ticket, decision: Decision) -> dict[str, Any]:
        # The same rule as the intake boundary (`sevtriage.text.storable`), for callers of the Python API.
        fields = {storable(str(k)): storable(str(v)) for k, v in ticket.extra.items()}
        language = fields.get("language") or guess_language(ticket.text)
        initial = decision.deadlines.initial_response.due if decision.deadlines else None
        plan = ticket.plan or decision.plan
        if plan is not None and len(plan) > MAX_PLAN_LENGTH:
            raise InputError(f"plan is {len(plan)} characters long; plans may have at most {MAX_PLAN_LENGTH}")
        return {
            "subject": storable(ticket.subject),
            "body": storable(ticket.body),
            "fields_json": json.dumps(fields, ensure_ascii=False, sort_keys=True),
            "plan": storable(plan) if plan is not None else None,
            "received_at": _utc(ticket.received_at or decision.received_at),
            "language": storable(language[:8]),
            "suggested_json": storable(decision_to_json(decision)),
            "suggested_severity": int(decision.severity) if decision.severity is not None else None,
            "suggested_source": decision.source,
            "confidence": float(decision.confidence),
            "needs_review": bool(decision.needs_review),
            "review_reasons": _reasons_column(decision.review_reasons),
            "final_severity": None,
            "status": "pending" if decision.needs_review else "auto",
            "deadlines_json": deadlines_to_json(decision.deadlines),
            "initial_due": _utc(initial),
            "reviewed_by": None,
            "reviewed_at": None,
        }

    @staticmethod
    def _history_row(
        request_id: str, at: datetime, kind: str, old: int | None, new: int | None, decision: Decision
    ) -> dict[str, Any]:
        why = ", ".join(decision.review_reasons) if decision.review_reasons else "no review needed"
        source = decision.source or "nothing decided"
        return {
            "request_id": request_id,
            "actor": SYSTEM_ACTOR,
            "at": _utc(at),
            "kind": kind,
            "from_severity": old,
            "to_severity": new,
            "reason": f"{source}; {why}",
        }

    # -- specialists' actions --------------------------------------------------------------------------------
    def review(
        self,
        request_id: str,
        *,
        actor: str,
        expected_version: int,
        action: Literal["accept", "change"],
        severity: Severity | int | None = None,
        reason: str | None = None,
        deadlines: Callable[[Severity, StoredRequest], Deadlines | None] | None = None,
    ) -> StoredRequest:
        """Accept the severity in force, or change it (a reason is required); return the request afterwards.

        `expected_version` is the version the specialist saw. If the request moved on since, nothing is saved
        and `ReviewConflict` says who changed it, when and how. `deadlines(severity, request)` recomputes the
        response deadlines for a changed severity (from the arrival time); without it they stay as they were.
        """
        now = self.clock()
        reason = (reason or "").strip() or None
        with self._write() as conn:
            current = self._load(conn, request_id, with_history=False)
            if current.version != expected_version:
                last = self._last_action(conn, request_id)
                if current.version == expected_version + 1 and _repeats(last, actor, action, severity):
                    # The same specialist's same action on the same version, sent again (a re-posted form, a
                    # double click): it happened once, and that is the answer.
                    return self._load(conn, request_id, with_history=True)
                raise ReviewConflict(current.id, expected_version, current.version, last)
            before = current.severity
            if action == "accept" and current.reviewed and current.reviewed_by == actor:
                # Accepting one's own decision again changes nothing, so nothing is recorded (it would count twice
                # in the review load). Another specialist's accept is a second opinion and is recorded.
                return self._load(conn, request_id, with_history=True)
            if action == "accept":
                if before is None:
                    raise InputError(
                        f"request {request_id} has no suggested severity to accept; choose a severity (1-4) "
                        "and give a reason"
                    )
                after = before
                kind = "accepted"
            elif action == "change":
                if severity is None:
                    raise InputError("changing the severity needs the new severity: one of 1, 2, 3, 4")
                after = Severity.parse(severity)
                if reason is None:
                    raise InputError(
                        f"changing the severity of {request_id} to {int(after)} needs a reason; write why the "
                        "suggestion was wrong (it is kept in the history and helps fix the rules)"
                    )
                if after == before:
                    raise InputError(
                        f"request {request_id} already has severity {int(after)}; to keep it, accept instead"
                    )
                kind = "changed"
            else:  # pragma: no cover - the web layer and the CLI only pass the two literals
                raise InputError(f"action must be one of accept, change; got {action!r}")
            new_deadlines = current.deadlines
            if deadlines is not None and (after != before or new_deadlines is None):
                new_deadlines = deadlines(after, current)
            initial = new_deadlines.initial_response.due if new_deadlines else None
            result = conn.execute(
                update(requests)
                .where(and_(requests.c.id == request_id, requests.c.version == expected_version))
                .values(
                    final_severity=int(after),
                    # The outcome, whichever action led to it: did the specialist end where the suggestion was?
                    status="accepted" if after == current.suggested.severity else "changed",
                    deadlines_json=deadlines_to_json(new_deadlines),
                    initial_due=_utc(initial),
                    reviewed_by=actor,
                    reviewed_at=_utc(now),
                    updated_at=_utc(now),
                    version=expected_version + 1,
                )
            )
            if result.rowcount != 1:
                # Another process committed between our read and our write (possible on PostgreSQL).
                moved = self._load(conn, request_id, with_history=False)
                raise ReviewConflict(request_id, expected_version, moved.version, self._last_action(conn, request_id))
            conn.execute(
                insert(actions).values(
                    request_id=request_id,
                    actor=actor,
                    at=_utc(now),
                    kind=kind,
                    from_severity=int(before) if before is not None else None,
                    to_severity=int(after),
                    reason=reason,
                )
            )
            if after != before:
                conn.execute(
                    insert(events).values(
                        _event_row(
                            request_id,
                            "severity_changed",
                            _utc(now),
                            actor,
                            _utc(now),
                            from_severity=int(before) if before is not None else None,
                            to_severity=int(after),
                            note=reason,
                        )
                    )
                )
            return self._load(conn, request_id, with_history=True)

    @staticmethod
    def _last_action(conn: Connection, request_id: str) -> Action | None:
        last = (
            conn.execute(
                select(actions).where(actions.c.request_id == request_id).order_by(actions.c.id.desc()).limit(1)
            )
            .mappings()
            .first()
        )
        return _action(last) if last is not None else None

    # -- events: the SLA clock -------------------------------------------------------------------------------
    def record_response(
        self, request_id: str, at: datetime, by: str, *, ref: str | None = None, note: str | None = None
    ) -> bool:
        """Record that support answered the customer at `at` (`by`: who answered, e.g. the support address).

        The first response stops the initial-response clock; the latest one starts the ongoing one (the next
        update is due a target after it). Responses may be recorded in any order. With `ref` (e.g. the reply's
        Message-ID) recording the same response again changes nothing, so a restarted mail import is safe.
        Returns True when the response was new. Raises `NotFound` for an unknown request and `InputError` for a
        naive time or one before the request arrived.
        """
        return self._record(request_id, "response", at, by, ref=ref, note=note)

    def record_follow_up(
        self,
        request_id: str,
        at: datetime,
        decision: Decision | None = None,
        *,
        by: str | None = None,
        ref: str | None = None,
        note: str | None = None,
        deadlines: DeadlineRule | None = None,
    ) -> StoredRequest:
        """Record that the customer wrote again at `at`, with the re-triage of the request (`decision`) if any.

        When the re-triage gives another severity than the one in force, the request takes it and its deadlines
        are recomputed from arrival (not from the follow-up) with `deadlines(severity, plan, received_at)`, e.g.
        ``policy.deadlines``; a ``severity_changed`` event records it. A specialist's reviewed severity stands
        against a milder re-triage, but a more severe one sends the request back to the review queue (reason
        ``escalated_by_follow_up``) with the new suggestion in force. A follow-up reopens a resolved request.
        `ref` makes the call idempotent like `record_response`. Returns the request afterwards.
        """
        if decision is not None and decision.id != request_id:
            raise InputError(f"the decision is for {decision.id!r}, not {request_id!r}; pair them by id")
        if decision is not None and decision.severity is not None and deadlines is None:
            raise InputError(
                "record_follow_up with a decision needs deadlines=..., the rule that gives a severity's deadlines "
                "from arrival (pass SlaPolicy.deadlines)"
            )
        self._record(request_id, "follow_up", at, by, ref=ref, note=note, decision=decision, deadlines=deadlines)
        return self.get(request_id)

    def record_resolved(self, request_id: str, at: datetime, by: str, *, note: str | None = None) -> bool:
        """Record that the request is solved: its clocks stop and it leaves the SLA lists until a follow-up."""
        return self._record(request_id, "resolved", at, by, note=note)

    def events(self, request_id: str) -> list[RequestEvent]:
        """The request's events in the order they happened (ties in the order recorded); `NotFound` if unknown."""
        with self._read() as conn:
            found = conn.execute(select(requests.c.id).where(requests.c.id == request_id)).first()
            if found is None:
                raise NotFound(f"no stored request has the id {request_id!r}")
            rows = conn.execute(
                select(events).where(events.c.request_id == request_id).order_by(events.c.at, events.c.id)
            ).mappings()
            return [_event(row) for row in rows]

    def open_requests(
        self, *, waiting_only: bool = False, limit: int | None = None, ids: Sequence[str] | None = None
    ) -> list[StoredRequest]:
        """Unresolved requests for the SLA lists, earliest initial deadline first.

        `waiting_only` keeps those that no response has reached yet; `ids` narrows to given requests.
        """
        query = select(requests).where(requests.c.resolved_at.is_(None))
        if waiting_only:
            query = query.where(requests.c.first_response_at.is_(None))
        if ids is not None:
            query = query.where(requests.c.id.in_(list(ids)))
        query = query.order_by(*_queue_order())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_stored(row, ()) for row in conn.execute(query).mappings()]

    def _record(
        self,
        request_id: str,
        kind: EventKind,
        at: datetime,
        by: str | None,
        *,
        ref: str | None = None,
        note: str | None = None,
        decision: Decision | None = None,
        deadlines: DeadlineRule | None = None,
    ) -> bool:
        now = self.clock()
        try:
            with self._write() as conn:
                return self._record_in(
                    conn, request_id, kind, at, by, now, ref=ref, note=note, decision=decision, deadlines=deadlines
                )
        except IntegrityError:
            # Someone recorded the same ref between our check and our insert (PostgreSQL, two importers).
            if (ref or "").strip():
                return False
            raise

    def _record_in(
        self,
        conn: Connection,
        request_id: str,
        kind: EventKind,
        at: datetime,
        by: str | None,
        now: datetime,
        *,
        ref: str | None = None,
        note: str | None = None,
        decision: Decision | None = None,
        deadlines: DeadlineRule | None = None,
    ) -> bool:
        """`_record` inside the caller's transaction."""
        when = _utc(at)
        assert when is not None
        ref = (ref or "").strip() or None
        current = self._load(conn, request_id, with_history=False)
        if current.received_at is not None and at.astimezone(UTC) < current.received_at:
            raise InputError(
                f"a {kind.replace('_', ' ')} of {request_id} at {at.isoformat()} would be before the request "
                f"arrived ({current.received_at.isoformat()}); check the time and its UTC offset"
            )
        if ref is not None and self._has_ref(conn, request_id, kind, ref):
            return False
        conn.execute(insert(events).values(_event_row(request_id, kind, when, by, _utc(now), ref=ref, note=note)))
        clock: dict[str, Any] = {}
        if kind == "response":
            first = current.first_response_at
            last = current.last_response_at
            clock["first_response_at"] = when if first is None or at < first else _utc(first)
            clock["last_response_at"] = when if last is None or at > last else _utc(last)
        elif kind == "resolved":
            clock["resolved_at"] = when
        elif kind == "follow_up" and current.resolved_at is not None and at > current.resolved_at:
            clock["resolved_at"] = None
        if clock:
            conn.execute(update(requests).where(requests.c.id == request_id).values(**clock))
        if decision is not None and decision.severity is not None and deadlines is not None:
            self._retriage(conn, current, decision, deadlines, now, by)
        return True

    @staticmethod
    def _has_ref(conn: Connection, request_id: str, kind: str, ref: str) -> bool:
        query = select(events.c.id).where(events.c.request_id == request_id, events.c.kind == kind, events.c.ref == ref)
        return conn.execute(query).first() is not None

    def _retriage(
        self,
        conn: Connection,
        current: StoredRequest,
        decision: Decision,
        deadlines: DeadlineRule,
        now: datetime,
        by: str | None,
    ) -> None:
        """Apply a follow-up's re-triage when it changes the severity in force (see `record_follow_up`)."""
        before = current.severity
        after = decision.severity
        assert after is not None
        if after == before:
            return
        if current.reviewed and before is not None and after > before:
            return  # milder than the specialist's severity: the specialist's word stands
        arrival = current.received_at or decision.received_at
        new_deadlines = deadlines(after, current.plan, arrival) if arrival is not None else None
        ticket = replace(current.ticket, received_at=arrival)
        decided = replace(decision, received_at=arrival, deadlines=new_deadlines)
        if current.reviewed:
            # The specialist decided on a milder request; they must see what the customer wrote since.
            reasons = (
                decision.review_reasons
                if ESCALATED in decision.review_reasons
                else (*decision.review_reasons, ESCALATED)
            )
            decided = replace(decided, needs_review=True, review_reasons=reasons)
        values = self._row_values(ticket, decided)
        conn.execute(
            update(requests)
            .where(requests.c.id == current.id)
            .values(**values, updated_at=_utc(now), version=requests.c.version + 1)
        )
        _replace_matches(conn, [(current.id, decided)], fresh=set())
        stamp = _utc(now)
        old = int(before) if before is not None else None
        conn.execute(
            insert(actions).values(self._history_row(current.id, now, "resuggested", old, int(after), decided))
        )
        conn.execute(
            insert(events).values(
                _event_row(
                    current.id,
                    "severity_changed",
                    stamp,
                    SYSTEM_ACTOR,
                    stamp,
                    from_severity=old,
                    to_severity=int(after),
                    note=f"re-triaged after a follow-up{f' from {by}' if by else ''}",
                )
            )
        )

    # -- alerts ----------------------------------------------------------------------------------------------
    def add_alerts(self, new: Sequence[NewAlert]) -> int:
        """Create alerts that do not exist yet (by `key`); return how many were created.

        The unique key makes this safe to call again and again, from several processes and after restarts: an
        alert is created once, so it is sent once (per channel).
        """
        if not new:
            return 0
        stamp = _utc(self.clock())
        rows = [
            {
                "key": a.key,
                "request_id": a.request_id,
                "kind": a.kind,
                "channel": a.channel,
                "subject": storable(a.subject),
                "text": storable(a.text),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": stamp,
                "last_error": None,
                "created_at": stamp,
                "sent_at": None,
            }
            for a in sorted(new, key=lambda a: a.key)
        ]
        with self._write() as conn:
            statement = (
                _dialect_insert(conn)(alerts)
                .on_conflict_do_nothing(index_elements=[alerts.c.key])
                .returning(alerts.c.id)
            )
            return len(list(conn.execute(statement, rows)))

    def alerts_due(self, *, limit: int = 100) -> list[AlertRecord]:
        """Pending alerts whose next attempt is due now, oldest first."""
        query = (
            select(alerts)
            .where(alerts.c.status == "pending", alerts.c.next_attempt_at <= _utc(self.clock()))
            .order_by(alerts.c.next_attempt_at, alerts.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_alert(row) for row in conn.execute(query).mappings()]

    def alert_attempted(self, alert_id: int, *, error: str | None, retry_at: datetime | None) -> None:
        """Record one delivery attempt: sent (`error` None), to retry at `retry_at`, or given up (no `retry_at`)."""
        now = _utc(self.clock())
        values: dict[str, Any] = {"attempts": alerts.c.attempts + 1, "last_error": error}
        if error is None:
            values.update(status="sent", sent_at=now, next_attempt_at=None)
        elif retry_at is not None:
            values.update(next_attempt_at=_utc(retry_at))
        else:
            values.update(status="failed", next_attempt_at=None)
        with self._write() as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))

    def alerts(self, *, status: str | None = None, limit: int | None = 100) -> list[AlertRecord]:
        """Alerts, newest first (what was sent, what waits for a retry, what failed)."""
        query = select(alerts).order_by(alerts.c.created_at.desc(), alerts.c.id.desc())
        if status is not None:
            query = query.where(alerts.c.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_alert(row) for row in conn.execute(query).mappings()]

    def alert_candidates(self, since: datetime) -> list[StoredRequest]:
        """Requests received (or stored) since `since` that are severity 1 or flagged possible_critical."""
        critical = or_(
            requests.c.final_severity == 1,
            and_(requests.c.final_severity.is_(None), requests.c.suggested_severity == 1),
            and_(requests.c.status == "pending", requests.c.review_reasons.contains("|possible_critical|")),
        )
        recent = func.coalesce(requests.c.received_at, requests.c.created_at) >= _utc(since)
        query = select(requests).where(critical, recent).order_by(requests.c.created_at, requests.c.id)
        with self._read() as conn:
            return [_stored(row, ()) for row in conn.execute(query).mappings()]

    # -- reading ---------------------------------------------------------------------------------------------
    def get(self, request_id: str) -> StoredRequest:
        """The stored request with its history; `NotFound` when there is none."""
        with self._read() as conn:
            return self._load(conn, request_id, with_history=True)

    def _load(self, conn: Connection, request_id: str, *, with_history: bool) -> StoredRequest:
        row = conn.execute(select(requests).where(requests.c.id == request_id)).mappings().first()
        if row is None:
            raise NotFound(f"no stored request has the id {request_id!r}")
        history: tuple[Action, ...] = ()
        if with_history:
            history = tuple(
                _action(a)
                for a in conn.execute(
                    select(actions).where(actions.c.request_id == request_id).order_by(actions.c.id)
                ).mappings()
            )
        return _stored(row, history)

    def _filtered(self, where: QueueFilter) -> Any:
        query = select(requests).where(requests.c.needs_review.is_(True), requests.c.status == "pending")
        if where.severity == "none":
            query = query.where(requests.c.suggested_severity.is_(None))
        elif where.severity is not None:
            query = query.where(requests.c.suggested_severity == int(where.severity))
        if where.plan:
            query = query.where(requests.c.plan == where.plan)
        if where.language:
            query = query.where(requests.c.language == where.language)
        if where.reason:
            query = query.where(requests.c.review_reasons.contains(f"|{where.reason}|", autoescape=True))
        return query

    def queue(self, where: QueueFilter | None = None, *, limit: int | None = 200) -> list[StoredRequest]:
        """Requests waiting for review, most urgent first (see `_queue_order`)."""
        query = self._filtered(where or QueueFilter()).order_by(*_queue_order())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_stored(row, ()) for row in conn.execute(query).mappings()]

    def count_queue(self, where: QueueFilter | None = None) -> int:
        query = self._filtered(where or QueueFilter())
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())

    def next_in_queue(self, after: StoredRequest, where: QueueFilter | None = None) -> StoredRequest | None:
        """The waiting request after `after` in queue order, wrapping around; None when nothing else waits.

        One query that reads one row: the waiting requests whose queue key is above `after`'s come first, then
        the rest (the wrap-around), each part in queue order. The comparison happens in the database, so its
        collation orders ids the same way as the queue does. `after` need not be waiting any more (it was just
        reviewed): its key then says where it would stand.
        """
        group, due, arrived = _queue_position(after)
        key = _queue_group()
        is_later = or_(
            key > group,
            and_(key == group, _later_than(due, arrived, after.id)),
        )
        query = (
            self._filtered(where or QueueFilter())
            .where(requests.c.id != after.id)
            .order_by(case((is_later, 0), else_=1), *_queue_order())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return _stored(row, ()) if row is not None else None

    def queue_facets(self) -> dict[str, list[str]]:
        """The plans, languages and review reasons present in the queue, for the filter menus."""
        base = self._filtered(QueueFilter()).subquery()
        with self._read() as conn:
            plans = sorted(p for (p,) in conn.execute(select(base.c.plan).distinct()) if p)
            languages = sorted(x for (x,) in conn.execute(select(base.c.language).distinct()) if x)
            reasons = sorted(
                {r for (raw,) in conn.execute(select(base.c.review_reasons).distinct()) for r in raw.split("|") if r}
            )
        return {"plan": plans, "language": languages, "reason": reasons}

    def reviewed(self) -> list[StoredRequest]:
        """Every request a specialist has accepted or changed, oldest review first."""
        query = select(requests).where(requests.c.status.in_(REVIEWED)).order_by(requests.c.reviewed_at, requests.c.id)
        with self._read() as conn:
            return [_stored(row, ()) for row in conn.execute(query).mappings()]

    def actions(self, *, kinds: Sequence[str] | None = None) -> list[Action]:
        query = select(actions).order_by(actions.c.at, actions.c.id)
        if kinds is not None:
            query = query.where(actions.c.kind.in_(list(kinds)))
        with self._read() as conn:
            return [_action(row) for row in conn.execute(query).mappings()]

    # -- the Rules page -----------------------------------------------------------------------------------------
    def rule_counts(self) -> list[RuleCount]:
        """Per rule (and the severity it gave), what the store holds: one GROUP BY over `rule_matches`."""
        reviewed = requests.c.status.in_(REVIEWED)
        query = (
            select(
                rule_matches.c.rule_id,
                rule_matches.c.severity,
                func.count(),
                func.sum(case((reviewed, 1), else_=0)),
                func.sum(case((and_(reviewed, requests.c.final_severity == rule_matches.c.severity), 1), else_=0)),
                func.sum(case((requests.c.status == "changed", 1), else_=0)),
            )
            .join(requests, requests.c.id == rule_matches.c.request_id)
            .group_by(rule_matches.c.rule_id, rule_matches.c.severity)
            .order_by(rule_matches.c.rule_id, rule_matches.c.severity)
        )
        with self._read() as conn:
            return [
                RuleCount(
                    rule_id=rule_id,
                    severity=_maybe_severity(severity),
                    matched=int(matched),
                    reviewed=int(seen or 0),
                    agreed=int(agreed or 0),
                    overridden=int(overridden or 0),
                )
                for rule_id, severity, matched, seen, agreed, overridden in conn.execute(query)
            ]

    def recent_overrides(self, *, per_rule: int = 5) -> list[Override]:
        """The latest `per_rule` overridden requests of every rule, newest first (one windowed query)."""
        newest = (
            func.row_number()
            .over(
                partition_by=rule_matches.c.rule_id,
                order_by=(requests.c.reviewed_at.desc(), requests.c.id.desc()),
            )
            .label("n")
        )
        ranked = (
            select(
                rule_matches.c.rule_id,
                requests.c.id,
                requests.c.subject,
                requests.c.body,
                requests.c.suggested_severity,
                requests.c.final_severity,
                requests.c.reviewed_by,
                requests.c.reviewed_at,
                newest,
            )
            .join(requests, requests.c.id == rule_matches.c.request_id)
            .where(requests.c.status == "changed")
            .subquery()
        )
        # The reason of the specialist's latest change (actions are indexed by request and id).
        reason = (
            select(actions.c.reason)
            .where(actions.c.request_id == ranked.c.id, actions.c.kind == "changed")
            .order_by(actions.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = (
            select(ranked, reason.label("reason")).where(ranked.c.n <= per_rule).order_by(ranked.c.rule_id, ranked.c.n)
        )
        with self._read() as conn:
            return [
                Override(
                    rule_id=row["rule_id"],
                    request_id=row["id"],
                    subject=row["subject"] or row["body"][:80],
                    suggested=_maybe_severity(row["suggested_severity"]),
                    final=_maybe_severity(row["final_severity"]),
                    reviewed_by=row["reviewed_by"],
                    reviewed_at=_aware(row["reviewed_at"]),
                    reason=row["reason"],
                )
                for row in conn.execute(query).mappings()
            ]

    def diff_requests(self, *, limit: int | None = None) -> list[tuple[Ticket, Severity | None]]:
        """Stored requests for `rules diff`: each with the specialist's final severity as its label when reviewed.

        Newest first when `limit` cuts the history short; one query, no decision JSON decoded.
        """
        query = _diff_columns().order_by(requests.c.created_at.desc(), requests.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_diff_row(row) for row in reversed(rows)]

    def diff_request_batches(self, *, size: int = 2000) -> Iterator[list[tuple[Ticket, Severity | None]]]:
        """Every stored request as `diff_requests` gives it, in id order, `size` at a time (memory stays flat).

        Keyset pages on the primary key, each read in a short transaction of its own, so no read holds the
        database for the whole walk; a request stored meanwhile shows up only if its id sorts after the page.
        """
        if size < 1:
            raise ValueError(f"size must be at least 1; got {size}")
        last: str | None = None
        while True:
            query = _diff_columns().order_by(requests.c.id).limit(size)
            if last is not None:
                query = query.where(requests.c.id > last)
            with self._read() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            yield [_diff_row(row) for row in rows]
            if len(rows) < size:
                return
            last = rows[-1].id

    def count_requests(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(requests)).scalar_one())

    def record_reload(
        self,
        *,
        actor: str,
        outcome: Literal["applied", "refused"],
        rules_version: str | None,
        rules_sha256: str | None,
        rules_path: str | None,
        message: str | None = None,
    ) -> None:
        """Add a reload of the rules to the audit history."""
        with self._write() as conn:
            conn.execute(
                insert(rule_reloads).values(
                    at=_utc(self.clock()),
                    actor=actor[:64],
                    outcome=outcome,
                    rules_version=rules_version[:200] if rules_version else None,
                    rules_sha256=rules_sha256,
                    rules_path=rules_path,
                    message=message,
                )
            )

    def rule_reloads(self, *, limit: int = 50) -> list[RuleReload]:
        """The latest reloads of the rules, newest first."""
        query = select(rule_reloads).order_by(rule_reloads.c.at.desc(), rule_reloads.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [
                RuleReload(
                    at=_aware(row["at"]) or _now(),
                    actor=row["actor"],
                    outcome=row["outcome"],
                    rules_version=row["rules_version"],
                    rules_sha256=row["rules_sha256"],
                    rules_path=row["rules_path"],
                    message=row["message"],
                )
                for row in conn.execute(query).mappings()
            ]

    def counts(self) -> dict[str, int]:
        """How many stored requests are in each status."""
        with self._read() as conn:
            rows = conn.execute(select(requests.c.status, func.count()).group_by(requests.c.status)).all()
        return {str(status): int(n) for status, n in rows}

    # -- e-mail threads and IMAP positions ----------------------------------------------------------------------
    def save_mail(self, pairs: Sequence[tuple[Ticket, Decision]], records: Sequence[MailRecord]) -> None:
        """Store new requests (as `save_many`) and the messages that opened them, in one transaction.

        So a request is never stored without its Message-ID: an import interrupted and run again finds the
        message and skips it instead of storing the request a second time.
        """
        now = self.clock()
        with self._write() as conn:
            for start in range(0, len(pairs), 500):
                self._save_batch(conn, pairs[start : start + 500], now)
            self._remember(conn, records)

    def save_mail_events(self, items: Sequence[MailEvent], *, deadlines: DeadlineRule | None = None) -> None:
        """Record responses and follow-ups from e-mail with their messages, in order, in one transaction.

        Each item has the effect of `record_response` / `record_follow_up` (with `deadlines` for a re-triage)
        followed by `remember_mail` of its record; the items are applied in the order given, so a later follow-up
        sees the severity an earlier one set. If anything fails, nothing of the batch is written, except that a
        ref recorded by someone else meanwhile (two importers on PostgreSQL) makes the items go one by one.
        """
        for item in items:
            decision = item.decision
            if decision is not None and decision.id != item.request_id:
                raise InputError(f"the decision is for {decision.id!r}, not {item.request_id!r}; pair them by id")
            if decision is not None and decision.severity is not None and deadlines is None:
                raise InputError(
                    "save_mail_events with a re-triage needs deadlines=..., the rule that gives a severity's "
                    "deadlines from arrival (pass SlaPolicy.deadlines)"
                )
        if not items:
            return
        now = self.clock()
        try:
            with self._write() as conn:
                for item in items:
                    self._record_in(
                        conn,
                        item.request_id,
                        item.kind,
                        item.at,
                        item.by,
                        now,
                        ref=item.ref,
                        note=item.note,
                        decision=item.decision,
                        deadlines=deadlines,
                    )
                self._remember(conn, [item.record for item in items])
        except IntegrityError:
            for item in items:
                self._record(
                    item.request_id,
                    item.kind,
                    item.at,
                    item.by,
                    ref=item.ref,
                    note=item.note,
                    decision=item.decision,
                    deadlines=deadlines,
                )
                self.remember_mail([item.record])

    def tickets(self, request_ids: Sequence[str]) -> dict[str, Ticket]:
        """The stored requests' tickets (as `get(id).ticket`) by id, read at once; unknown ids are left out."""
        found: dict[str, Ticket] = {}
        unique = sorted(set(request_ids))
        with self._read() as conn:
            for start in range(0, len(unique), 500):
                query = select(requests).where(requests.c.id.in_(unique[start : start + 500]))
                for row in conn.execute(query).mappings():
                    found[row["id"]] = _stored(row, ()).ticket
        return found

    def mail_records(self, message_ids: Sequence[str]) -> dict[str, MailRecord]:
        """The records of those of `message_ids` that are known messages, by Message-ID, read at once."""
        found: dict[str, MailRecord] = {}
        unique = sorted(set(message_ids))
        with self._read() as conn:
            for start in range(0, len(unique), 500):
                query = select(mail_messages).where(mail_messages.c.message_id.in_(unique[start : start + 500]))
                for row in conn.execute(query).mappings():
                    record = _mail_record(row)
                    found[record.message_id] = record
        return found

    def remember_mail(self, records: Sequence[MailRecord]) -> None:
        """Record which request each message belongs to (a message already known is left as it is)."""
        with self._write() as conn:
            self._remember(conn, records)

    @staticmethod
    def _remember(conn: Connection, records: Sequence[MailRecord]) -> None:
        if not records:
            return
        ids = [r.message_id for r in records]
        known = {
            m for (m,) in conn.execute(select(mail_messages.c.message_id).where(mail_messages.c.message_id.in_(ids)))
        }
        rows = []
        for record in records:
            if record.message_id in known:
                continue
            known.add(record.message_id)
            rows.append(
                {
                    "message_id": record.message_id[:500],
                    "request_id": record.request_id,
                    "kind": record.kind,
                    "subject_key": record.subject_key[:200],
                    "sender": record.sender[:320],
                    "at": _utc(record.at),
                }
            )
        if rows:
            conn.execute(insert(mail_messages), rows)

    def mail_known(self, message_id: str) -> MailRecord | None:
        """The record of a message processed before, or None."""
        with self._read() as conn:
            row = conn.execute(select(mail_messages).where(mail_messages.c.message_id == message_id)).mappings().first()
        return _mail_record(row) if row is not None else None

    def mail_request(self, message_ids: Sequence[str]) -> str | None:
        """The request of the first of `message_ids` (nearest first) that is a known message, or None."""
        if not message_ids:
            return None
        with self._read() as conn:
            rows = conn.execute(
                select(mail_messages.c.message_id, mail_messages.c.request_id).where(
                    mail_messages.c.message_id.in_(list(message_ids))
                )
            ).all()
        found = {m: r for m, r in rows}
        return next((found[m] for m in message_ids if m in found), None)

    def mail_request_by_subject(
        self, subject_key: str, customers: Sequence[str], *, domain: str | None = None
    ) -> str | None:
        """The latest request with this thread subject opened by one of `customers` (or anyone at `domain`)."""
        if not subject_key or (not customers and not domain):
            return None
        who: ColumnElement[bool] = mail_messages.c.sender.in_([c.lower() for c in customers])
        if domain:
            who = or_(who, mail_messages.c.sender.endswith(f"@{domain.lower()}", autoescape=True))
        query = (
            select(mail_messages.c.request_id)
            .where(mail_messages.c.subject_key == subject_key, mail_messages.c.kind == "request", who)
            .order_by(mail_messages.c.at.desc())
            .limit(1)
        )
        with self._read() as conn:
            return conn.execute(query).scalar()

    def mail_messages(self, request_id: str) -> list[MailRecord]:
        """The messages of a request's thread, oldest first."""
        query = select(mail_messages).where(mail_messages.c.request_id == request_id).order_by(mail_messages.c.at)
        with self._read() as conn:
            return [_mail_record(row) for row in conn.execute(query).mappings()]

    def imap_cursor(self, mailbox: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID handled) of an IMAP folder, or None before its first message."""
        with self._read() as conn:
            row = conn.execute(
                select(mail_cursors.c.uidvalidity, mail_cursors.c.last_uid).where(mail_cursors.c.mailbox == mailbox)
            ).first()
        return (int(row[0]), int(row[1])) if row is not None else None

    def save_imap_cursor(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        """Remember that every message of `mailbox` up to `last_uid` (under `uidvalidity`) has been handled."""
        stamp = _utc(self.clock())
        with self._write() as conn:
            done = conn.execute(
                update(mail_cursors)
                .where(mail_cursors.c.mailbox == mailbox)
                .values(uidvalidity=uidvalidity, last_uid=last_uid, updated_at=stamp)
            )
            if done.rowcount == 0:
                conn.execute(
                    insert(mail_cursors).values(
                        mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid, updated_at=stamp
                    )
                )

    # -- accounts --------------------------------------------------------------------------------------------
    def add_user(self, name: str, password_hash: str, *, role: str = "specialist") -> User:
        _check_role(role)
        now = self.clock()
        try:
            with self._write() as conn:
                conn.execute(
                    insert(users).values(
                        name=name, password_hash=password_hash, created_at=_utc(now), active=True, role=role
                    )
                )
        except IntegrityError:
            raise UserExists(
                f"a specialist named {name!r} exists already; choose another name or set a new password with "
                f"`sevtriage users passwd {name}`"
            ) from None
        return User(name=name, password_hash=password_hash, created_at=now, active=True, role=role)

    def set_role(self, name: str, role: str) -> None:
        """Give an account a role ("specialist" or "lead"); takes effect at its next click."""
        _check_role(role)
        with self._write() as conn:
            done = conn.execute(update(users).where(users.c.name == name).values(role=role))
            if done.rowcount != 1:
                raise NotFound(f"no specialist is named {name!r}; create the account with `sevtriage users add {name}`")

    def set_password(self, name: str, password_hash: str) -> None:
        """New password (and the account enabled again); every open session of the account ends."""
        with self._write() as conn:
            conn.execute(delete(sessions).where(sessions.c.user_name == name))
            done = conn.execute(
                update(users).where(users.c.name == name).values(password_hash=password_hash, active=True)
            )
            if done.rowcount != 1:
                raise NotFound(f"no specialist is named {name!r}; create the account with `sevtriage users add {name}`")

    def set_active(self, name: str, active: bool) -> None:
        """Enable or disable an account; disabling ends its open sessions."""
        with self._write() as conn:
            if not active:
                conn.execute(delete(sessions).where(sessions.c.user_name == name))
            done = conn.execute(update(users).where(users.c.name == name).values(active=active))
            if done.rowcount != 1:
                raise NotFound(f"no specialist is named {name!r}")

    # -- sessions --------------------------------------------------------------------------------------------
    def open_session(self, session_id: str, user: str, expires_at: datetime) -> None:
        """Record a signed-in session (by the hash of its id); expired ones are swept out on the way."""
        now = self.clock()
        with self._write() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at <= _utc(now)))
            conn.execute(
                insert(sessions).values(
                    id_hash=_session_key(session_id),
                    user_name=user,
                    created_at=_utc(now),
                    expires_at=_utc(expires_at),
                )
            )

    def session_user(self, session_id: str) -> User | None:
        """The active account of a live session, else None (unknown, expired, signed out or disabled)."""
        query = (
            select(users)
            .join(sessions, sessions.c.user_name == users.c.name)
            .where(
                sessions.c.id_hash == _session_key(session_id),
                sessions.c.expires_at > _utc(self.clock()),
                users.c.active.is_(True),
            )
        )
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return _user(row) if row is not None else None

    def close_session(self, session_id: str) -> None:
        with self._write() as conn:
            conn.execute(delete(sessions).where(sessions.c.id_hash == _session_key(session_id)))

    # -- failed sign-ins (shared by every service process) ----------------------------------------------------
    def sign_in_failures(self, key: str, since: datetime, *, limit: int) -> list[datetime]:
        """The latest `limit` failed sign-ins for `key` after `since`, oldest first."""
        query = (
            select(sign_in_failures.c.at)
            .where(sign_in_failures.c.key == key[:400], sign_in_failures.c.at > _utc(since))
            .order_by(sign_in_failures.c.at.desc())
            .limit(limit)
        )
        with self._read() as conn:
            found = [_aware(at) for at in conn.execute(query).scalars()]
        return sorted(at for at in found if at is not None)

    def add_sign_in_failure(self, key: str, at: datetime, *, forget_before: datetime) -> None:
        """Record a failed sign-in for `key`; failures at or before `forget_before` (of any key) are swept out."""
        with self._write() as conn:
            conn.execute(delete(sign_in_failures).where(sign_in_failures.c.at <= _utc(forget_before)))
            conn.execute(insert(sign_in_failures).values(key=key[:400], at=_utc(at)))

    def clear_sign_in_failures(self, key: str) -> None:
        with self._write() as conn:
            conn.execute(delete(sign_in_failures).where(sign_in_failures.c.key == key[:400]))

    def get_user(self, name: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        return _user(row) if row is not None else None

    def list_users(self) -> list[User]:
        with self._read() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.name)).mappings()]


def _replace_matches(conn: Connection, written: Sequence[tuple[str, Decision]], *, fresh: set[str]) -> None:
    """Keep `rule_matches` in step with the suggestions just written (`fresh`: ids inserted just now)."""
    if not written:
        return
    stale = [request_id for request_id, _ in written if request_id not in fresh]
    for start in range(0, len(stale), 500):
        conn.execute(delete(rule_matches).where(rule_matches.c.request_id.in_(stale[start : start + 500])))
    rows: list[dict[str, Any]] = []
    for request_id, decision in written:
        seen: set[str] = set()
        for match in decision.matched_rules:
            if match.id not in seen:
                seen.add(match.id)
                rows.append({"request_id": request_id, "rule_id": match.id[:200], "severity": int(match.severity)})
    if rows:
        conn.execute(insert(rule_matches), rows)


def _repeats(last: Action | None, actor: str, action: str, severity: Severity | int | None) -> bool:
    """Whether `last` is this very action by this very specialist (so sending it again must not add a second)."""
    if last is None or last.actor != actor:
        return False
    if action == "accept":
        return last.kind == "accepted"
    return last.kind == "changed" and severity is not None and last.to_severity == Severity.parse(severity)


def _session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _sev(value: Severity | None) -> str:
    return str(int(value)) if value is not None else "none"


def _maybe_severity(value: object) -> Severity | None:
    return Severity.parse(value) if value is not None else None


def _action(row: RowMapping) -> Action:
    at = _aware(row["at"])
    assert at is not None
    return Action(
        request_id=row["request_id"],
        actor=row["actor"],
        at=at,
        kind=row["kind"],
        from_severity=_maybe_severity(row["from_severity"]),
        to_severity=_maybe_severity(row["to_severity"]),
        reason=row["reason"],
    )


def _event_row(
    request_id: str,
    kind: EventKind,
    at: datetime | None,
    by: str | None,
    recorded_at: datetime | None,
    *,
    from_severity: int | None = None,
    to_severity: int | None = None,
    ref: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """An `events` row; times are naive UTC already."""
    return {
        "request_id": request_id,
        "kind": kind,
        "at": at,
        "by": by,
        "from_severity": from_severity,
        "to_severity": to_severity,
        "ref": ref,
        "note": note,
        "recorded_at": recorded_at,
    }


def _alert(row: RowMapping) -> AlertRecord:
    created = _aware(row["created_at"])
    assert created is not None
    return AlertRecord(
        id=int(row["id"]),
        key=row["key"],
        request_id=row["request_id"],
        kind=row["kind"],
        channel=row["channel"],
        subject=row["subject"],
        text=row["text"],
        status=row["status"],
        attempts=int(row["attempts"]),
        next_attempt_at=_aware(row["next_attempt_at"]),
        last_error=row["last_error"],
        created_at=created,
        sent_at=_aware(row["sent_at"]),
    )


def _event(row: RowMapping) -> RequestEvent:
    at = _aware(row["at"])
    recorded = _aware(row["recorded_at"])
    assert at is not None and recorded is not None
    return RequestEvent(
        request_id=row["request_id"],
        kind=row["kind"],
        at=at,
        by=row["by"],
        from_severity=_maybe_severity(row["from_severity"]),
        to_severity=_maybe_severity(row["to_severity"]),
        ref=row["ref"],
        note=row["note"],
        recorded_at=recorded,
    )


def _stored(row: RowMapping, history: tuple[Action, ...]) -> StoredRequest:
    created = _aware(row["created_at"])
    updated = _aware(row["updated_at"])
    assert created is not None and updated is not None
    return StoredRequest(
        id=row["id"],
        subject=row["subject"],
        body=row["body"],
        fields=dict(json.loads(row["fields_json"])),
        plan=row["plan"],
        received_at=_aware(row["received_at"]),
        language=row["language"],
        suggested=decision_from_json(row["suggested_json"]),
        final_severity=_maybe_severity(row["final_severity"]),
        status=row["status"],
        deadlines=deadlines_from_json(row["deadlines_json"]),
        reviewed_by=row["reviewed_by"],
        reviewed_at=_aware(row["reviewed_at"]),
        created_at=created,
        updated_at=updated,
        version=int(row["version"]),
        history=history,
        first_response_at=_aware(row["first_response_at"]),
        last_response_at=_aware(row["last_response_at"]),
        resolved_at=_aware(row["resolved_at"]),
    )


def _diff_columns() -> Any:
    c = requests.c
    return select(c.id, c.subject, c.body, c.fields_json, c.plan, c.received_at, c.final_severity, c.status)


def _diff_row(row: Any) -> tuple[Ticket, Severity | None]:
    """A request for `rules diff`: the ticket, labelled by the specialist's final severity once reviewed."""
    ticket = Ticket(
        id=row.id,
        subject=row.subject,
        body=row.body,
        received_at=_aware(row.received_at),
        plan=row.plan,
        extra=dict(json.loads(row.fields_json)),
    )
    return ticket, _maybe_severity(row.final_severity) if row.status in REVIEWED else None


def _mail_record(row: RowMapping) -> MailRecord:
    at = _aware(row["at"])
    assert at is not None
    return MailRecord(
        message_id=row["message_id"],
        request_id=row["request_id"],
        kind=row["kind"],
        subject_key=row["subject_key"],
        sender=row["sender"],
        at=at,
    )


def _user(row: RowMapping) -> User:
    created = _aware(row["created_at"])
    assert created is not None
    return User(
        name=row["name"],
        password_hash=row["password_hash"],
        created_at=created,
        active=bool(row["active"]),
        role=row["role"],
    )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}; got {role!r}")


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            Problem(
                "settings",
                None,
                f"store_url {url!r} is not a database URL; use e.g. sqlite:///sevtriage.db or "
                "postgresql+psycopg://user:password@host/dbname",
            )
        ) from None
    options: dict[str, Any] = {}
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        database = parsed.database or ""
        if database in ("", ":memory:"):
            # One shared connection, or every connection would see its own empty database.
            options["poolclass"] = StaticPool
        elif not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"check_same_thread": False, "timeout": 30}
    try:
        engine = create_engine(parsed, **options)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as error:
        raise ConfigError(
            Problem(
                "settings",
                None,
                f"store_url {parsed.render_as_string(hide_password=True)} needs a database driver that is not "
                f"installed ({error}); for PostgreSQL run `pip install 'psycopg[binary]'` and use "
                "postgresql+psycopg://...",
            )
        ) from None
    if is_sqlite:
        _sqlite_transactions(engine, wal=bool(parsed.database) and parsed.database != ":memory:")
    return engine


def _sqlite_transactions(engine: Engine, *, wal: bool) -> None:
    """Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.

    The sqlite3 module's own transaction handling does not wrap DDL and begins lazily; this is the recipe from
    the SQLAlchemy SQLite dialect documentation ("Serializable isolation / Savepoints / Transactional DDL").
    Write transactions take the write lock at BEGIN so that two writers queue up instead of one failing when it
    upgrades a read lock.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if wal:
            # Readers (the review pages) keep reading while a batch is being written.
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sevtriage_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
