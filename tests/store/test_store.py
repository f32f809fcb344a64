"""The decision store: round trips, migrations, the review queue, conflicts and crash safety."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, inspect, text

from sevtriage.errors import ConfigError, InputError
from sevtriage.store import DecisionStore, NotFound, QueueFilter, ReviewConflict, StoredRequest, UserExists, migrations
from sevtriage.store.codec import decision_from_json, decision_to_json
from sevtriage.store.schema import metadata
from sevtriage.types import Deadline, Deadlines, Decision, ModelOpinion, RuleMatch, ScopeNote, Severity, Ticket

ARRIVAL = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def deadlines(initial: datetime | None, ongoing: datetime | None = None, target: str = "4 business hours") -> Deadlines:
    return Deadlines(
        initial_response=Deadline(initial, target if initial else None, "standard, severity 2, initial response"),
        ongoing_response=Deadline(ongoing, "1 business day" if ongoing else None, "standard, severity 2, ongoing"),
    )


def pair(
    request_id: str,
    severity: int | None = 2,
    *,
    needs_review: bool = True,
    reasons: tuple[str, ...] = ("low_confidence",),
    due: datetime | None = ARRIVAL + timedelta(hours=4),
    plan: str = "standard",
    subject: str = "Export fails",
    body: str = "The nightly export fails with error 500.",
    source: str | None = "model",
) -> tuple[Ticket, Decision]:
    ticket = Ticket(
        id=request_id, subject=subject, body=body, received_at=ARRIVAL, plan=plan, extra={"channel": "mail"}
    )
    decision = Decision(
        id=request_id,
        severity=Severity(severity) if severity is not None else None,
        source=source,  # type: ignore[arg-type]
        confidence=0.61,
        needs_review=needs_review,
        review_reasons=reasons,
        matched_rules=(
            RuleMatch(
                "export-broken",
                Severity.MEDIUM,
                "A broken export is a loss of non-critical function.",
                ("export fails",),
            ),
        ),
        model=ModelOpinion(Severity.HIGH, {1: 0.1, 2: 0.5, 3: 0.3, 4: 0.1}, ("export", "fails")),
        plan=plan,
        received_at=ARRIVAL,
        deadlines=deadlines(due) if due is not None or severity is not None else None,
        rules_version="rules-1",
        model_version="model-1",
    )
    return ticket, decision


def test_a_saved_request_comes_back_with_its_text_fields_suggestion_and_history(store: DecisionStore) -> None:
    ticket, decision = pair("T-1", body="Žiadny prístup, <script>alert(1)</script>")
    assert store.save_many([(ticket, decision)]) == 1
    got = store.get("T-1")
    assert (got.subject, got.body, got.fields, got.plan) == (
        ticket.subject,
        ticket.body,
        {"channel": "mail"},
        "standard",
    )
    assert got.received_at == ARRIVAL
    assert got.suggested.to_dict() == decision.to_dict()
    assert (got.status, got.final_severity, got.severity, got.version) == ("pending", None, Severity.HIGH, 1)
    assert [(a.actor, a.kind, a.from_severity, a.to_severity, a.reason) for a in got.history] == [
        ("sevtriage", "suggested", None, Severity.HIGH, "model; low_confidence")
    ]


def test_an_unknown_id_is_not_found_with_the_id_in_the_message(store: DecisionStore) -> None:
    with pytest.raises(NotFound, match="no stored request has the id 'nope'"):
        store.get("nope")


def test_a_new_store_is_migrated_to_the_latest_schema_and_reopening_keeps_the_data(url: str) -> None:
    with DecisionStore.open(url) as first:
        assert first.schema_version() == migrations.LATEST
        first.save(*pair("T-1"))
    with DecisionStore.open(url) as again:
        assert again.schema_version() == migrations.LATEST
        assert again.get("T-1").version == 1


def test_a_database_at_version_1_is_upgraded_on_open(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        assert [m.version for m in migrations.migrate(conn, target=1)] == [1]
    assert "ix_requests_queue" not in {i["name"] for i in inspect(engine).get_indexes("requests")}
    engine.dispose()
    with DecisionStore.open(url) as store:
        assert store.schema_version() == migrations.LATEST
        assert "ix_requests_queue" in {i["name"] for i in inspect(store.engine).get_indexes("requests")}


def test_the_migrated_schema_has_exactly_the_columns_the_queries_use(store: DecisionStore) -> None:
    found = inspect(store.engine)
    for table in metadata.sorted_tables:
        assert [c["name"] for c in found.get_columns(table.name)] == [c.name for c in table.columns], table.name


def test_a_database_from_a_newer_sevtriage_is_refused(url: str) -> None:
    DecisionStore.open(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO sevtriage_schema (version, name, applied_at) VALUES (99, 'future', '2030-01-01')")
        )
    engine.dispose()
    with pytest.raises(
        ConfigError,
        match=rf"schema is version 99, newer than this sevtriage knows \(up to {migrations.LATEST}\); upgrade",
    ):
        DecisionStore.open(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "store_url 'not a url' is not a database URL; use e.g. sqlite:///sevtriage.db"),
        ("mysql+mysqldb://u:secret@db/x", "needs a database driver that is not installed"),
    ],
)
def test_a_bad_store_url_says_what_to_use(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DecisionStore.open(url)
    assert message in str(caught.value)
    assert "secret" not in str(caught.value)


def test_an_unreachable_sqlite_file_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "dir.db"
    blocker.mkdir()
    with pytest.raises(
        ConfigError, match=r"dir.db: cannot open the decision store: unable to open database file; check store_url"
    ):
        DecisionStore.open(f"sqlite:///{blocker}")


def test_the_queue_puts_overdue_first_then_by_deadline_then_unknown_severity_then_no_target(
    store: DecisionStore,
) -> None:
    store.save_many(
        [
            pair("later", due=NOW + timedelta(hours=3)),
            pair("no-target", severity=3, due=None),
            pair("overdue", due=NOW - timedelta(hours=1)),
            pair("unknown", severity=None, due=None, source=None, reasons=("no_rule", "no_model")),
            pair("soon", due=NOW + timedelta(minutes=20)),
            pair("auto", needs_review=False, reasons=(), due=NOW - timedelta(hours=5)),
        ]
    )
    assert [r.id for r in store.queue()] == ["overdue", "soon", "later", "unknown", "no-target"]
    assert store.count_queue() == 5
    assert store.counts() == {"pending": 5, "auto": 1}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (QueueFilter(severity=2), ["a", "b"]),
        (QueueFilter(severity="none"), ["c"]),
        (QueueFilter(plan="premier"), ["b"]),
        (QueueFilter(reason="no_rule"), ["c"]),
        (QueueFilter(reason="no"), []),  # a reason matches whole, not as a prefix
        (QueueFilter(reason="%"), []),  # LIKE wildcards are taken literally
        (QueueFilter(language="sk"), ["b"]),
        (QueueFilter(severity=2, plan="standard"), ["a"]),
    ],
)
def test_queue_filters(store: DecisionStore, where: QueueFilter, expected: list[str]) -> None:
    store.save_many(
        [
            pair("a", due=NOW + timedelta(hours=1)),
            pair(
                "b",
                plan="premier",
                subject="Nefunguje prihlásenie",
                body="Nemôžeme sa prihlásiť, prosím.",
                due=NOW + timedelta(hours=2),
            ),
            pair("c", severity=None, due=None, source=None, reasons=("no_rule", "no_model")),
        ]
    )
    assert [r.id for r in store.queue(where)] == expected
    assert store.count_queue(where) == len(expected)


def test_facets_list_what_the_queue_holds(store: DecisionStore) -> None:
    store.save_many([pair("a"), pair("b", plan="premier", reasons=("no_rule", "rule_conflict"))])
    assert store.queue_facets() == {
        "plan": ["premier", "standard"],
        "language": ["en"],
        "reason": ["low_confidence", "no_rule", "rule_conflict"],
    }


def test_next_in_queue_follows_the_order_and_wraps(store: DecisionStore) -> None:
    store.save_many([pair(i, due=NOW + timedelta(hours=h)) for i, h in (("x", 1), ("y", 2), ("z", 3))])
    assert [store.next_in_queue(store.get(i)).id for i in "xyz"] == ["y", "z", "x"]  # type: ignore[union-attr]
    done = store.review("y", actor="alice", expected_version=1, action="accept")
    assert store.next_in_queue(done).id == "z"  # type: ignore[union-attr]


def reference_next(store: DecisionStore, after: StoredRequest, where: QueueFilter) -> str | None:
    """What `next_in_queue` answered before it became one query: load the whole queue and look in Python."""
    ordered = store.queue(where, limit=None)
    ids = [r.id for r in ordered]
    if after.id in ids:
        position = ids.index(after.id)
        following = ordered[position + 1 :] + ordered[:position]
        return following[0].id if following else None
    if not ordered:
        return None

    def key(row: StoredRequest) -> tuple[int, datetime, datetime, str]:
        initial = row.deadlines.initial_response.due if row.deadlines else None
        low = datetime.min.replace(tzinfo=UTC)
        group = 0 if initial is not None else 1 if row.suggested.severity is None else 2
        return (group, initial or low, row.received_at or low, row.id)

    later = [r for r in ordered if key(r) > key(after)]
    return (later[0] if later else ordered[0]).id


def varied_queue() -> list[tuple[Ticket, Decision]]:
    """Deadlines equal and not, overdue, missing; arrivals equal and missing; no severity; two plans."""
    pairs = []
    for i in range(40):
        severity = None if i % 7 == 0 else 1 + i % 4
        due = None if severity is None or (severity >= 3 and i % 2) else NOW + timedelta(minutes=30 * (i % 5) - 60)
        ticket, decision = pair(f"V-{i:02d}", severity, due=due, plan="premier" if i % 3 == 0 else "standard")
        arrived = None if i % 5 == 0 else ARRIVAL + timedelta(minutes=10 * (i % 4))
        pairs.append((replace(ticket, received_at=arrived), replace(decision, received_at=arrived)))
    return pairs


def test_next_in_queue_answers_as_the_whole_queue_did_on_a_varied_queue(store: DecisionStore) -> None:
    store.save_many(varied_queue())
    # Some leave the queue (reviewed), so `after` is sometimes no longer waiting.
    left = [
        store.review(
            f"V-{i:02d}",
            actor="alice",
            expected_version=1,
            action="change",
            severity=4 if i % 4 != 3 else 1,
            reason="checked",
        )
        for i in (1, 6, 13, 22)
    ]
    everyone = [store.get(f"V-{i:02d}") for i in range(40)]
    for where in (QueueFilter(), QueueFilter(plan="premier"), QueueFilter(severity="none"), QueueFilter(severity=2)):
        for after in [*everyone, *left]:
            found = store.next_in_queue(after, where)
            assert (found.id if found else None) == reference_next(store, after, where), (after.id, where)


def test_next_in_queue_reads_one_row_not_the_whole_queue(store: DecisionStore) -> None:
    from sqlalchemy import event

    store.save_many(varied_queue())
    after = store.get("V-03")
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        store.next_in_queue(after)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "LIMIT" in selects[0].upper(), selects


def test_resaving_updates_an_unreviewed_suggestion_but_never_a_reviewed_one(store: DecisionStore) -> None:
    store.save_many([pair("open"), pair("done")])
    store.review("done", actor="alice", expected_version=1, action="accept")
    assert store.save_many([pair("open"), pair("done")]) == 0  # the same suggestion again changes nothing
    assert store.save_many([pair("open", severity=1), pair("done", severity=1)]) == 1
    reopened, reviewed = store.get("open"), store.get("done")
    assert (reopened.suggested.severity, reopened.version, reopened.history[-1].kind) == (
        Severity.CRITICAL,
        2,
        "resuggested",
    )
    assert (reviewed.suggested.severity, reviewed.final_severity, reviewed.version) == (Severity.HIGH, Severity.HIGH, 2)


def test_accept_and_change_are_recorded_with_who_when_from_to_and_why(store: DecisionStore) -> None:
    store.save_many([pair("A"), pair("C")])
    accepted = store.review("A", actor="alice", expected_version=1, action="accept")
    assert (accepted.status, accepted.final_severity, accepted.reviewed_by, accepted.version) == (
        "accepted",
        Severity.HIGH,
        "alice",
        2,
    )
    new = deadlines(ARRIVAL + timedelta(hours=1), target="1 business hour")
    changed = store.review(
        "C",
        actor="bob",
        expected_version=1,
        action="change",
        severity=1,
        reason="whole shop is down",
        deadlines=lambda severity, request: new if severity == Severity.CRITICAL else None,
    )
    assert (changed.status, changed.final_severity, changed.deadlines) == ("changed", Severity.CRITICAL, new)
    last = changed.history[-1]
    assert (last.actor, last.at, last.kind, last.from_severity, last.to_severity, last.reason) == (
        "bob",
        NOW,
        "changed",
        Severity.HIGH,
        Severity.CRITICAL,
        "whole shop is down",
    )
    assert [r.id for r in store.queue()] == []
    assert [r.id for r in store.reviewed()] == ["A", "C"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "change", "severity": 1}, "changing the severity of T to 1 needs a reason; write why"),
        ({"action": "change", "severity": 1, "reason": "   "}, "changing the severity of T to 1 needs a reason"),
        ({"action": "change", "reason": "x"}, "changing the severity needs the new severity: one of 1, 2, 3, 4"),
        ({"action": "change", "severity": 7, "reason": "x"}, "severity must be one of 1, 2, 3, 4"),
    ],
)
def test_a_change_without_severity_or_reason_is_refused_and_nothing_changes(
    store: DecisionStore, kwargs: dict[str, object], message: str
) -> None:
    store.save(*pair("T"))
    with pytest.raises((InputError, ValueError), match=message):
        store.review("T", actor="alice", expected_version=1, **kwargs)  # type: ignore[arg-type]
    assert store.get("T").version == 1


def test_changing_to_the_severity_in_force_is_refused(store: DecisionStore) -> None:
    store.save(*pair("T"))
    with pytest.raises(InputError, match="request T already has severity 2; to keep it, accept instead"):
        store.review("T", actor="alice", expected_version=1, action="change", severity=2, reason="same")


def test_the_status_says_where_the_request_ended_whatever_the_last_action(store: DecisionStore) -> None:
    store.save(*pair("T"))
    store.review("T", actor="alice", expected_version=1, action="change", severity=1, reason="outage")
    again = store.review("T", actor="bob", expected_version=2, action="accept")
    assert (again.status, again.final_severity, [a.kind for a in again.history]) == (
        "changed",
        Severity.CRITICAL,
        ["suggested", "changed", "accepted"],
    )
    back = store.review("T", actor="carol", expected_version=3, action="change", severity=2, reason="not so bad")
    assert (back.status, back.final_severity) == ("accepted", Severity.HIGH)


def test_accepting_when_nothing_was_suggested_asks_for_a_severity(store: DecisionStore) -> None:
    store.save(*pair("T", severity=None, due=None, source=None))
    with pytest.raises(InputError, match="has no suggested severity to accept; choose a severity"):
        store.review("T", actor="alice", expected_version=1, action="accept")


def test_the_second_specialist_gets_a_conflict_and_the_first_ones_work_stands(store: DecisionStore) -> None:
    store.save(*pair("T"))
    seen_by_alice = store.get("T").version
    seen_by_bob = store.get("T").version
    store.review("T", actor="alice", expected_version=seen_by_alice, action="accept")
    with pytest.raises(ReviewConflict) as caught:
        store.review("T", actor="bob", expected_version=seen_by_bob, action="change", severity=1, reason="worse")
    assert str(caught.value) == (
        "request T was accepted by alice at 2026-11-24 12:00 UTC (severity 2) after you opened it (you saw "
        "version 1, it is now version 2); nothing was saved. Look at the request as it is now and act again."
    )
    # The review desk shows it in its own zone: Bratislava is UTC+1 in November.
    assert "accepted by alice at 2026-11-24 13:00 CET (severity 2)" in caught.value.describe(
        ZoneInfo("Europe/Bratislava")
    )
    after = store.get("T")
    assert (after.final_severity, after.reviewed_by, [a.actor for a in after.history]) == (
        Severity.HIGH,
        "alice",
        ["sevtriage", "alice"],
    )


def test_posting_the_same_accept_twice_records_it_once(store: DecisionStore) -> None:
    store.save(*pair("T"))
    first = store.review("T", actor="alice", expected_version=1, action="accept")
    again = store.review("T", actor="alice", expected_version=1, action="accept")  # the form sent twice
    pressed = store.review("T", actor="alice", expected_version=2, action="accept")  # "a" on the reviewed page
    assert again == first and pressed == first and first.version == 2
    assert [a.kind for a in store.get("T").history] == ["suggested", "accepted"]
    assert len(store.actions(kinds=("accepted", "changed"))) == 1


def test_posting_the_same_change_twice_records_it_once_but_a_different_one_conflicts(store: DecisionStore) -> None:
    store.save(*pair("T"))
    first = store.review("T", actor="alice", expected_version=1, action="change", severity=1, reason="payroll")
    again = store.review("T", actor="alice", expected_version=1, action="change", severity=1, reason="payroll")
    assert again == first
    with pytest.raises(ReviewConflict):  # not the same action: another severity on the old version
        store.review("T", actor="alice", expected_version=1, action="change", severity=3, reason="payroll")
    with pytest.raises(ReviewConflict):  # nor someone else's
        store.review("T", actor="bob", expected_version=1, action="change", severity=1, reason="payroll")
    # A deliberate second review on the current version is a new action.
    store.review("T", actor="bob", expected_version=2, action="change", severity=3, reason="only one team")
    assert [a.kind for a in store.get("T").history] == ["suggested", "changed", "changed"]


def test_a_new_suggestion_in_between_is_a_conflict_too(store: DecisionStore) -> None:
    store.save(*pair("T"))
    store.save(*pair("T", severity=1))
    with pytest.raises(
        ReviewConflict, match=r"request T was given a new suggestion at 2026-11-24 12:00 UTC \(severity 2 → 1\)"
    ):
        store.review("T", actor="alice", expected_version=1, action="accept")


def test_of_many_specialists_racing_on_one_version_exactly_one_wins(store: DecisionStore) -> None:
    store.save(*pair("T"))
    outcomes: list[str] = []
    lock = threading.Lock()

    def act(name: str) -> None:
        try:
            store.review("T", actor=name, expected_version=1, action="change", severity=1, reason=name)
            result = "ok"
        except ReviewConflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=act, args=(f"s{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    assert len(store.get("T").history) == 2


def test_an_error_inside_a_review_leaves_the_request_as_it_was(store: DecisionStore) -> None:
    store.save(*pair("T"))

    def broken(severity: Severity, request: StoredRequest) -> Deadlines:
        raise RuntimeError("policy exploded")

    with pytest.raises(RuntimeError):
        store.review("T", actor="alice", expected_version=1, action="change", severity=1, reason="x", deadlines=broken)
    after = store.get("T")
    assert (after.version, after.status, len(after.history)) == (1, "pending", 1)


def test_an_error_in_the_middle_of_a_batch_writes_nothing_of_it(store: DecisionStore) -> None:
    store.save(*pair("before"))

    def rows() -> Iterator[tuple[Ticket, Decision]]:
        for i in range(1200):
            if i == 1100:
                raise InputError("row 1101: received_at is not a time")
            yield pair(f"B-{i}")

    with pytest.raises(InputError):
        store.save_many(rows())
    assert store.counts() == {"pending": 1}
    assert [a.request_id for a in store.actions()] == ["before"]


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime, timezone
    sys.path.insert(0, {tests!r})
    from test_store import pair
    from sevtriage.store import DecisionStore

    store = DecisionStore.open({url!r})

    def rows():
        for i in range(1200):
            if i == 1100:
                # 1000 rows are written inside the open transaction by now; die without any clean-up.
                print("dying", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            yield pair(f"B-{{i}}")

    store.save_many(rows())
    """
)


def test_a_process_killed_in_the_middle_of_a_batch_leaves_nothing_half_written(url: str) -> None:
    with DecisionStore.open(url) as store:
        store.save(*pair("before"))
    script = CRASH_SCRIPT.format(tests=str(Path(__file__).parent), url=url)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "dying"
    with DecisionStore.open(url) as store:
        assert store.counts() == {"pending": 1}
        assert [a.request_id for a in store.actions()] == ["before"]
        if url.startswith("sqlite"):
            with store.engine.connect() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        # The store still takes writes after the crash.
        assert store.save_many([pair("after")]) == 1


def test_accounts(store: DecisionStore) -> None:
    store.add_user("alice", "hash-1")
    with pytest.raises(
        UserExists, match=r"a specialist named 'alice' exists already; .*`sevtriage users passwd alice`"
    ):
        store.add_user("alice", "hash-2")
    store.set_password("alice", "hash-3")
    store.set_active("alice", False)
    alice = store.get_user("alice")
    assert alice is not None and (alice.password_hash, alice.active) == ("hash-3", False)
    assert store.get_user("bob") is None
    with pytest.raises(
        NotFound, match=r"no specialist is named 'bob'; create the account with `sevtriage users add bob`"
    ):
        store.set_password("bob", "x")
    assert [u.name for u in store.list_users()] == ["alice"]


def test_sessions_live_until_they_expire_are_closed_or_their_account_changes(url: str) -> None:
    clock = [NOW]
    with DecisionStore.open(url, clock=lambda: clock[0]) as store:
        store.add_user("alice", "hash")
        for sid in ("s1", "s2", "s3", "s4"):
            store.open_session(sid, "alice", NOW + timedelta(hours=1))
        assert store.session_user("s1") is not None and store.session_user("nope") is None
        store.close_session("s1")
        assert store.session_user("s1") is None and store.session_user("s2") is not None
        with store.engine.connect() as conn:  # only hashes of session ids are kept
            assert "s2" not in {row[0] for row in conn.execute(text("SELECT id_hash FROM sessions"))}
        clock[0] = NOW + timedelta(hours=2)
        assert store.session_user("s2") is None
        clock[0] = NOW
        store.set_active("alice", False)
        assert store.session_user("s3") is None
        store.set_password("alice", "new hash")
        store.open_session("s5", "alice", NOW + timedelta(hours=1))
        store.set_password("alice", "newer hash")
        assert store.session_user("s5") is None


def test_naive_times_are_refused_with_the_time_in_the_message(store: DecisionStore) -> None:
    ticket, decision = pair("T")
    naive = replace(ticket, received_at=datetime(2026, 11, 24, 9, 0))
    with pytest.raises(InputError, match="times must carry a UTC offset; got the naive time 2026-11-24T09:00:00"):
        store.save(naive, decision)


_severities = st.sampled_from(list(Severity))
_words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    severity=st.none() | _severities,
    evidence=st.lists(_words, max_size=3),
    probabilities=st.lists(st.floats(0, 1).map(lambda f: round(f, 4)), min_size=4, max_size=4),
    reasons=st.lists(st.sampled_from(["no_rule", "low_confidence", "rule_conflict"]), max_size=3, unique=True),
    offset_minutes=st.integers(-12 * 60, 14 * 60),
)
def test_the_decision_codec_round_trips(
    severity: Severity | None, evidence: list[str], probabilities: list[float], reasons: list[str], offset_minutes: int
) -> None:
    from datetime import timezone

    zone = timezone(timedelta(minutes=offset_minutes))
    _, base = pair("T")
    decision = replace(
        base,
        severity=severity,
        review_reasons=tuple(reasons),
        matched_rules=(RuleMatch("r", Severity.LOW, "why", tuple(evidence), "weak"),),
        model=ModelOpinion(Severity.LOW, dict(zip(range(1, 5), probabilities, strict=True)), tuple(evidence)),
        received_at=ARRIVAL.astimezone(zone),
        scope=(ScopeNote("third_party", tuple(evidence), "a third party", "policy line"),),
        missing_details=("workaround",) if evidence else (),
    )
    assert decision_from_json(decision_to_json(decision)) == decision


def test_decisions_stored_before_scope_existed_read_back_without_notes() -> None:
    _, decision = pair("T")
    record = json.loads(decision_to_json(decision))
    del record["scope"], record["missing_details"]
    old = decision_from_json(json.dumps(record))
    assert (old.scope, old.missing_details) == ((), ())


@settings(max_examples=25, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.none() | st.integers(-300, 300),  # initial deadline, minutes from NOW
            st.none() | st.integers(1, 4),  # suggested severity
            st.integers(0, 600),  # arrival, minutes before NOW
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_queue_order_and_next_in_queue_agree(items: list[tuple[int | None, int | None, int]]) -> None:
    with DecisionStore.open("sqlite://", clock=lambda: NOW) as store:
        pairs = []
        for i, (due, severity, age) in enumerate(items):
            ticket, decision = pair(
                f"Q-{i:02d}", severity, due=NOW + timedelta(minutes=due) if due is not None else None
            )
            arrived = NOW - timedelta(minutes=age)
            pairs.append((replace(ticket, received_at=arrived), replace(decision, received_at=arrived)))
        store.save_many(pairs)
        queue = store.queue()
        dated = [r.deadlines.initial_response.due for r in queue if r.deadlines and r.deadlines.initial_response.due]
        assert dated == sorted(dated)  # most urgent first; overdue ones are the earliest of all
        assert all(r.deadlines and r.deadlines.initial_response.due for r in queue[: len(dated)])
        ids = [r.id for r in queue]
        for position, item in enumerate(queue):
            following = store.next_in_queue(item)
            expected = ids[(position + 1) % len(ids)] if len(ids) > 1 else None
            assert (following.id if following else None) == expected


RACE_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from sevtriage.store import DecisionStore, ReviewConflict

    store = DecisionStore.open({url!r})
    start = float(sys.argv[1])
    time.sleep(max(0.0, start - time.time()))
    try:
        store.review("T", actor=sys.argv[2], expected_version=1, action="change", severity=1, reason=sys.argv[2])
        print("ok")
    except ReviewConflict:
        print("conflict")
    """
)


def test_of_specialists_in_separate_processes_exactly_one_wins(url: str) -> None:
    with DecisionStore.open(url) as store:
        store.save(*pair("T"))
    script = RACE_SCRIPT.format(url=url)
    start = f"{time.time() + 2.0:.3f}"  # all four start writing at the same moment
    children = [
        subprocess.Popen([sys.executable, "-c", script, start, f"p{i}"], stdout=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    outcomes = sorted(child.communicate(timeout=60)[0].strip() for child in children)
    assert outcomes == ["conflict", "conflict", "conflict", "ok"]
    with DecisionStore.open(url) as store:
        done = store.get("T")
        assert (done.version, len(done.history)) == (2, 2)
        assert done.history[-1].actor == done.reviewed_by


# -- nothing answered and then lost (issue 10, items 1 and 2) ------------------------------------------------------


def test_text_a_database_cannot_hold_is_normalised_the_same_way_on_every_database(store: DecisionStore) -> None:
    ticket, decision = pair("odd", subject="Nul\x00byte", body="lone \ud800 surrogate")
    ticket = replace(ticket, extra={"environment": "prod\udfff", "chan\x00nel": "mail"})
    assert store.save_many([(ticket, decision)]) == 1
    stored = store.get("odd")
    assert (stored.subject, stored.body) == ("Nul\ufffdbyte", "lone \ufffd surrogate")
    assert stored.fields == {"environment": "prod\ufffd", "chan\ufffdnel": "mail"}


@pytest.mark.parametrize(
    ("request_id", "message"),
    [
        ("x" * 201, "id is 201 characters long; ids may have at most 200"),
        ("bad\ud800id", "id must not contain a lone surrogate ('\\ud800')"),
        ("bad\x00id", "id must not contain a NUL character"),
    ],
)
def test_ids_a_database_cannot_hold_are_refused_with_the_limit(
    store: DecisionStore, request_id: str, message: str
) -> None:
    with pytest.raises(InputError) as refused:
        store.save(*pair(request_id))
    assert message in str(refused.value)
    assert store.counts() == {}


def test_a_bad_row_costs_only_itself_when_saved_row_by_row(store: DecisionStore) -> None:
    pairs = [pair(f"N-{i}") for i in range(4)] + [pair("x" * 300)] + [pair(f"N-{i}") for i in range(4, 9)]
    outcomes = store.save_each(pairs)
    failed = [(t.id[:3], str(o)) for (t, _), o in zip(pairs, outcomes, strict=True) if o is not None]
    assert failed == [("xxx", "id is 300 characters long; ids may have at most 200 (the store's column length)")]
    assert store.counts() == {"pending": 9}
    assert all(not o.retryable for o in outcomes if o is not None)


def test_save_each_writes_a_good_batch_in_one_go(store: DecisionStore) -> None:
    assert store.save_each([pair("A"), pair("B")]) == [None, None]
    assert store.save_each([pair("A"), pair("B", severity=1)]) == [None, None]
    assert (store.get("A").version, store.get("B").version) == (1, 2)


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_store import pair
    from sevtriage.store import DecisionStore

    store = DecisionStore.open({url!r})
    start, first = float(sys.argv[1]), int(sys.argv[2])
    time.sleep(max(0.0, start - time.time()))
    for chunk in range(first, first + 300, 50):
        store.save_many(pair(f"W-{{i:04d}}") for i in range(chunk, chunk + 50))
    print("ok")
    """
)


@pytest.mark.slow
def test_writers_in_separate_processes_with_overlapping_ids_all_succeed(url: str) -> None:
    """Two `classify --store` runs (or two service processes) over overlapping ids: no UniqueViolation."""
    with DecisionStore.open(url):
        pass  # migrated once, before the race
    script = WRITER_SCRIPT.format(tests=str(Path(__file__).parent), url=url)
    start = f"{time.time() + 2.0:.3f}"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, start, str(first)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for first in (0, 0, 100, 200)
    ]
    results = [child.communicate(timeout=120) for child in children]
    assert [(child.returncode, out.strip()) for child, (out, _) in zip(children, results, strict=True)] == [
        (0, "ok")
    ] * 4, [err[-2000:] for _, err in results]
    with DecisionStore.open(url) as store:
        assert store.counts() == {"pending": 500}
        suggested = [a.request_id for a in store.actions(kinds=["suggested"])]
        assert sorted(suggested) == [f"W-{i:04d}" for i in range(500)]
        assert store.actions(kinds=["resuggested"]) == []


def test_a_store_at_version_4_gets_the_mail_tables(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        migrations.migrate(conn, target=4)
    assert "mail_messages" not in inspect(engine).get_table_names()
    engine.dispose()
    with DecisionStore.open(url, clock=lambda: NOW) as upgraded:
        assert upgraded.schema_version() == migrations.LATEST >= 5
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"mail_messages", "mail_cursors"} <= tables


def test_mail_records_and_imap_cursors_round_trip(store: DecisionStore) -> None:
    from sevtriage.types import MailRecord

    ticket, decision = pair("mail-1")
    first = MailRecord("a@acme.example", "mail-1", "request", "export fails", "jan@acme.example", ARRIVAL)
    store.save_mail([(ticket, decision)], [first])
    later = MailRecord("b@acme.example", "mail-1", "follow_up", "export fails", "jan@acme.example", NOW)
    store.remember_mail([later, first])  # a known message is left as it is
    assert store.mail_known("a@acme.example") == first
    assert store.mail_known("zzz@acme.example") is None
    assert store.mail_request(["nope@x", "b@acme.example"]) == "mail-1"
    assert store.mail_request_by_subject("export fails", ["jan@acme.example"]) == "mail-1"
    assert store.mail_request_by_subject("export fails", ["eva@acme.example"]) is None
    assert store.mail_request_by_subject("export fails", [], domain="acme.example") == "mail-1"
    assert store.mail_request_by_subject("export fails", [], domain="cme.example") is None
    assert [r.message_id for r in store.mail_messages("mail-1")] == ["a@acme.example", "b@acme.example"]
    assert store.imap_cursor("u@h:993/INBOX") is None
    store.save_imap_cursor("u@h:993/INBOX", 7, 10)
    store.save_imap_cursor("u@h:993/INBOX", 7, 12)
    assert store.imap_cursor("u@h:993/INBOX") == (7, 12)
