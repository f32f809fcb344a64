"""`SlaPolicy.deadlines_many`: the scalar path's deadlines, targets and clauses, for whole columns at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.errors import InputError
from sevtriage.sla import NaiveDatetimeError, SlaPolicy
from sevtriage.types import Deadline

POLICY = SlaPolicy.load()
ZONES = [UTC, ZoneInfo("Europe/Bratislava"), ZoneInfo("America/St_Johns"), timezone(timedelta(hours=5, minutes=45))]


def _same(expected: Deadline, due: pd.Timestamp, target: object, clause: object) -> bool:
    if expected.due is None:
        return bool(pd.isna(due)) and bool(pd.isna(target)) and clause == expected.clause
    # The same instant, shown with the same offset (a repeated DST hour is told apart by the offset).
    return (
        due.to_pydatetime() == expected.due
        and due.utcoffset() == expected.due.utcoffset()
        and target == expected.target
        and clause == expected.clause
    )


def _check(severities: list[int], plans: list[str | None], received: list[datetime], frame: pd.DataFrame) -> None:
    assert len(frame) == len(received)
    for row, (severity, plan, arrival) in enumerate(zip(severities, plans, received, strict=True)):
        expected = POLICY.deadlines(severity, plan, arrival)
        got = frame.iloc[row]
        assert _same(expected.initial_response, got.initial_due, got.initial_target, got.initial_clause), row
        assert _same(expected.ongoing_response, got.ongoing_due, got.ongoing_target, got.ongoing_clause), row


# Around DST changes, holidays, closing time and the years' ends: where the arithmetic is hard.
INSTANTS = st.datetimes(datetime(2025, 12, 20), datetime(2028, 1, 10), timezones=st.sampled_from(ZONES))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2, 3, 4]), st.sampled_from(["standard", "premier", None]), INSTANTS),
        min_size=1,
        max_size=40,
    )
)
def test_the_same_as_the_scalar_path(requests: list[tuple[int, str | None, datetime]]) -> None:
    severities = [s for s, _, _ in requests]
    plans = [p for _, p, _ in requests]
    received = [r for _, _, r in requests]
    series = pd.Series(
        pd.to_datetime([r.astimezone(UTC) for r in received], utc=True), index=range(10, 10 + len(received))
    )
    frame = POLICY.deadlines_many(severities, plans, series)
    assert list(frame.index) == list(series.index)
    _check(severities, plans, received, frame)
    # The same from Python datetimes, and from numpy datetime64 (UTC).
    _check(severities, plans, received, POLICY.deadlines_many(severities, plans, received))
    as_numpy = np.asarray([r.astimezone(UTC).replace(tzinfo=None) for r in received], dtype="datetime64[us]")
    _check(severities, plans, received, POLICY.deadlines_many(severities, plans, as_numpy))


@pytest.mark.parametrize(
    "as_column",
    [
        pytest.param(list, id="lists"),
        pytest.param(lambda values: np.asarray(values, dtype=object), id="object-arrays"),
        pytest.param(np.asarray, id="numpy-arrays"),  # int64 severities, fixed-width string plans
        pytest.param(lambda values: pd.Series(values, index=range(100, 100 + len(values))), id="series"),
    ],
)
def test_severity_and_plan_columns_of_any_kind(as_column: Callable[[list[Any]], Any]) -> None:
    received = [datetime(2026, 12, 23, 15, 10, tzinfo=UTC) + timedelta(minutes=71 * k) for k in range(60)]
    severities = [1 + k * 7 % 4 for k in range(60)]
    plans: list[str | None] = ["premier" if k % 3 else "standard" for k in range(60)]
    frame = POLICY.deadlines_many(as_column(severities), as_column(plans), received)
    _check(severities, plans, received, frame)
    # The same texts, numbered the same way, whatever the columns were.
    assert frame.equals(POLICY.deadlines_many(severities, plans, received))


def test_one_severity_and_plan_for_all_and_the_golden_arrivals() -> None:
    received = [datetime(2026, 10, 25, 1, 30, tzinfo=UTC) + timedelta(minutes=37 * k) for k in range(500)]
    for severity in (1, 2, 3, 4):
        for plan in ("standard", "premier"):
            frame = POLICY.deadlines_many(severity, plan, pd.Series(received))
            _check([severity] * len(received), [plan] * len(received), received, frame)
    assert len(POLICY.deadlines_many(1, "premier", [])) == 0


def test_bad_input_says_what_is_wrong() -> None:
    naive = pd.Series(pd.to_datetime(["2026-11-27 16:30"]))
    with pytest.raises(NaiveDatetimeError, match="timezone-aware"):
        POLICY.deadlines_many(1, "premier", naive)
    with pytest.raises(NaiveDatetimeError):
        POLICY.deadlines_many(1, "premier", [datetime(2026, 11, 27, 16, 30)])
    with pytest.raises(InputError, match="plan must be one of"):
        POLICY.deadlines_many(1, ["gold"], [datetime(2026, 11, 27, 16, 30, tzinfo=UTC)])
    with pytest.raises(InputError, match="one value or one per arrival"):
        POLICY.deadlines_many([1, 2], "premier", [datetime(2026, 11, 27, 16, 30, tzinfo=UTC)])
    with pytest.raises(InputError, match=r"one per arrival \(1\); got an array of shape \(1, 1\)"):
        POLICY.deadlines_many(np.asarray([[1]]), "premier", [datetime(2026, 11, 27, 16, 30, tzinfo=UTC)])
