"""Business-time arithmetic on a weekly calendar with holidays, in any IANA timezone.

Semantics (DESIGN.md, "SLA semantics"):

* Opening intervals are wall-clock intervals ``[open, close)`` on local dates; ``24:00`` closes at the next
  local midnight. Business time is the *real elapsed time* of the instants whose local date and wall-clock time
  fall inside an opening interval. On a DST day an interval therefore lasts what the clocks say really passed:
  ``[00:00, 24:00)`` is 23 hours on the spring-forward day and 25 hours on the fall-back day, wall-clock times
  skipped by the clocks count nothing and wall-clock times repeated by the clocks count twice.
* A night shift (``"22:00-06:00"``) belongs to the date it starts on: a holiday on that date closes the whole
  shift, including its hours after midnight. Hours that overlap (a night shift and the next morning) count once.
* ``add(start, d)`` is the earliest instant at which the business time elapsed since ``start`` reaches ``d``
  (a deadline landing on closing time stays there; a start outside business hours waits for the next opening;
  zero returns ``start``). A negative ``d`` counts back: the latest instant from which ``-d`` of business time
  elapses until ``start``.
* ``between(a, b)`` is the business time inside ``[a, b)``; zero when ``b <= a``.

The calendar is turned into a sorted list of real (UTC) open intervals with a running sum of business time,
built a year at a time on demand. ``add`` and ``between`` are then binary searches, so adding 10,000 business
hours costs the same as adding one: whole weeks (and years) are skipped without stepping.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from sevtriage.errors import InputError
from sevtriage.sla.holiday_table import CountryHolidays, UnknownCountryError

__all__ = ["WEEKDAYS", "BusinessCalendar", "CalendarError", "Interval", "NaiveDatetimeError", "parse_interval"]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_US = 1_000_000
_MINUTE_US = 60 * _US
_DAY_US = 86_400 * _US
_ONE_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Real time is laid out in chunks of this length, built on demand (about a year each).
_CHUNK_US = 365 * _DAY_US
# Offsets are sampled this often to find DST transitions, which are then located to the second by bisection.
_SAMPLE_US = 6 * 3600 * _US
# datetime cannot represent instants outside these years; the timeline never grows past them.
_MIN_US = (datetime(2, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_US
_MAX_US = (datetime(9998, 12, 31, tzinfo=UTC) - _EPOCH) // _ONE_US

_TIME_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


class CalendarError(InputError, ValueError):
    """A calendar definition or a business-time request is invalid (also a ``ValueError``)."""


class NaiveDatetimeError(CalendarError):
    """A datetime without a UTC offset was given; business time needs real instants."""


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """One opening interval of a day, as microseconds after local midnight: ``[start, end)``."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_format_clock(self.start)}-{_format_clock(self.end)}"


IntervalSpec = str | tuple[str | time, str | time] | Sequence[str | time] | Interval


def _format_clock(us: int) -> str:
    if us > _DAY_US:  # the closing time of a night shift, on the next day
        us -= _DAY_US
    seconds = us // _US
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _parse_clock(value: str | time, *, what: str) -> int:
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise CalendarError(f"{what} must be a wall-clock time without a timezone; got {value!r}")
        return ((value.hour * 60 + value.minute) * 60 + value.second) * _US + value.microsecond
    if not isinstance(value, str):
        raise CalendarError(f'{what} must be a time written "HH:MM" (quote it in YAML); got {value!r}')
    match = _TIME_RE.match(value)
    if match is None:
        raise CalendarError(f'{what} must be a time written "HH:MM" or "HH:MM:SS" (00:00 to 24:00); got {value!r}')
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if minutes > 59 or seconds > 59 or hours > 24 or (hours == 24 and (minutes or seconds)):
        raise CalendarError(f"{what} must be between 00:00 and 24:00; got {value!r}")
    return ((hours * 60 + minutes) * 60 + seconds) * _US


def parse_interval(spec: IntervalSpec) -> Interval:
    """Read one opening interval: ``"08:00-17:00"``, ``("08:00", "17:00")`` or a pair of ``time``.

    ``24:00`` is allowed as the closing time only. A closing time before the opening time is a night shift that
    ends on the next day (``"22:00-06:00"``); it belongs to the date it starts on. Raises `CalendarError` naming
    what was wrong.
    """
    if isinstance(spec, Interval):
        return spec
    if isinstance(spec, str):
        parts = spec.split("-")
        if len(parts) != 2:
            raise CalendarError(f'an opening interval must be written "HH:MM-HH:MM", e.g. "08:00-17:00"; got {spec!r}')
        pair: Sequence[str | time] = parts
    elif isinstance(spec, Sequence) and len(spec) == 2:
        pair = spec
    else:
        raise CalendarError(f'an opening interval must be "HH:MM-HH:MM" or a pair (open, close); got {spec!r}')
    start = _parse_clock(pair[0], what="opening time")
    end = _parse_clock(pair[1], what="closing time")
    if start >= _DAY_US:
        raise CalendarError(f"24:00 may only close an interval, not open one; got {spec!r}")
    if end == start:
        raise CalendarError(
            f'an opening interval must not close when it opens; write "00:00-24:00" for a whole day; got {spec!r}'
        )
    if end < start:
        end += _DAY_US  # a night shift, closing on the next day
    return Interval(start, end)


def _parse_day(specs: Iterable[IntervalSpec] | None, *, what: str) -> tuple[Interval, ...]:
    """Intervals of one day, sorted; touching intervals are joined and overlapping ones rejected."""
    if specs is None:
        return ()
    if isinstance(specs, str):
        specs = [specs]
    intervals = sorted(parse_interval(s) for s in specs)
    joined: list[Interval] = []
    for interval in intervals:
        if joined and interval.start < joined[-1].end:
            raise CalendarError(f"opening intervals of {what} overlap: {joined[-1]} and {interval}")
        if joined and interval.start == joined[-1].end:
            joined[-1] = Interval(joined[-1].start, interval.end)
        else:
            joined.append(interval)
    return tuple(joined)


def _resolve_timezone(value: str | tzinfo) -> tzinfo:
    if isinstance(value, tzinfo):
        return value
    if not isinstance(value, str) or not value.strip():
        raise CalendarError(f"timezone must be an IANA zone name such as 'Europe/Bratislava'; got {value!r}")
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(
            f"timezone must be an IANA zone name such as 'Europe/Bratislava' or 'America/New_York'; got {value!r}"
        ) from None


def _to_us(instant: datetime, *, what: str) -> int:
    if not isinstance(instant, datetime):
        raise CalendarError(f"{what} must be a datetime with a UTC offset; got {instant!r}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{what} must have a UTC offset or timezone (e.g. 2026-11-27T16:30+01:00); got naive {instant.isoformat()}"
        )
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


@dataclass(frozen=True, slots=True)
class _Timeline:
    """Real open intervals over ``[lo, hi)`` (µs since the epoch) with business time before each."""

    lo: int
    hi: int
    starts: list[int]
    ends: list[int]
    cum_start: list[int]  # business time before interval i
    cum_end: list[int]  # business time at the end of interval i
    as_arrays: list[_TimelineArrays] = field(default_factory=list, compare=False, repr=False)

    def arrays(self) -> _TimelineArrays:
        """The same timeline as numpy arrays (made once per timeline, for vectorised sums)."""
        if not self.as_arrays:  # a benign race: two threads may both make them
            self.as_arrays.append(
                _TimelineArrays(
                    np.asarray(self.starts, dtype=np.int64),
                    np.asarray(self.ends, dtype=np.int64),
                    np.asarray(self.cum_start, dtype=np.int64),
                    np.asarray(self.cum_end, dtype=np.int64),
                )
            )
        return self.as_arrays[0]

    def elapsed(self, u: int) -> int:
        """Business time from ``lo`` to ``u`` (``lo <= u <= hi``)."""
        i = bisect_right(self.ends, u)
        if i == len(self.ends):
            return self.cum_end[-1] if self.ends else 0
        start = self.starts[i]
        return self.cum_start[i] + (u - start if u > start else 0)


@dataclass(frozen=True, slots=True)
class _TimelineArrays:
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    cum_start: npt.NDArray[np.int64]
    cum_end: npt.NDArray[np.int64]


class BusinessCalendar:
    """Opening hours per weekday in a timezone, minus holidays; answers business-time questions.

    Parameters
    ----------
    timezone : IANA zone name (e.g. ``"Europe/Bratislava"``) or a ``tzinfo``.
    week : opening intervals per weekday key ``mon`` ... ``sun`` (missing days are closed), each interval
        ``"08:00-17:00"`` or ``("08:00", "17:00")``; several per day allowed, ``24:00`` closes at midnight,
        ``"22:00-06:00"`` is a night shift that closes the next morning. Defaults to Mon-Fri 08:00-17:00.
    holidays : extra closed dates (local dates).
    country, subdivision : add the public holidays of this country (and subdivision) from the ``holidays``
        package, e.g. ``country="SK"``.
    closures : further closed dates (kept apart from ``holidays`` only for reporting).
    special_days : opening intervals for particular dates, replacing the weekday's (and any holiday) on that
        date, e.g. ``{date(2026, 12, 31): ["08:00-12:00"]}``; an empty list closes the date.
    holiday_cache : a folder where the country's holidays are remembered between runs (see
        `sevtriage.sla.holiday_table`); None asks the ``holidays`` package every time.
    """

    def __init__(
        self,
        timezone: str | tzinfo = "Europe/Bratislava",
        week: Mapping[str, Iterable[IntervalSpec] | None] | None = None,
        holidays: Iterable[date] = (),
        country: str | None = None,
        closures: Iterable[date] = (),
        *,
        subdivision: str | None = None,
        special_days: Mapping[date, Iterable[IntervalSpec]] | None = None,
        holiday_cache: Path | None = None,
    ) -> None:
        self.tz: tzinfo = _resolve_timezone(timezone)
        if week is None:
            week = {day: ["08:00-17:00"] for day in WEEKDAYS[:5]}
        if not isinstance(week, Mapping):
            raise CalendarError(f"week must map weekday names {', '.join(WEEKDAYS)} to opening intervals; got {week!r}")
        unknown = [key for key in week if key not in WEEKDAYS]
        if unknown:
            raise CalendarError(f"week keys must be among {{{', '.join(WEEKDAYS)}}}; got {unknown[0]!r}")
        self.week: tuple[tuple[Interval, ...], ...] = tuple(_parse_day(week.get(day), what=day) for day in WEEKDAYS)
        self.holidays: frozenset[date] = _dates(holidays, what="holidays")
        self.closures: frozenset[date] = _dates(closures, what="closures")
        self.special_days: dict[date, tuple[Interval, ...]] = {}
        for day, specs in (special_days or {}).items():
            if not isinstance(day, date) or isinstance(day, datetime):
                raise CalendarError(f"special_days keys must be dates; got {day!r}")
            self.special_days[day] = _parse_day(specs, what=day.isoformat())
        self.country = country
        self.subdivision = subdivision
        self._country_holidays: CountryHolidays | None = None
        if country is not None:
            try:
                self._country_holidays = CountryHolidays(country, subdivision, cache_dir=holiday_cache)
            except UnknownCountryError as error:
                raise CalendarError(
                    "country must be an ISO code the holidays package knows (e.g. SK, CZ, AT, US), with a valid "
                    f"subdivision if given; got country={country!r}, subdivision={subdivision!r} ({error})"
                ) from None
        self._has_hours = any(self.week) or any(self.special_days.values())
        self._lock = threading.Lock()
        self._chunks: dict[int, list[tuple[int, int]]] = {}
        self._timeline = _Timeline(0, 0, [], [], [], [])

    # -- calendar facts ----------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        week = {d: [str(i) for i in ivs] for d, ivs in zip(WEEKDAYS, self.week, strict=True) if ivs}
        return f"BusinessCalendar(timezone={str(self.tz)!r}, week={week!r}, country={self.country!r})"

    def is_holiday(self, day: date) -> bool:
        """Whether ``day`` is closed as a holiday or closure (special days are not consulted)."""
        if day in self.holidays or day in self.closures:
            return True
        return self._country_holidays is not None and day in self._country_holidays

    def holiday_name(self, day: date) -> str | None:
        """Why ``day`` is closed (a public holiday's name, "holiday" or "closure"), or None."""
        if self._country_holidays is not None:
            name = self._country_holidays.get(day)
            if name is not None:
                return name
        if day in self.holidays:
            return "holiday"
        if day in self.closures:
            return "closure"
        return None

    def opening_hours(self, day: date) -> tuple[Interval, ...]:
        """Wall-clock opening intervals of a local date after holidays and special days."""
        special = self.special_days.get(day)
        if special is not None:
            return special
        if self.is_holiday(day):
            return ()
        return self.week[day.weekday()]

    # -- business-time arithmetic ------------------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant at which ``duration`` of business time has elapsed since ``start``.

        Returned in the calendar's timezone. Zero returns ``start`` itself (even outside business hours); a
        negative duration counts back.
        """
        s = _to_us(start, what="start")
        if not isinstance(duration, timedelta):
            raise CalendarError(f"duration must be a timedelta; got {duration!r}")
        d = duration // _ONE_US
        if d == 0:
            return start.astimezone(self.tz)
        return self._from_us(self._add_checked_us(s, d))

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time inside ``[start, end)``; zero when ``end <= start``."""
        a = _to_us(start, what="start")
        b = _to_us(end, what="end")
        if b <= a:
            return timedelta(0)
        timeline = self._cover(a, b)
        return timedelta(microseconds=timeline.elapsed(b) - timeline.elapsed(a))

    def is_open(self, instant: datetime) -> bool:
        """Whether business time is running at ``instant`` (opening time included, closing time excluded)."""
        u = _to_us(instant, what="instant")
        timeline = self._cover(u, u + 1)
        i = bisect_right(timeline.ends, u)
        return i < len(timeline.starts) and timeline.starts[i] <= u

    def within_hours_many(self, instants_us: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Whether each instant (µs since the epoch, UTC) lies within business hours, closing time included.

        Unlike `is_open`, the closing instant counts as inside: a deadline due at 17:00 is met by the end of the
        working day, not after it. Meant for deadlines; numpy's NaT (the smallest int64) gives False.
        """
        out = np.zeros(len(instants_us), dtype=np.bool_)
        real = instants_us != np.iinfo(np.int64).min
        if not real.any() or not self._has_hours:
            return out
        values = instants_us[real]
        arrays = self._cover(int(values.min()), int(values.max()) + 1).arrays()
        if len(arrays.ends) == 0:
            return out
        # The first interval that has not ended before the instant; inside when it has begun by then.
        i = np.searchsorted(arrays.ends, values, side="left")
        at = np.minimum(i, len(arrays.ends) - 1)
        out[real] = (i < len(arrays.ends)) & (arrays.starts[at] <= values)
        return out

    def next_open(self, instant: datetime) -> datetime:
        """``instant`` itself when open, else the next opening, in the calendar's timezone."""
        u = _to_us(instant, what="instant")
        if not self._has_hours:
            raise CalendarError("the calendar has no opening hours on any day, so it never opens")
        while True:
            timeline = self._cover(u, u + 1)
            i = bisect_right(timeline.ends, u)
            if i < len(timeline.starts):
                return self._from_us(max(u, timeline.starts[i]))
            self._grow(forward=True)

    def open_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The real open stretches inside ``[start, end)``, clipped, in the calendar's timezone."""
        a = _to_us(start, what="start")
        b = _to_us(end, what="end")
        if b <= a:
            return []
        timeline = self._cover(a, b)
        first = bisect_right(timeline.ends, a)
        last = bisect_left(timeline.starts, b)
        return [
            (self._from_us(max(a, timeline.starts[i])), self._from_us(min(b, timeline.ends[i])))
            for i in range(first, last)
        ]

    # -- internals ---------------------------------------------------------------------------------------------

    def _from_us(self, u: int) -> datetime:
        # fromtimestamp on whole seconds is exact and sets `fold` in a repeated hour, as astimezone does.
        seconds, micro = divmod(u, _US)
        instant = datetime.fromtimestamp(seconds, self.tz)
        return instant.replace(microsecond=micro) if micro else instant

    def _add_many_us(self, starts: npt.NDArray[np.int64], d: int) -> npt.NDArray[np.int64]:
        """`_add_checked_us` of many starts (µs since the epoch) and one positive duration, vectorised.

        The covered timeline is searched with numpy; the few sums that run past it (rare: the timeline grows
        a year at a time) go through the scalar path, which grows it.
        """
        if len(starts) == 0 or d == 0:
            return starts.copy()
        if d < 0:
            return np.asarray([self._add_checked_us(int(u), d) for u in starts.tolist()], dtype=np.int64)
        if not self._has_hours:
            raise CalendarError("the calendar has no opening hours on any day, so no business time ever elapses")
        timeline = self._cover(int(starts.min()), int(starts.max()) + 1)
        arrays = timeline.arrays()
        i = np.searchsorted(arrays.ends, starts, side="right")
        inside = i < len(arrays.ends)
        at = np.minimum(i, len(arrays.ends) - 1)
        elapsed = np.where(inside, arrays.cum_start[at] + np.maximum(starts - arrays.starts[at], 0), arrays.cum_end[-1])
        target = elapsed + d
        j = np.searchsorted(arrays.cum_end, target, side="left")
        found = j < len(arrays.cum_end)
        at = np.minimum(j, len(arrays.cum_end) - 1)
        out = arrays.starts[at] + (target - arrays.cum_start[at])
        for k in np.flatnonzero(~found).tolist():
            out[k] = self._add_us(int(starts[k]), d)
        return np.asarray(out, dtype=np.int64)

    def _add_checked_us(self, s: int, d: int) -> int:
        """`add` on microseconds since the epoch (the policy's fast path)."""
        if d == 0:
            return s
        if not self._has_hours:
            raise CalendarError("the calendar has no opening hours on any day, so no business time ever elapses")
        return self._add_us(s, d)

    def _add_us(self, s: int, d: int) -> int:
        timeline = self._cover(s, s + 1)
        while True:
            target = timeline.elapsed(s) + d
            if d > 0:
                j = bisect_left(timeline.cum_end, target)
                if j < len(timeline.cum_end):
                    return timeline.starts[j] + (target - timeline.cum_start[j])
            else:
                j = bisect_right(timeline.cum_start, target) - 1
                if target >= 0 and j >= 0:
                    return timeline.starts[j] + (target - timeline.cum_start[j])
            timeline = self._grow(forward=d > 0)

    def _cover(self, a: int, b: int) -> _Timeline:
        """A timeline covering ``[a, b]``; built or extended under the lock when needed."""
        timeline = self._timeline
        if timeline.lo <= a and b <= timeline.hi:
            return timeline
        if a < _MIN_US or b > _MAX_US:
            raise CalendarError("business time can only be computed for instants between the years 2 and 9998")
        with self._lock:
            first = a // _CHUNK_US
            last = (b - 1) // _CHUNK_US
            if self._chunks:
                first = min(first, min(self._chunks))
                last = max(last, max(self._chunks))
            return self._rebuild(first, last)

    def _grow(self, *, forward: bool) -> _Timeline:
        """Double the covered span in one direction (used when a sum runs past the covered years)."""
        with self._lock:
            first, last = min(self._chunks), max(self._chunks)
            span = last - first + 1
            if forward:
                if (last + 1) * _CHUNK_US > _MAX_US:
                    raise CalendarError("the business time asked for runs past the year 9998")
                last = min(last + span, _MAX_US // _CHUNK_US)
            else:
                if first * _CHUNK_US < _MIN_US:
                    raise CalendarError("the business time asked for runs back before the year 2")
                first = max(first - span, _MIN_US // _CHUNK_US + 1)
            return self._rebuild(first, last)

    def _rebuild(self, first: int, last: int) -> _Timeline:
        for k in range(first, last + 1):
            if k not in self._chunks:
                self._chunks[k] = self._build_chunk(k * _CHUNK_US, (k + 1) * _CHUNK_US)
        starts: list[int] = []
        ends: list[int] = []
        for k in range(first, last + 1):
            for s, e in self._chunks[k]:
                if ends and ends[-1] == s:
                    ends[-1] = e  # an interval that crosses a chunk border, or touching intervals
                else:
                    starts.append(s)
                    ends.append(e)
        cum_start: list[int] = []
        cum_end: list[int] = []
        total = 0
        for s, e in zip(starts, ends, strict=True):
            cum_start.append(total)
            total += e - s
            cum_end.append(total)
        timeline = _Timeline(first * _CHUNK_US, (last + 1) * _CHUNK_US, starts, ends, cum_start, cum_end)
        self._timeline = timeline
        return timeline

    def _offset_us(self, u: int) -> int:
        offset = (_EPOCH + timedelta(microseconds=u)).astimezone(self.tz).utcoffset()
        assert offset is not None  # an aware datetime from astimezone always has one
        return offset // _ONE_US

    def _segments(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Split ``[lo, hi)`` into stretches of constant UTC offset: ``(start, end, offset)``."""
        offset_at: Callable[[int], int] = self._offset_us
        segments: list[tuple[int, int, int]] = []
        seg_start, seg_offset = lo, offset_at(lo)
        probe = lo
        while probe < hi:
            nxt = min(probe + _SAMPLE_US, hi - 1)
            if nxt <= probe:
                break
            while offset_at(nxt) != seg_offset:
                # The offset changed in (probe, nxt]: locate the first second with the new offset.
                low, high = probe // _US, -(-nxt // _US)
                while high - low > 1:
                    mid = (low + high) // 2
                    if offset_at(mid * _US) == seg_offset:
                        low = mid
                    else:
                        high = mid
                change = max(high * _US, probe + 1)
                segments.append((seg_start, change, seg_offset))
                seg_start, seg_offset, probe = change, offset_at(change), change
            probe = nxt
        segments.append((seg_start, hi, seg_offset))
        return segments

    def _build_chunk(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Real open intervals inside ``[lo, hi)``, sorted; touching or overlapping ones joined."""
        pieces: list[tuple[int, int]] = []
        for seg_lo, seg_hi, offset in self._segments(lo, hi):
            wall_lo, wall_hi = seg_lo + offset, seg_hi + offset
            # From the day before: its night shift may run into this stretch.
            for day_index in range(wall_lo // _DAY_US - 1, (wall_hi - 1) // _DAY_US + 1):
                day_wall = day_index * _DAY_US
                for interval in self.opening_hours(date.fromordinal(_EPOCH_ORDINAL + day_index)):
                    begin = max(day_wall + interval.start, wall_lo)
                    finish = min(day_wall + interval.end, wall_hi)
                    if begin < finish:
                        pieces.append((begin - offset, finish - offset))
        # A night shift can overlap the next day's hours; such time counts once.
        pieces.sort()
        out: list[tuple[int, int]] = []
        for begin, finish in pieces:
            if out and begin <= out[-1][1]:
                if finish > out[-1][1]:
                    out[-1] = (out[-1][0], finish)
            else:
                out.append((begin, finish))
        return out


def _dates(values: Iterable[date], *, what: str) -> frozenset[date]:
    result: set[date] = set()
    for value in values:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise CalendarError(f"{what} must be dates (YYYY-MM-DD); got {value!r}")
        result.add(value)
    return frozenset(result)
