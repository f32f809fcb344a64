"""Versioned schema migrations: an ordered list of steps and a table that records which ran.

Each step is frozen once released: it builds its own table objects instead of using `schema`, so that a later
change to the current schema cannot change what an old step does. All pending steps run in one transaction
(SQLite and PostgreSQL both have transactional DDL), so a failed upgrade leaves the previous version intact.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    literal,
    select,
    text,
)

from sevtriage.errors import ConfigError, Problem
from sevtriage.store.schema import schema_versions


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its version number, a name for people, and the function that applies it."""

    version: int
    name: str
    apply: Callable[[Connection], None]


def _v1_tables(conn: Connection) -> None:
    meta = MetaData()
    Table(
        "requests",
        meta,
        Column("id", String(200), primary_key=True),
        Column("subject", Text, nullable=False),
        Column("body", Text, nullable=False),
        Column("fields_json", Text, nullable=False),
        Column("plan", String(40)),
        Column("received_at", DateTime),
        Column("language", String(8), nullable=False),
        Column("suggested_json", Text, nullable=False),
        Column("suggested_severity", Integer),
        Column("suggested_source", String(16)),
        Column("confidence", Float, nullable=False),
        Column("needs_review", Boolean, nullable=False),
        Column("review_reasons", String(500), nullable=False),
        Column("final_severity", Integer),
        Column("status", String(16), nullable=False),
        Column("deadlines_json", Text),
        Column("initial_due", DateTime),
        Column("reviewed_by", String(64)),
        Column("reviewed_at", DateTime),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        Column("version", Integer, nullable=False),
    )
    Table(
        "actions",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("request_id", String(200), ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
        Column("actor", String(64), nullable=False),
        Column("at", DateTime, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("from_severity", Integer),
        Column("to_severity", Integer),
        Column("reason", Text),
    )
    Table(
        "users",
        meta,
        Column("name", String(64), primary_key=True),
        Column("password_hash", String(255), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("active", Boolean, nullable=False),
    )
    meta.create_all(conn)


def _v2_indexes(conn: Connection) -> None:
    meta = MetaData()
    requests = Table("requests", meta, autoload_with=conn)
    actions = Table("actions", meta, autoload_with=conn)
    # The queue reads pending requests in deadline order; the agreement report reads actions by day.
    Index("ix_requests_queue", requests.c.needs_review, requests.c.status, requests.c.initial_due).create(conn)
    Index("ix_actions_request", actions.c.request_id, actions.c.id).create(conn)
    Index("ix_actions_at", actions.c.at).create(conn)


def _v3_sessions(conn: Connection) -> None:
    meta = MetaData()
    Table("users", meta, autoload_with=conn)
    sessions = Table(
        "sessions",
        meta,
        Column("id_hash", String(64), primary_key=True),
        Column("user_name", String(64), ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("expires_at", DateTime, nullable=False),
    )
    sessions.create(conn)
    Index("ix_sessions_user", sessions.c.user_name).create(conn)


def _v4_events(conn: Connection) -> None:
    """Request events (received, follow-ups, responses, severity changes) and the SLA clock columns.

    Existing requests get their "received" event from `received_at` (or, lacking it, from when they were stored)
    and a "severity_changed" event for every specialist's change, so that their history reads the same as a new
    request's.
    """
    # ALTER TABLE ... ADD COLUMN with a NULL default works on both SQLite and PostgreSQL.
    for name in ("first_response_at", "last_response_at", "resolved_at"):
        conn.execute(text(f"ALTER TABLE requests ADD COLUMN {name} {DateTime().compile(dialect=conn.dialect)}"))
    meta = MetaData()
    requests = Table("requests", meta, autoload_with=conn)
    actions = Table("actions", meta, autoload_with=conn)
    events = Table(
        "events",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("request_id", String(200), ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
        Column("kind", String(24), nullable=False),
        Column("at", DateTime, nullable=False),
        Column("by", String(320)),
        Column("from_severity", Integer),
        Column("to_severity", Integer),
        Column("ref", String(500)),
        Column("note", Text),
        Column("recorded_at", DateTime, nullable=False),
    )
    events.create(conn)
    Index("ix_events_request", events.c.request_id, events.c.at, events.c.id).create(conn)
    # A message recorded twice (a restarted mail import) is one event; NULL refs never collide.
    Index("ux_events_ref", events.c.request_id, events.c.kind, events.c.ref, unique=True).create(conn)
    Index("ix_requests_waiting", requests.c.first_response_at, requests.c.initial_due).create(conn)
    now = datetime.now(UTC).replace(tzinfo=None)
    conn.execute(
        insert(events).from_select(
            ["request_id", "kind", "at", "by", "to_severity", "note", "recorded_at"],
            select(
                requests.c.id,
                literal("received"),
                func.coalesce(requests.c.received_at, requests.c.created_at),
                literal("sevtriage"),
                requests.c.suggested_severity,
                literal("from the store before events were recorded"),
                literal(now),
            ),
        )
    )
    conn.execute(
        insert(events).from_select(
            ["request_id", "kind", "at", "by", "from_severity", "to_severity", "note", "recorded_at"],
            select(
                actions.c.request_id,
                literal("severity_changed"),
                actions.c.at,
                actions.c.actor,
                actions.c.from_severity,
                actions.c.to_severity,
                actions.c.reason,
                literal(now),
            ).where(actions.c.kind == "changed"),
        )
    )


def _v6_alerts(conn: Connection) -> None:
    meta = MetaData()
    Table("requests", meta, autoload_with=conn)
    alerts = Table(
        "alerts",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(400), nullable=False, unique=True),
        Column("request_id", String(200), ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
        Column("kind", String(32), nullable=False),
        Column("channel", String(16), nullable=False),
        Column("subject", Text, nullable=False),
        Column("text", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_at", DateTime),
        Column("last_error", Text),
        Column("created_at", DateTime, nullable=False),
        Column("sent_at", DateTime),
    )
    alerts.create(conn)
    Index("ix_alerts_due", alerts.c.status, alerts.c.next_attempt_at).create(conn)
    Index("ix_alerts_request", alerts.c.request_id).create(conn)


def _v5_mail(conn: Connection) -> None:
    meta = MetaData()
    Table("requests", meta, autoload_with=conn)
    messages = Table(
        "mail_messages",
        meta,
        Column("message_id", String(500), primary_key=True),
        Column("request_id", String(200), ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("subject_key", String(200), nullable=False),
        Column("sender", String(320), nullable=False),
        Column("at", DateTime, nullable=False),
    )
    cursors = Table(
        "mail_cursors",
        meta,
        Column("mailbox", String(500), primary_key=True),
        Column("uidvalidity", BigInteger, nullable=False),
        Column("last_uid", BigInteger, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )
    messages.create(conn)
    cursors.create(conn)
    # A reply without thread headers is matched by subject and customer; a request's messages are listed by it.
    Index("ix_mail_messages_subject", messages.c.subject_key, messages.c.sender, messages.c.at).create(conn)
    Index("ix_mail_messages_request", messages.c.request_id).create(conn)


def _v7_rules_page(conn: Connection) -> None:
    """Desk roles, each request's matched rules as rows, and the audit history of rule reloads.

    The matched rules were only inside `suggested_json`; the Rules page counts them per rule with one indexed
    GROUP BY, so they get a table of their own, filled here from the stored suggestions.
    """
    conn.execute(text("ALTER TABLE users ADD COLUMN role VARCHAR(16) DEFAULT 'specialist' NOT NULL"))
    meta = MetaData()
    requests = Table("requests", meta, autoload_with=conn)
    matches = Table(
        "rule_matches",
        meta,
        Column("request_id", String(200), ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True),
        Column("rule_id", String(200), primary_key=True),
        Column("severity", Integer),
    )
    reloads = Table(
        "rule_reloads",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", DateTime, nullable=False),
        Column("actor", String(64), nullable=False),
        Column("outcome", String(16), nullable=False),
        Column("rules_version", String(200)),
        Column("rules_sha256", String(64)),
        Column("rules_path", Text),
        Column("message", Text),
    )
    matches.create(conn)
    reloads.create(conn)
    Index("ix_rule_matches_rule", matches.c.rule_id, matches.c.request_id).create(conn)
    Index("ix_rule_reloads_at", reloads.c.at).create(conn)
    # Fill from the stored suggestions in chunks (keyset by id), so a large store is not held in memory at once.
    last = ""
    while True:
        chunk = conn.execute(
            select(requests.c.id, requests.c.suggested_json)
            .where(requests.c.id > last)
            .order_by(requests.c.id)
            .limit(2000)
        ).all()
        if not chunk:
            break
        rows: list[dict[str, object]] = []
        for request_id, raw in chunk:
            seen: set[str] = set()
            for match in json.loads(raw).get("matched_rules", ()):
                rule_id = str(match["id"])[:200]
                if rule_id not in seen:
                    seen.add(rule_id)
                    severity = match.get("severity")
                    rows.append(
                        {"request_id": request_id, "rule_id": rule_id, "severity": int(severity) if severity else None}
                    )
        if rows:
            conn.execute(insert(matches), rows)
        last = chunk[-1][0]


def _v8_sign_in_failures(conn: Connection) -> None:
    """Failed sign-ins, so that every service process (`serve --workers N`) counts them against one limit."""
    meta = MetaData()
    failures = Table(
        "sign_in_failures",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(400), nullable=False),
        Column("at", DateTime, nullable=False),
    )
    failures.create(conn)
    Index("ix_sign_in_failures_key", failures.c.key, failures.c.at).create(conn)
    Index("ix_sign_in_failures_at", failures.c.at).create(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "requests, actions and users", _v1_tables),
    Migration(2, "indexes for the queue and the agreement report", _v2_indexes),
    Migration(3, "server-side review sessions", _v3_sessions),
    Migration(4, "request events and SLA clock columns", _v4_events),
    Migration(5, "e-mail threads and IMAP positions", _v5_mail),
    Migration(6, "alerts sent (and to send), one per request, kind and channel", _v6_alerts),
    Migration(7, "desk roles, matched rules per request, rule reload history", _v7_rules_page),
    Migration(8, "failed sign-ins, counted across service processes", _v8_sign_in_failures),
)

LATEST = MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """The highest applied migration, 0 for an empty database."""
    schema_versions.create(conn, checkfirst=True)
    found = conn.execute(select(func.max(schema_versions.c.version))).scalar()
    return int(found) if found is not None else 0


def migrate(conn: Connection, *, target: int = LATEST, where: str = "store") -> list[Migration]:
    """Apply the pending migrations up to `target` inside the caller's transaction; return those applied.

    Refuses a database whose schema is newer than this code knows, instead of writing to it.
    """
    if conn.dialect.name == "postgresql":
        # Two service processes starting at once must not both run the same step.
        conn.execute(text("SELECT pg_advisory_xact_lock(4815162342)"))
    have = current_version(conn)
    if have > LATEST:
        raise ConfigError(
            Problem(
                where,
                None,
                f"the database schema is version {have}, newer than this sevtriage knows (up to {LATEST}); "
                "upgrade sevtriage, or point store_url at another database",
            )
        )
    applied = []
    for step in MIGRATIONS:
        if have < step.version <= target:
            step.apply(conn)
            conn.execute(
                insert(schema_versions).values(
                    version=step.version, name=step.name, applied_at=datetime.now(UTC).replace(tzinfo=None)
                )
            )
            applied.append(step)
    return applied
