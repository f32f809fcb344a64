"""Request events in the store: received, responses, follow-ups with re-triage, severity changes, resolution."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, Table, create_engine, insert, inspect

from sevtriage.errors import InputError
from sevtriage.sla import SlaPolicy
from sevtriage.store import DecisionStore, NotFound, migrations
from sevtriage.store.store import ESCALATED
from sevtriage.types import Decision, MailEvent, MailRecord, Severity
from tests.store.test_store import ARRIVAL, NOW, pair

POLICY = SlaPolicy.load()
LATER = ARRIVAL + timedelta(hours=2)


def retriaged(request_id: str, severity: int, received_at: datetime = LATER) -> Decision:
    """What the triage says about the request after the customer's follow-up, as a mail import would get it."""
    decision = pair(request_id, severity=severity, needs_review=False, reasons=())[1]
    # The triage of the follow-up counts from the follow-up; the store must count from arrival instead.
    return replace(decision, received_at=received_at, deadlines=POLICY.deadlines(severity, "standard", received_at))


def test_a_stored_request_starts_with_a_received_event_at_its_arrival(store: DecisionStore) -> None:
    store.save(*pair("T-1"))
    [event] = store.events("T-1")
    assert (event.kind, event.at, event.by, event.to_severity, event.recorded_at) == (
        "received",
        ARRIVAL,
        "sevtriage",
        Severity.HIGH,
        NOW,
    )


def test_responses_stop_the_initial_clock_and_the_latest_starts_the_ongoing_one(store: DecisionStore) -> None:
    store.save(*pair("T-1"))
    second, first = ARRIVAL + timedelta(hours=3), ARRIVAL + timedelta(minutes=30)
    assert store.record_response("T-1", second, "support@example.com", ref="<b@x>") is True
    assert store.record_response("T-1", first, "support@example.com", ref="<a@x>", note="on it") is True
    got = store.get("T-1")
    assert (got.first_response_at, got.last_response_at, got.version) == (first, second, 1)
    assert [(e.kind, e.at, e.ref) for e in store.events("T-1")] == [
        ("received", ARRIVAL, None),
        ("response", first, "<a@x>"),
        ("response", second, "<b@x>"),
    ]


def test_recording_the_same_reference_twice_records_it_once(store: DecisionStore) -> None:
    store.save(*pair("T-1"))
    at = ARRIVAL + timedelta(hours=1)
    assert store.record_response("T-1", at, "support@example.com", ref="<r1@x>") is True
    assert store.record_response("T-1", at, "support@example.com", ref="<r1@x>") is False
    assert store.record_follow_up("T-1", at, by="customer@example.com", ref="<r1@x>").id == "T-1"  # other kind
    store.record_follow_up("T-1", at, by="customer@example.com", ref="<r1@x>")
    assert [e.kind for e in store.events("T-1")] == ["received", "response", "follow_up"]


def test_events_of_an_unknown_request_are_not_found(store: DecisionStore) -> None:
    with pytest.raises(NotFound, match="no stored request has the id 'nope'"):
        store.events("nope")
    with pytest.raises(NotFound, match="no stored request has the id 'nope'"):
        store.record_response("nope", ARRIVAL, "support@example.com")


def test_a_response_before_arrival_or_with_a_naive_time_is_refused_and_nothing_is_recorded(
    store: DecisionStore,
) -> None:
    store.save(*pair("T-1"))
    with pytest.raises(
        InputError, match=r"a response of T-1 at 2026-11-24T08:00:00\+00:00 would be before the request"
    ):
        store.record_response("T-1", ARRIVAL - timedelta(hours=1), "support@example.com")
    with pytest.raises(InputError, match="times must carry a UTC offset; got the naive time 2026-11-24T10:00:00"):
        store.record_response("T-1", datetime(2026, 11, 24, 10, 0), "support@example.com")
    assert [e.kind for e in store.events("T-1")] == ["received"]
    assert store.get("T-1").first_response_at is None


def test_a_follow_up_that_escalates_recomputes_the_deadlines_from_arrival(store: DecisionStore) -> None:
    store.save(*pair("T-1", severity=3, due=None))
    after = store.record_follow_up(
        "T-1",
        LATER,
        retriaged("T-1", 1),
        by="customer@example.com",
        note="now nobody can log in",
        deadlines=POLICY.deadlines,
    )
    assert after.severity == Severity.CRITICAL
    assert after.deadlines == POLICY.deadlines(1, "standard", ARRIVAL)  # from arrival, not from the follow-up
    assert after.deadlines is not None and after.deadlines.initial_response.due == ARRIVAL + timedelta(hours=1)
    assert (after.version, after.history[-1].kind) == (2, "resuggested")
    kinds = [(e.kind, e.from_severity, e.to_severity, e.note) for e in store.events("T-1")]
    assert kinds == [
        ("received", None, Severity.MEDIUM, None),
        ("follow_up", None, None, "now nobody can log in"),
        (
            "severity_changed",
            Severity.MEDIUM,
            Severity.CRITICAL,
            "re-triaged after a follow-up from customer@example.com",
        ),
    ]


def test_a_follow_up_with_the_same_severity_changes_nothing_but_the_events(store: DecisionStore) -> None:
    store.save(*pair("T-1", severity=2))
    before = store.get("T-1")
    after = store.record_follow_up("T-1", LATER, retriaged("T-1", 2), deadlines=POLICY.deadlines)
    assert (after.version, after.deadlines, after.severity) == (before.version, before.deadlines, before.severity)
    assert [e.kind for e in store.events("T-1")] == ["received", "follow_up"]


def test_a_reviewed_severity_stands_against_a_milder_retriage_but_not_against_an_escalation(
    store: DecisionStore,
) -> None:
    store.save_many([pair("mild"), pair("worse")])
    for request_id in ("mild", "worse"):
        store.review(request_id, actor="alice", expected_version=1, action="accept")
    kept = store.record_follow_up("mild", LATER, retriaged("mild", 4), deadlines=POLICY.deadlines)
    assert (kept.severity, kept.status, kept.version) == (Severity.HIGH, "accepted", 2)
    back = store.record_follow_up("worse", LATER, retriaged("worse", 1), deadlines=POLICY.deadlines)
    assert (back.severity, back.status, back.final_severity) == (Severity.CRITICAL, "pending", None)
    assert ESCALATED in back.suggested.review_reasons
    assert [r.id for r in store.queue()] == ["worse"]


def test_a_follow_up_with_a_decision_needs_the_deadline_rule_and_the_same_id(store: DecisionStore) -> None:
    store.save(*pair("T-1"))
    with pytest.raises(InputError, match=r"needs deadlines=\.\.\., the rule .* \(pass SlaPolicy.deadlines\)"):
        store.record_follow_up("T-1", LATER, retriaged("T-1", 1))
    with pytest.raises(InputError, match="the decision is for 'T-2', not 'T-1'; pair them by id"):
        store.record_follow_up("T-1", LATER, retriaged("T-2", 1), deadlines=POLICY.deadlines)
    assert [e.kind for e in store.events("T-1")] == ["received"]


def test_a_specialists_change_is_a_severity_change_event_and_an_accept_is_not(store: DecisionStore) -> None:
    store.save_many([pair("A"), pair("C")])
    store.review("A", actor="alice", expected_version=1, action="accept")
    store.review("C", actor="bob", expected_version=1, action="change", severity=1, reason="shop down")
    assert [e.kind for e in store.events("A")] == ["received"]
    last = store.events("C")[-1]
    assert (last.kind, last.by, last.from_severity, last.to_severity, last.note) == (
        "severity_changed",
        "bob",
        Severity.HIGH,
        Severity.CRITICAL,
        "shop down",
    )


def test_resolved_requests_leave_the_open_list_until_the_customer_writes_again(store: DecisionStore) -> None:
    store.save_many([pair("waiting"), pair("answered"), pair("solved")])
    store.record_response("answered", LATER, "support@example.com")
    store.record_response("solved", LATER, "support@example.com")
    store.record_resolved("solved", LATER + timedelta(minutes=5), "alice")
    assert {r.id for r in store.open_requests()} == {"waiting", "answered"}
    assert [r.id for r in store.open_requests(waiting_only=True)] == ["waiting"]
    store.record_follow_up("solved", LATER + timedelta(hours=1), by="customer@example.com")
    assert {r.id for r in store.open_requests()} == {"waiting", "answered", "solved"}
    assert [r.id for r in store.open_requests(ids=["solved", "nope"])] == ["solved"]


def test_a_store_at_version_3_with_requests_gets_their_events_on_upgrade(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        assert [m.version for m in migrations.migrate(conn, target=3)] == [1, 2, 3]
        meta = MetaData()
        requests, actions = Table("requests", meta, autoload_with=conn), Table("actions", meta, autoload_with=conn)
        stamp = NOW.replace(tzinfo=None)
        for request_id in ("old-1", "old-2"):
            ticket, decision = pair(request_id)
            values = DecisionStore._row_values(ticket, decision)
            conn.execute(
                insert(requests).values(**values, id=request_id, created_at=stamp, updated_at=stamp, version=1)
            )
        conn.execute(
            insert(actions).values(
                request_id="old-2", actor="bob", at=stamp, kind="changed", from_severity=2, to_severity=1, reason="down"
            )
        )
    assert "events" not in inspect(engine).get_table_names()
    engine.dispose()
    with DecisionStore.open(url, clock=lambda: NOW) as upgraded:
        assert upgraded.schema_version() == migrations.LATEST >= 4
        assert [(e.kind, e.at, e.to_severity) for e in upgraded.events("old-1")] == [
            ("received", ARRIVAL, Severity.HIGH)
        ]
        assert [(e.kind, e.by, e.to_severity) for e in upgraded.events("old-2")] == [
            ("received", "sevtriage", Severity.HIGH),
            ("severity_changed", "bob", Severity.CRITICAL),
        ]
        assert upgraded.get("old-1").first_response_at is None
        assert upgraded.record_response("old-1", LATER, "support@example.com") is True
        assert upgraded.get("old-1").first_response_at == LATER


def test_times_come_back_as_aware_utc(store: DecisionStore) -> None:
    store.save(*pair("T-1"))
    bratislava = datetime(2026, 11, 24, 11, 30, tzinfo=UTC).astimezone(POLICY.calendar.tz)
    store.record_response("T-1", bratislava, "support@example.com")
    assert store.get("T-1").first_response_at == datetime(2026, 11, 24, 11, 30, tzinfo=UTC)
    assert store.events("T-1")[-1].at.tzinfo is UTC


# ------------------------------------------------------------------------------------------------ mail in batches


def _mail_items(request_id: str) -> list[MailEvent]:
    """A thread after the request: an answer, an escalating follow-up, a milder one, another answer, a repeat."""

    def item(kind: str, hours: int, ref: str, decision: Decision | None = None) -> MailEvent:
        who = "support@example.com" if kind == "response" else "customer@example.com"
        at = ARRIVAL + timedelta(hours=hours)
        record = MailRecord(f"{ref}-{request_id}", request_id, kind, "export fails", who, at)  # type: ignore[arg-type]
        return MailEvent(kind, request_id, at, who, f"{ref}-{request_id}", record, decision, note=f"note {ref}")  # type: ignore[arg-type]

    return [
        item("response", 1, "r1"),
        item("follow_up", 2, "f1", retriaged(request_id, 1)),
        item("follow_up", 3, "f2", retriaged(request_id, 3)),
        item("follow_up", 4, "f3"),
        item("response", 5, "r2"),
        item("response", 5, "r2"),  # the same message again: nothing new
    ]


def _thread_state(store: DecisionStore, request_id: str) -> tuple[object, ...]:
    got = store.get(request_id)
    events = [(e.kind, e.at, e.by, e.from_severity, e.to_severity, e.note) for e in store.events(request_id)]
    records = [(r.kind, r.at, r.sender) for r in store.mail_messages(request_id)]
    return (
        got.severity,
        got.deadlines,
        got.status,
        got.version,
        got.first_response_at,
        got.last_response_at,
        [(a.kind, a.from_severity, a.to_severity, a.reason) for a in got.history],
        [(kind, at, by, f, t, note.replace(request_id, "X") if note else note) for kind, at, by, f, t, note in events],
        records,
    )


def test_mail_events_stored_together_are_the_same_as_one_at_a_time(store: DecisionStore) -> None:
    store.save_many([pair("one-by-one"), pair("together")])
    for e in _mail_items("one-by-one"):
        if e.kind == "response":
            store.record_response(e.request_id, e.at, e.by, ref=e.ref, note=e.note)
        else:
            store.record_follow_up(
                e.request_id, e.at, e.decision, by=e.by, ref=e.ref, note=e.note, deadlines=POLICY.deadlines
            )
        store.remember_mail([e.record])
    store.save_mail_events(_mail_items("together"), deadlines=POLICY.deadlines)
    expected = _thread_state(store, "one-by-one")
    assert _thread_state(store, "together") == expected
    # Unreviewed, so each re-triage in turn was in force: 2 -> 1 -> 3, in the order of the messages.
    assert expected[0] == Severity.MEDIUM
    assert [(e[3], e[4]) for e in expected[7] if e[0] == "severity_changed"] == [(2, 1), (1, 3)]  # type: ignore[attr-defined]
    # Stored again (an import run twice): nothing changes.
    store.save_mail_events(_mail_items("together"), deadlines=POLICY.deadlines)
    assert _thread_state(store, "together") == expected


def test_mail_events_are_stored_all_or_nothing(store: DecisionStore) -> None:
    store.save(*pair("T-1"))
    good = _mail_items("T-1")[:2]
    early = replace(
        good[0], at=ARRIVAL - timedelta(hours=1), ref="early", record=replace(good[0].record, message_id="early")
    )
    with pytest.raises(InputError, match="would be before the request arrived"):
        store.save_mail_events([*good, early], deadlines=POLICY.deadlines)
    assert [e.kind for e in store.events("T-1")] == ["received"]
    assert store.mail_records([i.ref for i in good]) == {}
    with pytest.raises(InputError, match="needs deadlines="):
        store.save_mail_events(good)


def test_tickets_and_mail_records_are_read_at_once(store: DecisionStore) -> None:
    store.save_many([pair("T-1"), pair("T-2", subject="Login")])
    tickets = store.tickets(["T-2", "T-1", "T-2", "nope"])
    assert tickets == {"T-1": store.get("T-1").ticket, "T-2": store.get("T-2").ticket}
    record = MailRecord("<m1>", "T-1", "request", "export fails", "jan@acme.example", ARRIVAL)
    store.remember_mail([record])
    assert store.mail_records(["<m1>", "<m2>", "<m1>"]) == {"<m1>": record}
    assert store.mail_records([]) == {} and store.tickets([]) == {}
