"""`BusinessCalendar.within_hours_many`: open at the instant, or at its closing time; NaT is never within."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.sla import BusinessCalendar

CALENDAR = BusinessCalendar("Europe/Bratislava", country="SK")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAT = np.iinfo(np.int64).min


def _us(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


def test_edges_of_a_working_day() -> None:
    # Thursday 2026-11-26, 08:00-17:00 CET = 07:00-16:00 UTC; Saturday closed; 2026-12-24 a Slovak holiday.
    cases = {
        datetime(2026, 11, 26, 6, 59, 59, tzinfo=UTC): False,
        datetime(2026, 11, 26, 7, 0, tzinfo=UTC): True,  # opening
        datetime(2026, 11, 26, 12, 0, tzinfo=UTC): True,
        datetime(2026, 11, 26, 16, 0, tzinfo=UTC): True,  # closing time counts as within
        datetime(2026, 11, 26, 16, 0, 1, tzinfo=UTC): False,
        datetime(2026, 11, 28, 10, 0, tzinfo=UTC): False,
        datetime(2026, 12, 24, 10, 0, tzinfo=UTC): False,
    }
    got = CALENDAR.within_hours_many(np.array([_us(x) for x in cases] + [_NAT], dtype=np.int64))
    assert got.tolist() == [*cases.values(), False]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))))
def test_agrees_with_is_open_at_the_instant_or_just_before(instants: list[datetime]) -> None:
    got = CALENDAR.within_hours_many(np.array([_us(x) for x in instants], dtype=np.int64))
    one = timedelta(microseconds=1)
    assert got.tolist() == [CALENDAR.is_open(x) or CALENDAR.is_open(x - one) for x in instants]
