"""Business-time arithmetic: the Bratislava desk, general calendars, DST, holidays, and its laws."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sevtriage.errors import InputError
from sevtriage.sla import BusinessCalendar, CalendarError, NaiveDatetimeError

BA = ZoneInfo("Europe/Bratislava")
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def utc(instant: datetime) -> datetime:
    """Compare instants in UTC: Python compares datetimes of one zone by wall clock, ignoring DST folds."""
    return instant.astimezone(UTC)


@pytest.fixture(scope="module")
def desk() -> BusinessCalendar:
    """The support desk of DESIGN.md: Mon-Fri 08:00-17:00 Bratislava, Slovak public holidays."""
    return BusinessCalendar("Europe/Bratislava", country="SK")


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        # DESIGN.md: a deadline landing exactly on closing time stays there.
        ("2026-11-24T16:00+01:00", H, "2026-11-24T17:00+01:00"),
        # Start outside business hours: the clock starts at the next opening.
        ("2026-11-24T03:00+01:00", H, "2026-11-24T09:00+01:00"),
        ("2026-11-24T17:00+01:00", H, "2026-11-25T09:00+01:00"),
        ("2026-11-27T16:30+01:00", H, "2026-11-30T08:30+01:00"),
        ("2026-11-28T22:00+01:00", 4 * H, "2026-11-30T12:00+01:00"),
        # A business day is 9 business hours: the same time next business day.
        ("2026-11-24T09:15+01:00", 9 * H, "2026-11-25T09:15+01:00"),
        ("2026-11-24T08:00+01:00", 9 * H, "2026-11-24T17:00+01:00"),
        # Epiphany (Tue 2026-01-06) is a public holiday.
        ("2026-01-05T16:00+01:00", 2 * H, "2026-01-07T09:00+01:00"),
        # Easter 2026: Good Friday 04-03 and Easter Monday 04-06 closed; summer time since 03-29.
        ("2026-04-02T16:30+02:00", H, "2026-04-07T08:30+02:00"),
        # Christmas: 24, 25 and 26 December are holidays, then the weekend.
        ("2026-12-23T15:00+01:00", 9 * H, "2026-12-28T15:00+01:00"),
        # New Year's Day 2027 (a Friday) then the weekend.
        ("2026-12-31T16:00+01:00", 2 * H, "2027-01-04T09:00+01:00"),
        # The DST weekends: business hours are wall-clock hours, so Monday still opens at 08:00 local.
        ("2026-03-27T16:30+01:00", H, "2026-03-30T08:30+02:00"),
        ("2026-10-23T16:30+02:00", H, "2026-10-26T08:30+01:00"),
        # An instant given in another offset is the same instant.
        ("2026-11-24T15:00Z", H, "2026-11-24T17:00+01:00"),
        # Zero duration returns the start, even outside business hours.
        ("2026-11-28T22:00+01:00", timedelta(0), "2026-11-28T22:00+01:00"),
        # Negative durations count back; landing on an opening stays there.
        ("2026-11-30T08:30+01:00", -H, "2026-11-27T16:30+01:00"),
        ("2026-11-24T09:00+01:00", -H, "2026-11-24T08:00+01:00"),
    ],
)
def test_add_on_the_desk_calendar(desk: BusinessCalendar, start: str, duration: timedelta, expected: str) -> None:
    result = desk.add(at(start), duration)
    assert result == at(expected)
    assert result.tzinfo == BA  # results are in the calendar's timezone
    assert result.isoformat() == at(expected).astimezone(BA).isoformat()


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-11-24T07:00+01:00", "2026-11-24T18:00+01:00", 9 * H),
        ("2026-11-24T16:30+01:00", "2026-11-25T08:30+01:00", 60 * M),
        ("2026-11-27T12:00+01:00", "2026-11-30T12:00+01:00", 9 * H),
        ("2026-11-24T12:00+01:00", "2026-11-24T12:00+01:00", timedelta(0)),
        ("2026-11-24T12:00+01:00", "2026-11-24T11:00+01:00", timedelta(0)),
        # Business time in [a, b): the closing instant itself is not business time.
        ("2026-11-24T17:00+01:00", "2026-11-24T18:00+01:00", timedelta(0)),
        # The year 2026 has 254 Slovak working days (261 weekdays minus 7 weekday holidays).
        ("2026-01-01T00:00+01:00", "2027-01-01T00:00+01:00", 254 * 9 * H),
    ],
)
def test_between_on_the_desk_calendar(desk: BusinessCalendar, start: str, end: str, expected: timedelta) -> None:
    assert desk.between(at(start), at(end)) == expected


@pytest.mark.parametrize(
    ("day", "closed"),
    [
        # Act No. 241/1993 Coll. on state holidays, non-working days and memorial days, as amended.
        (date(2026, 1, 1), True),
        (date(2026, 1, 6), True),
        (date(2026, 4, 3), True),
        (date(2026, 4, 6), True),
        (date(2026, 5, 1), True),
        (date(2026, 12, 24), True),
        # Constitution Day (1 September) stopped being a day off from 2024 (Act No. 530/2023 Coll.).
        (date(2023, 9, 1), True),
        (date(2025, 9, 1), False),
        # 17 November is no longer a day off from 2025 (Act No. 261/2025 Coll.).
        (date(2024, 11, 17), True),
        (date(2025, 11, 17), False),
        # 8 May and 15 September are working days in 2026 only (Act No. 261/2025 Coll.), days off again in 2027.
        (date(2025, 5, 8), True),
        (date(2026, 5, 8), False),
        (date(2027, 5, 8), True),
        (date(2025, 9, 15), True),
        (date(2026, 9, 15), False),
        (date(2027, 9, 15), True),
    ],
)
def test_slovak_public_holidays_follow_the_law(desk: BusinessCalendar, day: date, closed: bool) -> None:
    assert desk.is_holiday(day) is closed
    assert (desk.holiday_name(day) is not None) is closed


def test_holiday_names_come_from_the_holidays_package(desk: BusinessCalendar) -> None:
    assert desk.holiday_name(date(2026, 12, 24)) == "Christmas Eve"
    assert desk.holiday_name(date(2026, 12, 23)) is None


def test_explicit_holidays_closures_and_special_days() -> None:
    cal = BusinessCalendar(
        "Europe/Bratislava",
        holidays=[date(2026, 11, 25)],
        closures=[date(2026, 11, 26)],
        special_days={date(2026, 11, 27): ["08:00-12:00"], date(2026, 11, 28): [("10:00", "11:00")]},
    )
    assert cal.add(at("2026-11-24T16:00+01:00"), 2 * H) == at("2026-11-27T09:00+01:00")
    assert cal.between(at("2026-11-27T00:00+01:00"), at("2026-11-29T00:00+01:00")) == 5 * H
    assert cal.holiday_name(date(2026, 11, 25)) == "holiday"
    assert cal.holiday_name(date(2026, 11, 26)) == "closure"
    assert cal.opening_hours(date(2026, 11, 28))[0].start == 10 * 3600 * 10**6


def test_several_intervals_a_day_and_24_00() -> None:
    cal = BusinessCalendar(
        "Europe/Bratislava",
        week={"mon": ["08:00-12:00", "13:00-17:00"], "tue": ["20:00-24:00"], "wed": ["00:00-02:00"]},
    )
    assert cal.add(at("2026-11-23T11:30+01:00"), H) == at("2026-11-23T13:30+01:00")
    assert cal.add(at("2026-11-23T11:00+01:00"), H) == at("2026-11-23T12:00+01:00")
    assert not cal.is_open(at("2026-11-23T12:00+01:00"))
    assert cal.is_open(at("2026-11-23T13:00+01:00"))
    assert cal.next_open(at("2026-11-23T12:10+01:00")) == at("2026-11-23T13:00+01:00")
    # Tuesday 20:00-24:00 and Wednesday 00:00-02:00 run on across midnight.
    assert cal.add(at("2026-11-24T23:00+01:00"), 2 * H) == at("2026-11-25T01:00+01:00")
    assert cal.add(at("2026-11-24T21:00+01:00"), 3 * H) == at("2026-11-25T00:00+01:00")
    assert cal.open_intervals(at("2026-11-24T00:00+01:00"), at("2026-11-26T00:00+01:00")) == [
        (at("2026-11-24T20:00+01:00"), at("2026-11-25T02:00+01:00"))
    ]
    # Several intervals given out of order are sorted; touching ones are joined.
    joined = BusinessCalendar("UTC", week={"mon": ["13:00-17:00", "08:00-13:00"]})
    assert [str(i) for i in joined.week[0]] == ["08:00-17:00"]


ALWAYS = {day: ["00:00-24:00"] for day in WEEK}
NIGHTS = {day: ["00:00-06:00", "22:00-24:00"] for day in WEEK}


@pytest.mark.parametrize(
    ("zone", "week", "start", "end", "expected"),
    [
        # Spring forward in Bratislava (2026-03-29 02:00 -> 03:00): the local day lasts 23 real hours.
        ("Europe/Bratislava", ALWAYS, "2026-03-29T00:00+01:00", "2026-03-30T00:00+02:00", 23 * H),
        # Fall back (2026-10-25 03:00 -> 02:00): 25 real hours.
        ("Europe/Bratislava", ALWAYS, "2026-10-25T00:00+02:00", "2026-10-26T00:00+01:00", 25 * H),
        # A night desk: 00:00-06:00 is 5 real hours on the spring day and 7 on the autumn day.
        ("Europe/Bratislava", NIGHTS, "2026-03-29T00:00+01:00", "2026-03-29T12:00+02:00", 5 * H),
        ("Europe/Bratislava", NIGHTS, "2026-10-25T00:00+02:00", "2026-10-25T12:00+01:00", 7 * H),
        # An interval inside the skipped hour never happens; one inside the repeated hour happens twice.
        ("Europe/Bratislava", {"sun": ["02:00-03:00"]}, "2026-03-28T00:00+01:00", "2026-03-30T00:00+02:00", 0 * H),
        ("Europe/Bratislava", {"sun": ["02:00-03:00"]}, "2026-10-24T00:00+02:00", "2026-10-26T00:00+01:00", 2 * H),
        ("Europe/Bratislava", {"sun": ["02:00-02:30"]}, "2026-10-24T00:00+02:00", "2026-10-26T00:00+01:00", 60 * M),
        # Lord Howe Island shifts by 30 minutes (2026-04-05 and 2026-10-04).
        ("Australia/Lord_Howe", ALWAYS, "2026-04-05T00:00+11:00", "2026-04-06T00:00+10:30", 24 * H + 30 * M),
        ("Australia/Lord_Howe", ALWAYS, "2026-10-04T00:00+10:30", "2026-10-05T00:00+11:00", 23 * H + 30 * M),
        # Santiago falls back at midnight into the previous day: Saturday 23:00-24:00 happens twice.
        ("America/Santiago", {"sat": ["22:00-24:00"]}, "2026-04-04T00:00-03:00", "2026-04-05T12:00-04:00", 3 * H),
        # Odd fixed and half-hour offsets.
        ("Asia/Kathmandu", {"mon": ["09:00-17:00"]}, "2026-11-23T00:00+05:45", "2026-11-24T00:00+05:45", 8 * H),
        ("America/St_Johns", {"sun": ["00:00-24:00"]}, "2026-11-01T00:00-02:30", "2026-11-02T00:00-03:30", 25 * H),
        ("Pacific/Chatham", {"sun": ["00:00-24:00"]}, "2026-09-27T00:00+12:45", "2026-09-28T00:00+13:45", 23 * H),
    ],
)
def test_dst_counts_real_elapsed_time_inside_wall_clock_intervals(
    zone: str, week: dict[str, list[str]], start: str, end: str, expected: timedelta
) -> None:
    cal = BusinessCalendar(zone, week=week)
    assert cal.between(at(start), at(end)) == expected
    if expected:
        assert cal.add(at(start), expected) <= at(end)
        assert cal.between(at(start), cal.add(at(start), expected)) == expected


def test_dst_deadlines_cross_the_change_in_real_time() -> None:
    cal = BusinessCalendar("Europe/Bratislava", week=NIGHTS)
    # After the autumn change the night desk closes at 06:00 CET as usual.
    assert utc(cal.add(at("2026-10-25T05:00+01:00"), H)) == at("2026-10-25T06:00+01:00")
    # From 01:30 CEST, 1 hour reaches 02:30 CEST (the first 02:30); 90 minutes reaches 02:00 CET.
    assert utc(cal.add(at("2026-10-25T01:30+02:00"), H)) == at("2026-10-25T02:30+02:00")
    assert cal.add(at("2026-10-25T01:30+02:00"), H).isoformat() == "2026-10-25T02:30:00+02:00"
    assert utc(cal.add(at("2026-10-25T01:30+02:00"), 90 * M)) == at("2026-10-25T02:00+01:00")
    assert cal.add(at("2026-10-25T01:30+02:00"), 90 * M).fold == 1
    # In spring 01:30 CET + 1 hour is 03:30 CEST: the wall clock jumps but only one real hour passes.
    assert utc(cal.add(at("2026-03-29T01:30+01:00"), H)) == at("2026-03-29T03:30+02:00")


def test_long_durations_skip_whole_weeks() -> None:
    cal = BusinessCalendar("UTC")
    start = at("2026-11-23T08:00Z")  # a Monday
    # 10,000 business hours = 1,111 business days of 9 hours + 1 hour = 222 weeks + 1 day + 1 hour.
    assert cal.add(start, 10_000 * H) == start + timedelta(weeks=222, days=1, hours=1)
    assert cal.between(start, start + timedelta(weeks=222, days=1, hours=1)) == 10_000 * H
    assert cal.add(start + timedelta(weeks=222, days=1, hours=1), -10_000 * H) == start


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_pandas_custom_business_hour(seed: int) -> None:
    """pandas is an independent implementation; it moves a result at closing time to the next opening.

    Only day calendars are compared: pandas 3.1 miscounts night shifts (Fri 2026-12-04 01:39 plus 9 hours of
    a 22:00-06:00 shift gives 2026-12-15 02:39 instead of Sat 2026-12-05 02:39).
    """
    holidays = [date(2026, 12, 24), date(2026, 12, 25), date(2027, 1, 1)]
    cal = BusinessCalendar("UTC", week={d: ["08:00-17:00"] for d in WEEK[:5]}, holidays=holidays)
    offset = pd.offsets.CustomBusinessHour(start="08:00", end="17:00", holidays=holidays)
    stamps = pd.date_range("2026-11-01", "2027-02-01", freq="37min").to_series().sample(60, random_state=seed)
    for stamp in stamps:
        for count in (1, 2, 4, 9, 18, 50):
            ours = cal.add(stamp.to_pydatetime().replace(tzinfo=UTC), count * H)
            theirs = (stamp + offset * count).to_pydatetime().replace(tzinfo=UTC)
            assert cal.next_open(ours) == theirs, (stamp, count)


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        # 4h21m left of Thursday's shift, then 4h39m of Friday's shift, which runs past midnight.
        ("2026-12-04T01:39Z", 9, "2026-12-05T02:39Z"),
        # The last shift of the week ends Saturday 06:00; the next opens Monday 22:00.
        ("2026-12-05T05:00Z", 2, "2026-12-07T23:00Z"),
        ("2026-12-05T06:00Z", 8, "2026-12-08T06:00Z"),
    ],
)
def test_night_shift_across_midnight(start: str, hours: int, expected: str) -> None:
    split = {"mon": ["22:00-24:00"], "sat": ["00:00-06:00"]}
    split.update({day: ["00:00-06:00", "22:00-24:00"] for day in ("tue", "wed", "thu", "fri")})
    overnight = {day: ["22:00-06:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    for week in (split, overnight):
        cal = BusinessCalendar("UTC", week=week)
        assert cal.add(at(start), hours * H) == at(expected)


def test_night_shift_belongs_to_the_date_it_starts_on() -> None:
    # Thursday 2026-12-24 is a holiday: its shift (Thu 22:00 - Fri 06:00) is closed, Wednesday's is not.
    cal = BusinessCalendar("UTC", week={day: ["22:00-06:00"] for day in WEEK[:5]}, holidays=[date(2026, 12, 24)])
    # Tuesday's shift 6 hours after midnight, Wednesday's 8, Thursday's none, Friday's 2 before Saturday.
    assert cal.between(at("2026-12-23T00:00Z"), at("2026-12-26T00:00Z")) == 16 * H
    assert cal.is_open(at("2026-12-24T05:00Z"))
    assert not cal.is_open(at("2026-12-25T05:00Z"))
    assert str(cal.week[0][0]) == "22:00-06:00"
    # Overlapping hours count once: Monday's night shift and Tuesday's early opening.
    both = BusinessCalendar("UTC", week={"mon": ["22:00-06:00"], "tue": ["04:00-08:00"]})
    assert both.between(at("2026-11-23T00:00Z"), at("2026-11-25T00:00Z")) == 10 * H


def test_naive_datetimes_are_rejected(desk: BusinessCalendar) -> None:
    with pytest.raises(NaiveDatetimeError) as caught:
        desk.add(datetime(2026, 11, 24, 9, 0), H)
    assert str(caught.value) == (
        "start must have a UTC offset or timezone (e.g. 2026-11-27T16:30+01:00); got naive 2026-11-24T09:00:00"
    )
    assert isinstance(caught.value, InputError)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(NaiveDatetimeError, match=r"^end must have a UTC offset"):
        desk.between(at("2026-11-24T09:00+01:00"), datetime(2026, 11, 24, 10, 0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Europe/Bratislav"}, "timezone must be an IANA zone name such as 'Europe/Bratislava'"),
        (
            {"week": {"monday": ["08:00-17:00"]}},
            "week keys must be among {mon, tue, wed, thu, fri, sat, sun}; got 'monday'",
        ),
        ({"week": {"mon": ["08:00-08:00"]}}, "an opening interval must not close when it opens; write "),
        ({"week": {"mon": ["24:00-24:00"]}}, "24:00 may only close an interval, not open one"),
        ({"week": {"mon": ["08:00-24:30"]}}, "closing time must be between 00:00 and 24:00; got '24:30'"),
        ({"week": {"mon": ["8-17"]}}, 'opening time must be a time written "HH:MM" or "HH:MM:SS"'),
        (
            {"week": {"mon": ["08:00-12:00", "11:00-17:00"]}},
            "opening intervals of mon overlap: 08:00-12:00 and 11:00-17:00",
        ),
        (
            {"week": {"mon": [("08:00", 1020)]}},
            'closing time must be a time written "HH:MM" (quote it in YAML); got 1020',
        ),
        ({"country": "XX"}, "country must be an ISO code the holidays package knows (e.g. SK, CZ, AT, US)"),
        ({"holidays": [datetime(2026, 1, 1, tzinfo=UTC)]}, "holidays must be dates (YYYY-MM-DD)"),
    ],
)
def test_invalid_calendars_say_what_is_allowed(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CalendarError) as caught:
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_a_calendar_without_hours_refuses_to_count() -> None:
    cal = BusinessCalendar("UTC", week={})
    assert cal.between(at("2026-01-01T00:00Z"), at("2027-01-01T00:00Z")) == timedelta(0)
    with pytest.raises(CalendarError, match="no opening hours on any day"):
        cal.add(at("2026-01-01T00:00Z"), H)


def test_interval_times_may_be_time_objects() -> None:
    cal = BusinessCalendar("UTC", week={"mon": [(time(8, 30), time(9, 15, 30))]})
    assert cal.between(at("2026-11-23T00:00Z"), at("2026-11-24T00:00Z")) == timedelta(minutes=45, seconds=30)


def test_concurrent_first_use_gives_the_same_answers() -> None:
    """The timeline is laid out lazily; threads racing to extend it must not see a half-built one."""
    starts = [at("2026-01-05T09:00+01:00") + timedelta(days=37 * i, minutes=13 * i) for i in range(60)]
    durations = [timedelta(hours=1 + 97 * (i % 7)) for i in range(60)]
    reference = BusinessCalendar("Europe/Bratislava", country="SK")
    expected = [utc(reference.add(s, d)) for s, d in zip(starts, durations, strict=True)]
    shared = BusinessCalendar("Europe/Bratislava", country="SK")
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda pair: utc(shared.add(*pair)), zip(starts, durations, strict=True)))
    assert got == expected


# -- laws over random calendars -------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Bratislava",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "America/New_York",
]


@st.composite
def days(draw: st.DrawFn) -> list[str]:
    """0-3 disjoint intervals on a quarter-hour grid, sometimes touching midnight, sometimes a night shift."""
    points = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    if len(points) % 2:
        points = points[:-1]
    pairs = list(zip(points[::2], points[1::2], strict=True))
    night = draw(st.none() | st.tuples(st.integers(60, 95), st.integers(1, 40)))
    if night is not None and (not pairs or night[0] > pairs[-1][1]):
        pairs.append(night)  # a night shift into the next morning, which may overlap that day's hours
    return [f"{a // 4:02d}:{a % 4 * 15:02d}-{b // 4:02d}:{b % 4 * 15:02d}" for a, b in pairs]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    week = {day: draw(days()) for day in WEEK}
    if not any(week.values()):
        week["wed"] = ["09:00-17:00"]
    holidays = draw(st.lists(st.dates(date(2025, 12, 1), date(2027, 3, 1)), max_size=8))
    return BusinessCalendar(draw(st.sampled_from(ZONES)), week=week, holidays=holidays)


instants = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))
durations = st.one_of(
    st.integers(0, 60 * 60).map(lambda m: timedelta(minutes=m)),
    st.integers(0, 3 * 10**5).map(lambda s: timedelta(seconds=s, microseconds=7)),
)
LAWS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@LAWS
@given(calendars(), instants, durations)
def test_between_undoes_add(cal: BusinessCalendar, start: datetime, duration: timedelta) -> None:
    due = cal.add(start, duration)
    assert utc(due) >= start  # a deadline is never before arrival
    assert cal.between(start, due) == duration
    back = cal.add(due, -duration)
    assert start <= utc(back) <= utc(due)
    assert cal.between(back, due) == duration
    assert cal.between(cal.add(start, -duration), start) == duration


@LAWS
@given(calendars(), instants, durations, durations)
def test_add_is_monotonic_and_associative(cal: BusinessCalendar, start: datetime, a: timedelta, b: timedelta) -> None:
    assert utc(cal.add(start, min(a, b))) <= utc(cal.add(start, max(a, b)))
    assert utc(cal.add(start, a)) <= utc(cal.add(start + b, a))
    assert utc(cal.add(cal.add(start, a), b)) == utc(cal.add(start, a + b))


@LAWS
@given(calendars(), instants, durations, durations)
def test_between_is_additive(cal: BusinessCalendar, start: datetime, a: timedelta, b: timedelta) -> None:
    middle, end = start + a, start + a + b
    assert cal.between(start, end) == cal.between(start, middle) + cal.between(middle, end)
    assert cal.between(start, end) <= end - start


@LAWS
@given(calendars(), instants)
def test_is_open_matches_business_time(cal: BusinessCalendar, instant: datetime) -> None:
    assert cal.is_open(instant) == (cal.between(instant, instant + timedelta(microseconds=1)) > timedelta(0))
    opened = cal.next_open(instant)
    assert utc(opened) >= instant
    assert cal.is_open(opened)
    assert cal.between(instant, opened) == timedelta(0)
