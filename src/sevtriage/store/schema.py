"""The current shape of the decision store's tables, for queries.

The migrations in `sevtriage.store.migrations` build this shape step by step; a test checks that a freshly
migrated database has exactly these columns, so the two cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Float, ForeignKey, Integer, MetaData, String, Table, Text

from sevtriage.text import MAX_ID_LENGTH, MAX_PLAN_LENGTH

metadata = MetaData()

# Every DateTime column holds UTC without an offset (portable between SQLite and PostgreSQL); the store
# converts at its edge.
requests = Table(
    "requests",
    metadata,
    Column("id", String(MAX_ID_LENGTH), primary_key=True),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("fields_json", Text, nullable=False),
    Column("plan", String(MAX_PLAN_LENGTH)),
    Column("received_at", DateTime),
    Column("language", String(8), nullable=False),
    Column("suggested_json", Text, nullable=False),
    Column("suggested_severity", Integer),
    Column("suggested_source", String(16)),
    Column("confidence", Float, nullable=False),
    Column("needs_review", Boolean, nullable=False),
    # "|no_rule|low_confidence|": one LIKE finds a reason on every database.
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
    # The SLA clock, kept in step with the events so that the waiting list is one indexed query: the first
    # response stops the initial-response clock, the last one starts the next update's.
    Column("first_response_at", DateTime),
    Column("last_response_at", DateTime),
    Column("resolved_at", DateTime),
)

actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(MAX_ID_LENGTH), ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("from_severity", Integer),
    Column("to_severity", Integer),
    Column("reason", Text),
)

# What happened to a request, in the order it happened: received, follow_up (from the customer), response (from
# support), severity_changed (by review or re-triage), resolved. `ref` is the caller's id of the event (a mail
# Message-ID): the same ref is recorded once per request and kind.
events = Table(
    "events",
    metadata,
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

# Notifications: one row per request, kind (critical, possible_critical, breach_soon) and channel (email,
# webhook). `key` is unique, so an alert is created once however often (and after however many restarts) the
# check runs; `status` is pending, sent or failed (gave up after the retries).
alerts = Table(
    "alerts",
    metadata,
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

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("active", Boolean, nullable=False),
    # "specialist" or "lead" (a lead also sees the Rules page).
    Column("role", String(16), nullable=False, server_default="specialist"),
)

# The rules each request's suggestion matched, one row per rule: the Rules page counts matches, precision against
# reviews and overrides per rule with one GROUP BY over this table. Kept in step with `suggested_json`.
rule_matches = Table(
    "rule_matches",
    metadata,
    Column("request_id", String(MAX_ID_LENGTH), ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True),
    Column("rule_id", String(200), primary_key=True),
    Column("severity", Integer),
)

# Every reload of the rules (applied or refused): who asked for it (a desk user, "api-token", "sighup", "cli"),
# which rule file (its version, the SHA-256 of its content, its path) and what happened.
rule_reloads = Table(
    "rule_reloads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("rules_version", String(200)),
    Column("rules_sha256", String(64)),
    Column("rules_path", Text),
    Column("message", Text),
)

# Signed-in sessions, so that signing out (or disabling an account) ends them on the server, not only in one
# browser. `id_hash` is the SHA-256 of the session id the cookie carries; the id itself is never stored.
sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_name", String(64), ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

# Every e-mail message that became a request, a follow-up or a response: how threads are found again, and why
# a message imported twice is recognised. `subject_key` is the folded subject without "Re:" (the fallback for
# replies without thread headers).
mail_messages = Table(
    "mail_messages",
    metadata,
    Column("message_id", String(500), primary_key=True),
    Column("request_id", String(200), ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject_key", String(200), nullable=False),
    Column("sender", String(320), nullable=False),
    Column("at", DateTime, nullable=False),
)

# Where `sevtriage mail watch` is in each IMAP folder: the folder's UIDVALIDITY and the last UID handled.
mail_cursors = Table(
    "mail_cursors",
    metadata,
    Column("mailbox", String(500), primary_key=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Failed sign-ins by throttle key ("name:alice", "address:192.0.2.1"); rows older than the throttle's window are
# swept out whenever a failure is recorded, so the table holds at most one window of failures.
sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False),
    Column("at", DateTime, nullable=False),
)

schema_versions = Table(
    "sevtriage_schema",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime, nullable=False),
)
