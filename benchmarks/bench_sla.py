"""SLA deadlines: sevtriage's business calendar against pandas' CustomBusinessHour, in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_sla.py            # 100,000 arrivals over two years
    .venv/bin/python benchmarks/bench_sla.py --n 5000   # a quick run

`SlaPolicy.deadlines_many` does the same work for a pandas Series of arrivals at once; it is timed against the
loop of `deadlines` and checked equal to it (instant, target, clause) on every arrival.

For every arrival (random instant in 2026-2027, random plan and severity) both sides compute the initial and the
ongoing response deadline of the bundled policy: the same business-hour additions (from arrival, then from the
initial deadline) on the same Mon-Fri 08:00-17:00 calendar with the same Slovak holidays, and the Premier
"or 8 elapsed hours, whichever comes first". pandas works on Bratislava wall-clock timestamps (it has no DST-aware
business hours); the two sides are compared on every arrival both computed.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import holidays
import pandas as pd
from pandas.tseries.offsets import CustomBusinessHour

from sevtriage.sla import SlaPolicy
from sevtriage.types import Deadlines

START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 86_400


def arrivals(n: int, seed: int) -> list[tuple[int, str, datetime]]:
    """(severity, plan, received_at) spread uniformly over two years."""
    rng = random.Random(seed)
    return [
        (rng.randint(1, 4), rng.choice(("standard", "premier")), START + timedelta(seconds=rng.randrange(SPAN_SECONDS)))
        for _ in range(n)
    ]


def ours(policy: SlaPolicy, batch: Sequence[tuple[int, str, datetime]]) -> list[Deadlines]:
    return [policy.deadlines(severity, plan, received) for severity, plan, received in batch]


class PandasDeadlines:
    """The same policy computed with pandas offsets, the baseline."""

    def __init__(self, policy: SlaPolicy) -> None:
        self.policy = policy
        self.zone = policy.calendar.tz
        days = holidays.country_holidays("SK", years=range(2025, 2040))
        self.offsets: dict[int, CustomBusinessHour] = {}
        self.holidays = sorted(d for d in days if isinstance(d, date))

    def _offset(self, hours: int) -> CustomBusinessHour:
        if hours not in self.offsets:
            self.offsets[hours] = CustomBusinessHour(n=hours, start="08:00", end="17:00", holidays=self.holidays)
        return self.offsets[hours]

    def _due(self, severity: int, plan: str, kind: str, start: pd.Timestamp) -> pd.Timestamp | None:
        target = self.policy.target(severity, plan, kind)  # type: ignore[arg-type]
        if target is None:
            return None
        due: pd.Timestamp = start + self._offset(int(target.business / timedelta(hours=1)))
        if target.elapsed is not None:
            # Real elapsed time: add in UTC, then back to the Bratislava wall clock pandas counts on.
            real = (start.tz_localize(self.zone, ambiguous=True) + target.elapsed).tz_convert(self.zone)
            due = min(due, real.tz_localize(None))
        return due

    def deadlines(self, batch: Sequence[tuple[int, str, datetime]]) -> list[tuple[pd.Timestamp | None, ...]]:
        out: list[tuple[pd.Timestamp | None, ...]] = []
        for severity, plan, received in batch:
            local = pd.Timestamp(received.astimezone(self.zone).replace(tzinfo=None))
            initial = self._due(severity, plan, "initial", local)
            ongoing = self._due(severity, plan, "ongoing", initial if initial is not None else local)
            out.append((initial, ongoing))
        return out


def timed(function: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """Best wall time of `repeat` runs, with the garbage collector paused as `timeit` does, and the result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            began = time.perf_counter()
            result = function()
            best = min(best, time.perf_counter() - began)
        finally:
            gc.enable()
    return best, result


def agreement(policy: SlaPolicy, mine: Sequence[Deadlines], theirs: Sequence[tuple[pd.Timestamp | None, ...]]) -> int:
    """Deadlines that differ, allowing pandas' habit of moving a result at closing time to the next opening."""
    calendar = policy.calendar
    differ = 0
    for deadlines, pair in zip(mine, theirs, strict=False):
        for deadline, other in zip((deadlines.initial_response, deadlines.ongoing_response), pair, strict=True):
            if deadline.due is None or other is None:
                differ += (deadline.due is None) != (other is None)
                continue
            wall = deadline.due.replace(tzinfo=None)
            opened = calendar.next_open(deadline.due).replace(tzinfo=None)
            differ += other.to_pydatetime() not in (wall, opened)
    return differ


def differences(mine: Sequence[Deadlines], frame: pd.DataFrame) -> int:
    """Deadlines (instant, target or clause) where `deadlines_many` differs from the scalar path."""
    differ = 0
    for deadlines, row in zip(mine, frame.itertuples(), strict=True):
        for deadline, due, target, clause in (
            (deadlines.initial_response, row.initial_due, row.initial_target, row.initial_clause),
            (deadlines.ongoing_response, row.ongoing_due, row.ongoing_target, row.ongoing_clause),
        ):
            same_due = pd.isna(due) if deadline.due is None else due.to_pydatetime() == deadline.due
            same_target = pd.isna(target) if deadline.target is None else target == deadline.target
            differ += not (same_due and same_target and clause == deadline.clause)
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="arrivals (default 100,000)")
    parser.add_argument("--pandas-n", type=int, default=None, help="arrivals for pandas (default: min(n, 10,000))")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs per side (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    pandas_n = args.pandas_n or min(args.n, 10_000)

    policy = SlaPolicy.load()
    batch = arrivals(args.n, args.seed)
    cold, _ = timed(lambda: policy.deadlines(1, "standard", START))
    build, _ = timed(lambda: policy.calendar.add(START, timedelta(hours=20_000)))  # lays out the years ahead

    our_seconds, mine = timed(lambda: ours(policy, batch), args.repeat)
    baseline = PandasDeadlines(policy)
    pandas_seconds, theirs = timed(lambda: baseline.deadlines(batch[:pandas_n]), args.repeat)
    severities = [severity for severity, _, _ in batch]
    plans = [plan for _, plan, _ in batch]
    received = pd.Series(pd.to_datetime([r for _, _, r in batch], utc=True))
    many_seconds, frame = timed(lambda: policy.deadlines_many(severities, plans, received), args.repeat)
    many_us = many_seconds / args.n * 1e6
    many_differ = differences(mine, frame)  # type: ignore[arg-type]
    our_us = our_seconds / args.n * 1e6
    pandas_us = pandas_seconds / pandas_n * 1e6
    differ = agreement(policy, mine, theirs)  # type: ignore[arg-type]

    calendar = policy.calendar
    starts = [received for _, _, received in batch[: min(args.n, 50_000)]]
    results: dict[int, float] = {}
    for hours in (1, 10_000):
        step = timedelta(hours=hours)
        seconds, _ = timed(lambda step=step: [calendar.add(s, step) for s in starts], args.repeat)
        results[hours] = seconds / len(starts) * 1e6
    few = batch[:200]
    long_offset = CustomBusinessHour(n=10_000, start="08:00", end="17:00", holidays=baseline.holidays)
    pandas_long, _ = timed(lambda: [pd.Timestamp(r.replace(tzinfo=None)) + long_offset for _, _, r in few])

    print(f"SLA deadlines, {args.n:,} arrivals over 2026-2027 (pandas on the first {pandas_n:,})")
    print(f"  first call (policy warm-up)      {cold * 1e3:10.2f} ms")
    print(f"  lay out years ahead (20,000 bh)  {build * 1e3:10.2f} ms")
    print(f"  sevtriage   per deadline pair    {our_us:10.2f} µs   ({our_seconds:.2f} s, best of {args.repeat})")
    print(f"  pandas CBH  per deadline pair    {pandas_us:10.2f} µs   ({pandas_seconds:.2f} s, best of {args.repeat})")
    print(f"  ratio (pandas / sevtriage)       {pandas_us / our_us:10.1f} x")
    print(f"  deadlines_many, per request      {many_us:10.2f} µs   ({many_seconds:.3f} s, a pandas Series in)")
    print(f"  ratio (loop / deadlines_many)    {our_us / many_us:10.1f} x   ({many_differ} of {2 * args.n:,} differ)")
    print(f"  ratio (pandas / deadlines_many)  {pandas_us / many_us:10.1f} x")
    print(f"  deadlines that differ            {differ:10d}   (of {2 * min(pandas_n, args.n):,} compared)")
    print(f"  add 1 business hour              {results[1]:10.2f} µs")
    print(f"  add 10,000 business hours        {results[10_000]:10.2f} µs   ({results[10_000] / results[1]:.2f} x)")
    print(f"  pandas: add 10,000 bh            {pandas_long / len(few) * 1e6:10.0f} µs")


if __name__ == "__main__":
    main()
