"""The SLA load delta of a rule change: requests per severity per ISO week, Premier deadlines out of hours."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.sla import SlaPolicy
from sevtriage.sla_load import SlaLoadCounter, build_sla_load, check_load_gate, decided_severity, format_markdown
from sevtriage.types import RuleVerdict, Severity, Ticket

POLICY = SlaPolicy.load()  # the bundled rules/sla.yaml: Europe/Bratislava, Mon-Fri 08:00-17:00, SK holidays
CET = timezone(timedelta(hours=1))  # Bratislava's offset in November and December


def verdict(severity: int | None) -> RuleVerdict:
    """A confident verdict at `severity`, or an abstention for None."""
    if severity is None:
        return RuleVerdict(matches=(), severity=None, confident=False, reasons=("no_rule",))
    return RuleVerdict(matches=(), severity=Severity(severity), confident=True)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CET)


# Premier deadlines worked out by hand from rules/sla.yaml ("1 business hour / 8 hours outside business hours",
# whichever comes first; 2 business hours / 8 hours for severity 2; 1 business day = 9 hours for severity 3).
# 2026-11-26 is a Thursday, 11-27 a Friday, 11-29 a Sunday.
# (severity, arrival, initial deadline outside hours, ongoing deadline outside hours; None: no such deadline)
PREMIER_CASES = [
    # 10:20 and 11:20 the same day: both inside.
    (1, at(26, 9, 20), False, False),
    # Friday 16:30: 8 elapsed hours (Sat 00:30) come before 1 business hour (Mon 08:30); the update 8 hours later.
    (1, at(27, 16, 30), True, True),
    # Sunday 03:00: initial Sunday 11:00, ongoing Sunday 19:00.
    (1, at(29, 3), True, True),
    # Thursday 16:00: 1 business hour ends at closing time, 17:00 (inside); the update is due Fri 01:00.
    (1, at(26, 16), False, True),
    # Thursday 16:00, severity 2: 8 hours (Fri 00:00) beat 2 business hours (Fri 09:00); the update from there
    # is due at Fri 08:00, the opening instant (inside).
    (2, at(26, 16), True, False),
    # Severity 3: one business day, Friday 09:20; no ongoing target.
    (3, at(26, 9, 20), False, None),
    # Severity 4 on Friday 16:30: two business days end Tuesday 16:30.
    (4, at(27, 16, 30), False, None),
]


@pytest.mark.parametrize(("severity", "arrived", "initial_out", "ongoing_out"), PREMIER_CASES)
def test_premier_deadlines_outside_business_hours(
    severity: int, arrived: datetime, initial_out: bool, ongoing_out: bool | None
) -> None:
    ticket = Ticket(id="T", body="x", received_at=arrived, plan="premier")
    load = build_sla_load([ticket], [verdict(None)], [verdict(severity)], POLICY)
    assert load.old_deadlines.initial == 0 and load.old_deadlines.outside == 0
    new = load.new_deadlines
    assert (new.initial, new.initial_outside) == (1, int(initial_out))
    assert (new.ongoing, new.ongoing_outside) == ((0, 0) if ongoing_out is None else (1, int(ongoing_out)))


def test_only_premier_requests_count_and_unknown_plans_take_the_default_plan() -> None:
    friday_evening = at(27, 16, 30)  # a Premier severity-1 request then has both deadlines outside hours
    tickets = [
        Ticket(id="P", body="x", received_at=friday_evening, plan=" Premier "),
        Ticket(id="S", body="x", received_at=friday_evening, plan="standard"),
        Ticket(id="N", body="x", received_at=friday_evening, plan=None),
        Ticket(id="G", body="x", received_at=friday_evening, plan="gold"),
        Ticket(id="U", body="x", received_at=None, plan="premier"),
    ]
    load = build_sla_load(tickets, [verdict(1)] * 5, [verdict(1)] * 5, POLICY)
    assert load.plan_requests == 1 and load.plan_undated == 1
    assert load.new_deadlines.outside == 2
    assert (load.unknown_plan, load.unknown_plan_names, load.default_plan) == (2, ("gold",), "standard")
    text = format_markdown(load)
    assert "2 requests have no plan (or one the policy does not name: gold); they are counted under the policy's " in (
        text
    )
    assert "1 Premier request has no arrival time, so no deadlines." in text


def test_weeks_are_iso_weeks_of_the_arrival_in_bratislava() -> None:
    tickets = [
        # Sunday 23:30 in Bratislava: still week 48.
        Ticket(id="a", received_at=datetime(2026, 11, 29, 22, 30, tzinfo=UTC)),
        # Sunday 23:30 UTC is Monday 00:30 in Bratislava: week 49.
        Ticket(id="b", received_at=datetime(2026, 11, 29, 23, 30, tzinfo=UTC)),
        # 2027-01-01 (a Friday) belongs to ISO week 53 of 2026.
        Ticket(id="c", received_at=datetime(2027, 1, 1, 12, tzinfo=CET)),
        Ticket(id="d", received_at=None),
    ]
    load = build_sla_load(tickets, [verdict(2), verdict(2), verdict(None), verdict(1)], [verdict(1)] * 4, POLICY)
    assert [w.week for w in load.weeks] == ["2026-W48", "2026-W49", "2026-W53"]
    assert [w.to_dict()["delta"] for w in load.weeks] == [
        {"1": 1, "2": -1, "3": 0, "4": 0, "undecided": 0},
        {"1": 1, "2": -1, "3": 0, "4": 0, "undecided": 0},
        {"1": 1, "2": 0, "3": 0, "4": 0, "undecided": -1},
    ]
    assert load.undated == 1 and load.overall_old.of(1) == 1 and load.overall_new.of(1) == 4
    assert load.max_week_increase(1) == 1
    assert check_load_gate(load, "sev1-per-week-increase", ">", 0) == ["severity-1 requests in 2026-W48 rose by +1 > 0"]
    assert check_load_gate(load, "sev1-per-week-increase", ">", 1) == []
    text = format_markdown(load)
    assert "| 2026-W48 | 0 -> 1 (+1) | 1 -> 0 (-1) | 0 | 0 | 0 |" in text
    assert "1 of the 4 requests has no arrival time (received_at): they are in the 'all' row" in text


def test_without_any_arrival_the_weekly_gate_says_it_cannot_measure() -> None:
    load = build_sla_load([Ticket(id="x")], [verdict(1)], [verdict(1)], POLICY)
    assert load.weeks == () and load.undated == 1
    assert "None of the 1 requests has an arrival time" in format_markdown(load)
    with pytest.raises(ValueError, match="sev1-per-week-increase needs arrival times; none of the 1 requests"):
        check_load_gate(load, "sev1-per-week-increase", ">", 0)


def test_a_naive_arrival_and_an_unknown_plan_parameter_are_refused() -> None:
    with pytest.raises(ValueError, match="request 'n': received_at must have a UTC offset; got naive 2026-11-26"):
        build_sla_load([Ticket(id="n", received_at=datetime(2026, 11, 26, 9))], [verdict(1)], [verdict(1)], POLICY)
    with pytest.raises(ValueError, match=r"plan must be one of \{'standard', 'premier'\}; got 'gold'"):
        SlaLoadCounter(POLICY, plan="gold")


# --- properties -------------------------------------------------------------------------------------------------

_severities = st.one_of(st.none(), st.integers(1, 4))
_arrivals = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
)
_rows = st.lists(
    st.tuples(_arrivals, st.sampled_from([None, "premier", "standard", "gold"]), _severities, _severities),
    max_size=40,
)


def _inputs(
    rows: list[tuple[datetime | None, str | None, int | None, int | None]],
) -> tuple[list[Ticket], list[RuleVerdict], list[RuleVerdict]]:
    tickets = [Ticket(id=str(i), received_at=a, plan=p) for i, (a, p, _, _) in enumerate(rows)]
    return tickets, [verdict(o) for _, _, o, _ in rows], [verdict(n) for _, _, _, n in rows]


@settings(max_examples=60, deadline=None)
@given(_rows)
def test_weeks_and_undated_add_up_to_the_verdicts(
    rows: list[tuple[datetime | None, str | None, int | None, int | None]],
) -> None:
    tickets, old, new = _inputs(rows)
    load = build_sla_load(tickets, old, new, POLICY)
    for side, verdicts in (("old", old), ("new", new)):
        expected = Counter(decided_severity(v) for v in verdicts)
        undated = Counter(decided_severity(v) for t, v in zip(tickets, verdicts, strict=True) if t.received_at is None)
        overall = load.overall_old if side == "old" else load.overall_new
        for severity in (1, 2, 3, 4):
            weekly = sum((w.old if side == "old" else w.new).of(severity) for w in load.weeks)
            assert weekly + undated[severity] == overall.of(severity) == expected[severity]
        assert overall.undecided == expected[None]
    assert load.undated == sum(1 for t in tickets if t.received_at is None)
    for deadlines in (load.old_deadlines, load.new_deadlines):
        assert 0 <= deadlines.initial_outside <= deadlines.initial <= load.plan_requests
        assert 0 <= deadlines.ongoing_outside <= deadlines.ongoing <= load.plan_requests


@settings(max_examples=30, deadline=None)
@given(_rows, st.integers(0, 40))
def test_counting_in_batches_gives_the_same_load(
    rows: list[tuple[datetime | None, str | None, int | None, int | None]], cut: int
) -> None:
    tickets, old, new = _inputs(rows)
    counter = SlaLoadCounter(POLICY)
    counter.add(tickets[:cut], old[:cut], new[:cut])
    counter.add(tickets[cut:], old[cut:], new[cut:])
    assert counter.result() == build_sla_load(tickets, old, new, POLICY)
