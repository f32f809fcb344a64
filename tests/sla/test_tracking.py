"""SLA status from a request's events: a table of cases worked out by hand, and properties that must always hold."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.sla import SlaFacts, SlaPolicy, due_soon, facts_from_events, sla_status
from sevtriage.types import Severity

POLICY = SlaPolicy.load()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def facts(
    severity: int,
    plan: str,
    received: str,
    *responses: str,
    resolved: str | None = None,
) -> SlaFacts:
    times = [at(r) for r in responses]
    return SlaFacts(
        request_id="T-1",
        received_at=at(received),
        severity=Severity(severity),
        plan=plan,
        first_response_at=min(times) if times else None,
        last_response_at=max(times) if times else None,
        resolved_at=at(resolved) if resolved else None,
    )


# 2026-11-24 is a Tuesday, 2026-11-27 a Friday; Bratislava is at +01:00 in winter. 2026-12-24 and 25 are Slovak
# public holidays (Štedrý deň, Prvý sviatok vianočný: Act No. 241/1993 Coll.), the 26th a Saturday.
# (severity, plan, received, responses, now, initial state, initial due, waiting, breached)
CASES = [
    # Premier severity 1, Friday 16:30: whichever comes first of 1 business hour (Mon 08:30) and 8 hours (Sat 00:30).
    (
        1,
        "premier",
        "2026-11-27T16:30+01:00",
        ["2026-11-28T00:15+01:00"],
        "2026-11-28T01:00+01:00",
        "met",
        "2026-11-28T00:30+01:00",
        False,
        False,
    ),
    (
        1,
        "premier",
        "2026-11-27T16:30+01:00",
        ["2026-11-28T00:45+01:00"],
        "2026-11-28T01:00+01:00",
        "breached",
        "2026-11-28T00:30+01:00",
        False,
        True,
    ),
    (
        1,
        "premier",
        "2026-11-27T16:30+01:00",
        [],
        "2026-11-28T00:29+01:00",
        "due",
        "2026-11-28T00:30+01:00",
        True,
        False,
    ),
    (
        1,
        "premier",
        "2026-11-27T16:30+01:00",
        [],
        "2026-11-28T00:31+01:00",
        "breached",
        "2026-11-28T00:30+01:00",
        True,
        True,
    ),
    # Standard severity 1 has no 8-hour clause: 30 business minutes on Friday, the rest on Monday morning.
    (
        1,
        "standard",
        "2026-11-27T16:30+01:00",
        ["2026-11-30T08:25+01:00"],
        "2026-11-30T09:00+01:00",
        "met",
        "2026-11-30T08:30+01:00",
        False,
        False,
    ),
    (
        1,
        "standard",
        "2026-11-27T16:30+01:00",
        ["2026-11-30T08:31+01:00"],
        "2026-11-30T09:00+01:00",
        "breached",
        "2026-11-30T08:30+01:00",
        False,
        True,
    ),
    (
        1,
        "standard",
        "2026-11-27T16:30+01:00",
        [],
        "2026-11-29T22:00+01:00",
        "due",
        "2026-11-30T08:30+01:00",
        True,
        False,
    ),
    # Due at closing time: a reply at 18:00 is on time (1 business hour elapsed, not more), and so is waiting
    # through the night; the first business minute of the next day breaks it.
    (
        1,
        "standard",
        "2026-11-24T16:00+01:00",
        ["2026-11-24T18:00+01:00"],
        "2026-11-24T19:00+01:00",
        "met",
        "2026-11-24T17:00+01:00",
        False,
        False,
    ),
    (
        1,
        "standard",
        "2026-11-24T16:00+01:00",
        [],
        "2026-11-25T07:59+01:00",
        "due",
        "2026-11-24T17:00+01:00",
        True,
        False,
    ),
    (
        1,
        "standard",
        "2026-11-24T16:00+01:00",
        [],
        "2026-11-25T08:01+01:00",
        "breached",
        "2026-11-24T17:00+01:00",
        True,
        True,
    ),
    # Premier severity 3: 1 business day = 9 business hours; Christmas Eve and Day are closed.
    (
        3,
        "premier",
        "2026-12-24T10:00+01:00",
        ["2026-12-28T16:59+01:00"],
        "2026-12-29T09:00+01:00",
        "met",
        "2026-12-28T17:00+01:00",
        False,
        False,
    ),
    (
        3,
        "premier",
        "2026-12-24T10:00+01:00",
        ["2026-12-29T08:01+01:00"],
        "2026-12-29T09:00+01:00",
        "breached",
        "2026-12-28T17:00+01:00",
        False,
        True,
    ),
    # Standard severity 3: no target, never breached, still waiting for an answer.
    (3, "standard", "2026-11-24T10:00+01:00", [], "2026-12-24T10:00+01:00", "no_target", None, True, False),
    # A response recorded after "now" has not happened yet.
    (
        2,
        "standard",
        "2026-11-24T09:00+01:00",
        ["2026-11-24T15:00+01:00"],
        "2026-11-24T12:00+01:00",
        "due",
        "2026-11-24T13:00+01:00",
        True,
        False,
    ),
]


@pytest.mark.parametrize(
    ("severity", "plan", "received", "responses", "now", "state", "due", "waiting", "breached"), CASES
)
def test_initial_response_table(
    severity: int,
    plan: str,
    received: str,
    responses: list[str],
    now: str,
    state: str,
    due: str | None,
    waiting: bool,
    breached: bool,
) -> None:
    status = sla_status(POLICY, facts(severity, plan, received, *responses), at(now))
    assert status.initial.state == state
    assert status.initial.due == (at(due) if due else None)
    assert (status.waiting, status.breached) == (waiting, breached)


def test_the_next_update_counts_from_the_last_response_and_breaks_by_business_time() -> None:
    # Premier severity 1, answered 09:30 and again 10:00: the next update is due 1 business hour after 10:00.
    answered = facts(1, "premier", "2026-11-24T09:00+01:00", "2026-11-24T09:30+01:00", "2026-11-24T10:00+01:00")
    before = sla_status(POLICY, answered, at("2026-11-24T10:59+01:00"))
    assert (before.initial.state, before.ongoing.state, before.ongoing.due) == (
        "met",
        "due",
        at("2026-11-24T11:00+01:00"),
    )
    assert before.ongoing.started_at == at("2026-11-24T10:00+01:00")
    assert before.next_due == at("2026-11-24T11:00+01:00")
    after = sla_status(POLICY, answered, at("2026-11-24T11:01+01:00"))
    assert (after.ongoing.state, after.breached, after.waiting) == ("breached", True, False)


def test_premier_next_update_outside_business_hours_is_due_within_8_hours() -> None:
    # Last response Friday 20:00: 1 business hour would end Monday 09:00, 8 hours end Saturday 04:00.
    late = facts(1, "premier", "2026-11-27T19:00+01:00", "2026-11-27T20:00+01:00")
    status = sla_status(POLICY, late, at("2026-11-28T03:00+01:00"))
    assert (status.ongoing.state, status.ongoing.due) == ("due", at("2026-11-28T04:00+01:00"))
    assert sla_status(POLICY, late, at("2026-11-28T04:01+01:00")).ongoing.state == "breached"


def test_a_resolved_request_stops_both_clocks() -> None:
    done = facts(1, "premier", "2026-11-24T09:00+01:00", "2026-11-24T09:30+01:00", resolved="2026-11-24T09:40+01:00")
    status = sla_status(POLICY, done, at("2026-11-30T09:00+01:00"))
    assert (status.initial.state, status.ongoing.state, status.breached, status.waiting, status.resolved) == (
        "met",
        "stopped",
        False,
        False,
        True,
    )
    unanswered = facts(1, "standard", "2026-11-24T09:00+01:00", resolved="2026-11-24T12:00+01:00")
    closed = sla_status(POLICY, unanswered, at("2026-11-30T09:00+01:00"))
    # Resolved without a reply after the deadline: the initial response was missed, and stays missed.
    assert (closed.initial.state, closed.waiting) == ("breached", False)


def test_no_arrival_or_no_severity_is_unknown_not_an_error() -> None:
    for missing in (
        SlaFacts("T-1", None, Severity.CRITICAL, "premier"),
        SlaFacts("T-1", at("2026-11-24T09:00+01:00"), None, "premier"),
    ):
        status = sla_status(POLICY, missing, at("2026-11-24T12:00+01:00"))
        assert (status.initial.state, status.breached, status.waiting) == ("unknown", False, True)


@dataclass(frozen=True)
class Ev:
    kind: str
    at: datetime
    to_severity: Severity | None = None


def test_facts_come_from_the_events_in_any_order() -> None:
    events = [
        Ev("received", at("2026-11-24T09:00+01:00"), Severity.MEDIUM),
        Ev("follow_up", at("2026-11-24T09:20+01:00")),
        Ev("severity_changed", at("2026-11-24T09:21+01:00"), Severity.CRITICAL),
        Ev("response", at("2026-11-24T09:30+01:00")),
        Ev("response", at("2026-11-24T11:00+01:00")),
        Ev("resolved", at("2026-11-24T12:00+01:00")),
        Ev("follow_up", at("2026-11-24T13:00+01:00")),
    ]
    expected = SlaFacts(
        "T-1",
        at("2026-11-24T09:00+01:00"),
        Severity.CRITICAL,
        "premier",
        at("2026-11-24T09:30+01:00"),
        at("2026-11-24T11:00+01:00"),
        None,  # the last follow-up reopened it
    )
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    assert facts_from_events("T-1", shuffled, plan="premier") == expected
    assert facts_from_events("T-1", events[:-1], plan="premier").resolved_at == at("2026-11-24T12:00+01:00")
    # The store's severity in force wins over the events' (a review that accepted another suggestion).
    assert facts_from_events("T-1", events, plan="premier", severity=Severity.HIGH).severity == Severity.HIGH


# -- due soon (alerts) --------------------------------------------------------------------------------------------

LEADS = {"business_lead": timedelta(minutes=30), "elapsed_lead": timedelta(minutes=60)}


@pytest.mark.parametrize(
    ("severity", "plan", "received", "now", "expected"),
    [
        # Open desk, 20 business minutes left of 1 business hour: warned by the business clause.
        (1, "standard", "2026-11-24T10:00+01:00", "2026-11-24T10:40+01:00", ("business", timedelta(minutes=20))),
        (1, "standard", "2026-11-24T10:00+01:00", "2026-11-24T10:20+01:00", None),
        # Saturday night, Premier: the business clock stands still; the 8-hour clause warns an hour ahead.
        (1, "premier", "2026-11-28T14:00+01:00", "2026-11-28T21:10+01:00", ("elapsed", timedelta(minutes=50))),
        (1, "premier", "2026-11-28T14:00+01:00", "2026-11-28T20:50+01:00", None),
        # Standard over the weekend: no 8-hour clause, and the business clause waits for the desk to open.
        (1, "standard", "2026-11-27T16:50+01:00", "2026-11-28T21:00+01:00", None),
        (1, "standard", "2026-11-27T16:50+01:00", "2026-11-30T08:25+01:00", ("business", timedelta(minutes=25))),
        # Already past the target: still reported (left <= 0), so a late check still alerts.
        (1, "premier", "2026-11-28T14:00+01:00", "2026-11-28T22:30+01:00", ("elapsed", timedelta(minutes=-30))),
        # No target: nothing to warn about.
        (4, "standard", "2026-11-24T10:00+01:00", "2026-12-24T10:00+01:00", None),
    ],
)
def test_due_soon_per_clause(
    severity: int, plan: str, received: str, now: str, expected: tuple[str, timedelta] | None
) -> None:
    status = sla_status(POLICY, facts(severity, plan, received), at(now))
    found = due_soon(POLICY, status, **LEADS)
    assert (None if found is None else (found.clause, found.left)) == expected


def test_an_answered_request_is_not_due_soon_for_its_initial_response() -> None:
    answered = facts(1, "standard", "2026-11-24T10:00+01:00", "2026-11-24T10:10+01:00")
    found = due_soon(POLICY, sla_status(POLICY, answered, at("2026-11-24T10:50+01:00")), **LEADS)
    # The ongoing clock (2 business hours from 10:10) is running instead, with plenty of time.
    assert found is None
    late = due_soon(POLICY, sla_status(POLICY, answered, at("2026-11-24T11:50+01:00")), **LEADS)
    assert late is not None and (late.kind, late.clause, late.left) == ("ongoing", "business", timedelta(minutes=20))


# -- properties -------------------------------------------------------------------------------------------------

arrivals = st.datetimes(datetime(2025, 12, 1), datetime(2027, 2, 1), timezones=st.just(UTC))
severities = st.sampled_from([1, 2, 3, 4])
plans = st.sampled_from(["standard", "premier"])
minutes = st.integers(0, 10 * 24 * 60)


def _facts(received: datetime, severity: int, plan: str, response: datetime | None = None) -> SlaFacts:
    return SlaFacts("T", received, Severity(severity), plan, response, response)


@settings(max_examples=150, deadline=None)
@given(arrivals, severities, plans, minutes, minutes)
def test_a_response_by_the_deadline_is_met_and_a_breach_never_heals(
    received: datetime, severity: int, plan: str, delay: int, more: int
) -> None:
    response = received + timedelta(minutes=delay)
    later = response + timedelta(minutes=more)
    now = later + timedelta(days=1)
    first = sla_status(POLICY, _facts(received, severity, plan, response), now).initial
    second = sla_status(POLICY, _facts(received, severity, plan, later), now).initial
    if first.due is None:
        assert first.state == second.state == "no_target"
        return
    if response <= first.due:
        assert first.state == "met"
    if first.state == "breached":
        assert response > first.due
        assert second.state == "breached"


@settings(max_examples=150, deadline=None)
@given(arrivals, severities, plans, minutes)
def test_waiting_until_now_is_judged_like_a_response_now(
    received: datetime, severity: int, plan: str, delay: int
) -> None:
    now = received + timedelta(minutes=delay)
    waiting = sla_status(POLICY, _facts(received, severity, plan), now)
    answered = sla_status(POLICY, _facts(received, severity, plan, now), now)
    assert waiting.waiting and not answered.waiting
    assert waiting.initial.due == answered.initial.due
    assert waiting.initial.breached == answered.initial.breached
    assert waiting.initial.state in ("due", "breached", "no_target")


@settings(max_examples=100, deadline=None)
@given(arrivals, severities, plans, minutes, minutes)
def test_the_next_update_is_never_due_before_the_last_response(
    received: datetime, severity: int, plan: str, delay: int, after: int
) -> None:
    response = received + timedelta(minutes=delay)
    status = sla_status(POLICY, _facts(received, severity, plan, response), response + timedelta(minutes=after))
    if status.ongoing.due is not None:
        assert status.ongoing.due >= response
        assert status.ongoing.state in ("due", "breached")
    else:
        assert status.ongoing.state == "no_target"
