"""The SLA policy: response targets per plan and severity, turned into deadlines and breach checks.

The policy is data (``rules/sla.yaml``, format in README.md "SLA policy"); this module validates it once on
load, with the file and line of every problem, and then only does arithmetic (no I/O).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt
import yaml

from sevtriage import yaml_text
from sevtriage.errors import ConfigError, InputError, Problem
from sevtriage.resources import default_sla_path
from sevtriage.sla.calendar import (
    WEEKDAYS,
    BusinessCalendar,
    CalendarError,
    NaiveDatetimeError,
    _to_us,
    parse_interval,
)
from sevtriage.sla.holiday_table import default_cache_dir
from sevtriage.types import Deadline, Deadlines, Severity

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BreachCheck", "SlaPolicy", "Target"]

Rule = Literal["first", "last"]
Kind = Literal["initial", "ongoing"]
_RULES: tuple[Rule, ...] = ("first", "last")
_UTC = UTC
_T = TypeVar("_T")
_P = ParamSpec("_P")


def _amount(value: float, unit: str) -> str:
    number = f"{value:g}"
    return f"{number} {unit}" if value == 1 else f"{number} {unit}s"


@dataclass(frozen=True, slots=True)
class Target:
    """One cell of the policy table: business time, optionally raced against real elapsed time."""

    business: timedelta
    label: str
    elapsed: timedelta | None = None
    rule: Rule = "first"
    business_label: str = ""
    elapsed_label: str = ""
    # Precomputed for the hot path: durations in microseconds and the clause of each outcome.
    business_us: int = field(init=False, repr=False, compare=False)
    elapsed_us: int | None = field(init=False, repr=False, compare=False)
    business_clause: str = field(init=False, repr=False, compare=False)
    elapsed_clause: str = field(init=False, repr=False, compare=False)
    together_clause: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        one = timedelta(microseconds=1)
        object.__setattr__(self, "business_us", self.business // one)
        object.__setattr__(self, "elapsed_us", None if self.elapsed is None else self.elapsed // one)
        object.__setattr__(self, "business_clause", f"{self.business_label} came {self.rule}")
        object.__setattr__(self, "elapsed_clause", f"{self.elapsed_label} came {self.rule}")
        object.__setattr__(self, "together_clause", f"{self.business_label} and {self.elapsed_label} end together")


@dataclass(frozen=True, slots=True)
class BreachCheck:
    """Whether a response kept the target, decided by business time elapsed (DESIGN.md).

    ``business_elapsed`` is the business time in ``[start, responded_at)``, ``elapsed`` the real time; ``due``
    is the deadline of the same target, for display.
    """

    breached: bool
    target: str | None
    clause: str
    business_elapsed: timedelta
    elapsed: timedelta
    due: datetime | None

    def to_dict(self) -> dict[str, object]:
        return {
            "breached": self.breached,
            "target": self.target,
            "clause": self.clause,
            "business_elapsed_minutes": self.business_elapsed / timedelta(minutes=1),
            "elapsed_minutes": self.elapsed / timedelta(minutes=1),
            "due": self.due.isoformat() if self.due else None,
        }


@dataclass(frozen=True, slots=True)
class _Plan:
    name: str
    title: str
    initial: Mapping[Severity, Target | None]
    ongoing: Mapping[Severity, Target | None]


@dataclass(slots=True)
class SlaPolicy:
    """Plans with their response targets on one business calendar."""

    calendar: BusinessCalendar
    default_plan: str
    business_day: timedelta
    _plans: dict[str, _Plan] = field(repr=False)
    source: str = "<policy>"
    # Clause texts, made once per target and outcome (the hot path builds no strings).
    _clauses: dict[tuple[int, str, str], str] = field(default_factory=dict, repr=False, compare=False)

    # -- loading -----------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path | None = None) -> SlaPolicy:
        """Read and validate a policy file; None reads the bundled ``rules/sla.yaml``.

        Raises `ConfigError` listing every problem with its file and line.
        """
        file = Path(path) if path is not None else default_sla_path()
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                Problem(
                    str(file), None, "SLA policy file not found; give an existing path or omit it for the bundled one"
                )
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(Problem(str(file), None, f"cannot read the SLA policy file: {error}")) from None
        # Loading from a file is an edge of the program: here the country's holidays may be remembered on disk
        # (`holiday_table.default_cache_dir`), which saves importing the holidays package at every start.
        return cls.from_text(text, source=str(file), holiday_cache=default_cache_dir())

    @classmethod
    def from_text(cls, text: str, source: str = "<policy>", *, holiday_cache: Path | None = None) -> SlaPolicy:
        """Validate policy YAML given as text (``source`` names it in errors).

        ``holiday_cache`` is a folder for the country's holiday table (None: ask the holidays package).
        """
        return _Loader(source, holiday_cache).load(text)

    # -- queries -----------------------------------------------------------------------------------------------

    @property
    def plans(self) -> tuple[str, ...]:
        return tuple(self._plans)

    def plan_title(self, plan: str | None) -> str:
        return self._plan(plan).title

    def target(self, severity: int | Severity, plan: str | None, kind: Kind = "initial") -> Target | None:
        """The policy cell for a severity, plan and kind (``initial`` or ``ongoing``); None means no target."""
        chosen = self._plan(plan)
        table = chosen.initial if kind == "initial" else chosen.ongoing
        return table[_severity(severity)]

    def deadlines(self, severity: int | Severity, plan: str | None, received_at: datetime) -> Deadlines:
        """Initial and ongoing response deadlines of a request.

        The ongoing deadline assumes the first response is made at the initial deadline (the latest compliant
        schedule); once a response is made, `next_update_due` gives the real next deadline. Without an initial
        target the ongoing target counts from arrival.
        """
        sev = _severity(severity)
        chosen = self._plan(plan)
        start = _to_us(received_at, what="received_at")
        try:
            initial, initial_us = self._deadline(chosen.initial[sev], start, "arrival", chosen, sev, "initial")
            if initial_us is not None:
                ongoing = self._deadline(chosen.ongoing[sev], initial_us, "the initial response deadline", chosen, sev)[
                    0
                ]
            else:
                ongoing = self._deadline(chosen.ongoing[sev], start, "arrival", chosen, sev)[0]
        except CalendarError as error:
            raise _outside_calendar(received_at, error) from None
        return Deadlines(initial_response=initial, ongoing_response=ongoing)

    def next_update_due(self, severity: int | Severity, plan: str | None, last_response_at: datetime) -> Deadline:
        """When the next update is due, counted from the last response to the customer."""
        sev = _severity(severity)
        chosen = self._plan(plan)
        start = _to_us(last_response_at, what="last_response_at")
        return self._deadline(chosen.ongoing[sev], start, "the last response", chosen, sev)[0]

    def breached(
        self,
        severity: int | Severity,
        plan: str | None,
        received_at: datetime,
        responded_at: datetime,
        *,
        kind: Kind = "initial",
    ) -> BreachCheck:
        """Whether ``responded_at`` broke the target counted from ``received_at``.

        For ``kind="ongoing"`` pass the last response as ``received_at`` and the next one as ``responded_at``.
        The decision is by elapsed time, not instants: a reply at 18:00 to a 16:00 request with a 1 business
        hour target is on time, because only 1 business hour elapsed.
        """
        sev = _severity(severity)
        chosen = self._plan(plan)
        _to_us(received_at, what="received_at")  # rejects naive datetimes with a clear message
        _to_us(responded_at, what="responded_at")
        # Python compares and subtracts datetimes of one tzinfo by wall clock; UTC makes both real time.
        start_utc, end_utc = received_at.astimezone(_UTC), responded_at.astimezone(_UTC)
        if end_utc < start_utc:
            raise InputError(
                f"responded_at must not be before received_at; got responded_at={responded_at.isoformat()} "
                f"and received_at={received_at.isoformat()}"
            )
        target = (chosen.initial if kind == "initial" else chosen.ongoing)[sev]
        business = self.calendar.between(received_at, responded_at)
        elapsed = end_utc - start_utc
        if target is None:
            return BreachCheck(False, None, _no_target(chosen.name, sev, kind), business, elapsed, None)
        due = self.calendar._from_us(self._due(target, _to_us(received_at, what="received_at"))[0])
        over_business = business > target.business
        verdict = "over" if over_business else "within"
        clause = f"{_minutes(business)} of business time elapsed, {verdict} {target.business_label}"
        breached = over_business
        if target.elapsed is not None:
            over_elapsed = elapsed > target.elapsed
            verdict = "over" if over_elapsed else "within"
            clause += f"; {_minutes(elapsed)} elapsed, {verdict} {target.elapsed_label}"
            breached = (over_business or over_elapsed) if target.rule == "first" else (over_business and over_elapsed)
        return BreachCheck(breached, target.label, clause, business, elapsed, due)

    # -- internals ---------------------------------------------------------------------------------------------

    def _plan(self, plan: str | None) -> _Plan:
        name = self.default_plan if plan is None else plan
        found = self._plans.get(name) if isinstance(name, str) else None
        if found is None and isinstance(name, str):
            found = self._plans.get(name.strip().lower())
        if found is None:
            allowed = ", ".join(repr(p) for p in self._plans)
            raise InputError(f"plan must be one of {{{allowed}}}; got {name!r}")
        return found

    def _due(self, target: Target, start: int) -> tuple[int, str]:
        """The deadline in microseconds since the epoch, and which clause decided ("" for a plain target)."""
        by_business = self.calendar._add_checked_us(start, target.business_us)
        if target.elapsed_us is None:
            return by_business, ""
        by_elapsed = start + target.elapsed_us  # real elapsed time, whatever the wall clock does
        if by_business == by_elapsed:
            return by_business, target.together_clause
        if (by_elapsed < by_business) == (target.rule == "first"):
            return by_elapsed, target.elapsed_clause
        return by_business, target.business_clause

    def _deadline(
        self,
        target: Target | None,
        start: int,
        counted_from: str,
        plan: _Plan,
        sev: Severity,
        kind: Kind = "ongoing",
    ) -> tuple[Deadline, int | None]:
        if target is None:
            return _no_deadline(plan.name, sev, kind), None
        due, clause = self._due(target, start)
        return Deadline(self.calendar._from_us(due), target.label, self._clause(target, clause, counted_from)), due

    def _clause(self, target: Target, clause: str, counted_from: str) -> str:
        key = (id(target), clause, counted_from)
        text = self._clauses.get(key)
        if text is None:
            if not clause:
                text = f"{target.business_label} after {counted_from}"
            elif counted_from != "arrival":
                text = f"{clause}, counted from {counted_from}"
            else:
                text = clause
            self._clauses[key] = text  # a benign race: two threads store the same text
        return text

    # -- many arrivals at once -------------------------------------------------------------------------------

    def deadlines_many(
        self,
        severity: int | Severity | Sequence[int | Severity] | npt.ArrayLike,
        plan: str | Sequence[str | None] | npt.ArrayLike | None,
        received_at: pd.Series | pd.DatetimeIndex | npt.ArrayLike | Sequence[datetime],
    ) -> pd.DataFrame:
        """`deadlines` of many requests at once, as columns; the same instants, targets and clauses.

        `received_at` is a pandas Series or DatetimeIndex of timezone-aware instants, a numpy ``datetime64``
        array (read as UTC, numpy's own convention), or a sequence of aware datetimes; naive pandas or Python
        datetimes raise `NaiveDatetimeError`. `severity` and `plan` are one value for all or one per arrival.
        Returns a DataFrame (the Series' index, if given) with ``initial_due``, ``initial_target``,
        ``initial_clause``, ``ongoing_due``, ``ongoing_target``, ``ongoing_clause``; the due columns are
        timezone-aware in the calendar's zone, NaT where the policy sets no target.
        """
        import pandas as pd

        index = received_at.index if isinstance(received_at, pd.Series) else None
        starts = _epoch_us(received_at)
        n = len(starts)
        dues = {kind: np.full(n, _NAT, dtype=np.int64) for kind in ("initial", "ongoing")}
        # Target labels and clauses as category codes: a handful of distinct texts over any number of rows.
        codes = {
            f"{kind}_{what}": np.full(n, -1, dtype=np.int64)
            for kind in ("initial", "ongoing")
            for what in ("target", "clause")
        }
        texts: dict[str, dict[str, int]] = {name: {} for name in codes}

        def code(column: str, text: str) -> int:
            known = texts[column]
            return known.setdefault(text, len(known))

        for sev, name, rows in self._groups(severity, plan, starts):
            chosen = self._plans[name]
            start = starts[rows]
            first = self._fill(dues, codes, code, "initial", rows, chosen.initial[sev], start, "arrival", chosen, sev)
            counted_from = "arrival" if first is None else "the initial response deadline"
            self._fill(
                dues,
                codes,
                code,
                "ongoing",
                rows,
                chosen.ongoing[sev],
                start if first is None else first,
                counted_from,
                chosen,
                sev,
            )
        zone = self.calendar.tz
        columns: dict[str, Any] = {}
        for kind in ("initial", "ongoing"):
            # The "no deadline" marker is numpy's NaT (the smallest int64), so the view needs no masking.
            columns[f"{kind}_due"] = (
                pd.DatetimeIndex(dues[kind].view("datetime64[us]")).tz_localize("UTC").tz_convert(zone)
            )
            for what in ("target", "clause"):
                columns[f"{kind}_{what}"] = pd.Categorical.from_codes(
                    codes[f"{kind}_{what}"], categories=list(texts[f"{kind}_{what}"])
                )
        return pd.DataFrame(columns, index=index)

    def _groups(
        self, severity: Any, plan: Any, starts: npt.NDArray[np.int64]
    ) -> list[tuple[Severity, str, npt.NDArray[np.int64]]]:
        """The rows of each (severity, plan) present, in order of arrival: one vectorised pass per group, whose
        targets are shared. Groups come in the order of their codes (severity, then plan, each numbered by first
        appearance), the order that numbers the target and clause texts.

        Ascending arrivals make ascending sums, so each group's binary searches over the calendar run on sorted
        keys, which numpy's `searchsorted` answers about 4x faster than keys in random order (20,000 arrivals:
        0.18 against 0.85 ms per search; `benchmarks/bench_sla.py`).
        """
        import pandas as pd

        n = len(starts)
        if _is_scalar(severity):
            sev_codes, sev_values = np.zeros(n, dtype=np.int64), [_severity(severity)]
        else:
            sev_codes, uniques = pd.factorize(_per_row(severity, n, "severity"))
            sev_values = [_severity(value) for value in uniques.tolist()]
        if _is_scalar(plan):
            plan_codes, plan_names = np.zeros(n, dtype=np.int64), [self._plan(plan).name]
        else:
            plan_codes, uniques = pd.factorize(_per_row(plan, n, "plan"), use_na_sentinel=False)
            plan_names = [self._plan(None if pd.isna(value) else value).name for value in uniques.tolist()]
        keys = np.asarray(sev_codes, dtype=np.int64) * len(plan_names) + np.asarray(plan_codes, dtype=np.int64)
        by_arrival = np.argsort(starts)
        # numpy sorts 16-bit integers by radix (stable, one pass), several times faster than int64 keys.
        narrow = np.int16 if len(sev_values) * len(plan_names) <= np.iinfo(np.int16).max else np.int64
        order = by_arrival[np.argsort(keys[by_arrival].astype(narrow), kind="stable")]
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        out: list[tuple[Severity, str, npt.NDArray[np.int64]]] = []
        for rows in np.split(order, bounds) if n else []:
            key = int(keys[rows[0]])
            out.append((sev_values[key // len(plan_names)], plan_names[key % len(plan_names)], rows))
        return out

    def _fill(
        self,
        dues: dict[str, npt.NDArray[np.int64]],
        codes: dict[str, npt.NDArray[np.int64]],
        code: Callable[[str, str], int],
        kind: Kind,
        rows: npt.NDArray[np.int64],
        target: Target | None,
        start: npt.NDArray[np.int64],
        counted_from: str,
        plan: _Plan,
        sev: Severity,
    ) -> npt.NDArray[np.int64] | None:
        """One group's deadlines of one kind into the columns; returns the due instants (None: no target)."""
        if target is None:
            codes[f"{kind}_clause"][rows] = code(f"{kind}_clause", _no_target(plan.name, sev, kind))
            return None
        due = self.calendar._add_many_us(start, target.business_us)
        clause = np.full(len(rows), code(f"{kind}_clause", self._clause(target, "", counted_from)), dtype=np.int64)
        if target.elapsed_us is not None:
            by_business, by_elapsed = due, start + target.elapsed_us
            elapsed_wins = (by_elapsed < by_business) == (target.rule == "first")
            due = np.where(elapsed_wins, by_elapsed, by_business)
            clause[:] = code(f"{kind}_clause", self._clause(target, target.business_clause, counted_from))
            clause[elapsed_wins] = code(f"{kind}_clause", self._clause(target, target.elapsed_clause, counted_from))
            clause[by_elapsed == by_business] = code(
                f"{kind}_clause", self._clause(target, target.together_clause, counted_from)
            )
        dues[kind][rows] = due
        codes[f"{kind}_target"][rows] = code(f"{kind}_target", target.label)
        codes[f"{kind}_clause"][rows] = clause
        return np.asarray(due, dtype=np.int64)


def _minutes(value: timedelta) -> str:
    """A duration in words: "1 hour", "8 hours 30 minutes", "45 minutes", "0 minutes"."""
    hours, minutes = divmod(round(value / timedelta(minutes=1), 2), 60)
    parts = [_amount(hours, "hour")] if hours else []
    if minutes or not hours:
        parts.append(_amount(minutes, "minute"))
    return " ".join(parts)


@lru_cache(maxsize=256)
def _no_target(plan: str, sev: Severity, kind: Kind) -> str:
    return f"no target: the {plan} plan sets no {kind} response time for severity {int(sev)} ({sev.label})"


@lru_cache(maxsize=256)
def _no_deadline(plan: str, sev: Severity, kind: Kind) -> Deadline:
    # Immutable and the same every time, so one object serves every request.
    return Deadline(due=None, target=None, clause=_no_target(plan, sev, kind))


_NAT = np.iinfo(np.int64).min  # "no deadline" in the integer columns: numpy's NaT as an int64


def _epoch_us(values: Any) -> npt.NDArray[np.int64]:
    """Microseconds since the epoch (UTC) of aware instants: pandas, numpy datetime64 or Python datetimes."""
    import pandas as pd

    if isinstance(values, (pd.Series, pd.DatetimeIndex)):
        stamps = pd.DatetimeIndex(values)
        if stamps.tz is None:
            raise NaiveDatetimeError(
                "received_at must be timezone-aware (e.g. Series.dt.tz_localize('Europe/Bratislava')); got naive "
                "timestamps"
            )
        return np.asarray(stamps.tz_convert("UTC").as_unit("us").asi8, dtype=np.int64)
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.datetime64):
        # numpy's datetime64 counts from the Unix epoch in UTC.
        return array.astype("datetime64[us]").astype(np.int64)
    return np.fromiter(
        (_to_us(value, what="received_at") for value in array.tolist()), dtype=np.int64, count=len(array)
    )


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, np.integer, Severity))


def _per_row(value: Any, n: int, what: str) -> npt.NDArray[Any]:
    """Exactly `n` values (one per arrival) as an array for `pandas.factorize`: integers as they are (hashed as
    int64, about ten times faster than as objects), anything else as Python objects (numpy strings would be
    hashed far more slowly)."""
    import pandas as pd

    values: npt.NDArray[Any]
    if isinstance(value, (pd.Series, pd.Index)):
        values = np.asarray(value.to_numpy())
    elif isinstance(value, np.ndarray):
        values = value
    else:
        values = np.asarray(list(value), dtype=object)
    if values.ndim != 1 or len(values) != n:
        got = len(values) if values.ndim == 1 else f"an array of shape {values.shape}"
        raise InputError(f"{what} must be one value or one per arrival ({n}); got {got}")
    return values if values.dtype.kind in "iu" else values.astype(object)


_BY_NUMBER = {int(s): s for s in Severity}


def _severity(value: int | Severity) -> Severity:
    if value.__class__ is int and value in _BY_NUMBER:  # the common case, without Severity.parse's checks
        return _BY_NUMBER[int(value)]
    try:
        return Severity.parse(value)
    except ValueError as error:
        raise InputError(str(error)) from None


# -- the policy file ---------------------------------------------------------------------------------------------

_TOP_KEYS = ("version", "calendar", "units", "default_plan", "plans")
_CALENDAR_KEYS = ("timezone", "week", "country", "subdivision", "holidays", "closures", "special_days")
_PLAN_KEYS = ("title", "targets")
_CELL_KEYS = ("initial", "ongoing")
# Minutes per unit and the singular used in labels; a business day's length comes from `units`.
_BUSINESS_UNITS = {
    "business_minutes": (1, "business minute"),
    "business_hours": (60, "business hour"),
    "business_days": (0, "business day"),
}
_ELAPSED_UNITS = {"or_elapsed_minutes": 1, "or_elapsed_hours": 60}
_TARGET_KEYS = (*_BUSINESS_UNITS, *_ELAPSED_UNITS, "rule", "label")


class _Invalid(Exception):
    """Stops reading one part of the file after its problem was recorded."""


class _Loader:
    """Walks the YAML node tree (to know lines) and builds the policy, collecting every problem."""

    def __init__(self, source: str, holiday_cache: Path | None = None) -> None:
        self.source = source
        self.holiday_cache = holiday_cache
        self.problems: list[Problem] = []
        self._scalars = yaml.constructor.SafeConstructor()

    def problem(self, node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.problems.append(Problem(self.source, line, message))

    def fail(self, node: yaml.Node | None, message: str) -> _Invalid:
        self.problem(node, message)
        return _Invalid()

    def load(self, text: str) -> SlaPolicy:
        try:
            root = yaml_text.compose(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(error, "problem", None) or str(error)
            context = getattr(error, "context", None)
            column = f" at column {mark.column + 1}" if mark is not None else ""
            detail = f"{problem}{column}" + (f" ({context})" if context else "")
            raise ConfigError(
                Problem(self.source, line, f"not valid YAML: {detail}; check quotes, brackets and indentation")
            ) from None
        if root is None:
            raise ConfigError(Problem(self.source, None, f"the policy file is empty; it needs {', '.join(_TOP_KEYS)}"))
        try:
            top = self.mapping(root, "the policy file", _TOP_KEYS, required=("calendar", "plans"))
        except _Invalid:
            raise ConfigError(self.problems) from None
        if "version" in top:
            version = self.scalar(top["version"][1])
            if version != 1:
                self.problem(top["version"][1], f"version must be 1; got {version!r}")
        calendar = self.guard(self.calendar, top["calendar"][1])
        business_day = timedelta(hours=9)
        if "units" in top:
            business_day = self.guard(self.units, top["units"][1]) or business_day
        plans = self.guard(self.plans, top["plans"][1], business_day) or {}
        default_plan = next(iter(plans), "")
        if "default_plan" in top:
            node = top["default_plan"][1]
            value = self.scalar(node)
            if plans and value not in plans:
                allowed = ", ".join(repr(p) for p in plans)
                self.problem(node, f"default_plan must be one of {{{allowed}}}; got {value!r}")
            elif isinstance(value, str):
                default_plan = value
        if self.problems or calendar is None:
            raise ConfigError(self.problems)
        return SlaPolicy(calendar, default_plan, business_day, plans, source=self.source)

    def guard(self, build: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T | None:
        """Run one section's reader; None when it recorded a problem and gave up."""
        try:
            return build(*args, **kwargs)
        except _Invalid:
            return None

    # -- generic node readers --

    def scalar(self, node: yaml.Node) -> object:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, "expected a single value here, not a list or mapping")
        return self._scalars.construct_object(node)

    def mapping(
        self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None, required: tuple[str, ...] = ()
    ) -> dict[object, tuple[yaml.Node, yaml.Node]]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            result: dict[object, tuple[yaml.Node, yaml.Node]] = {}
        elif not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping of keys to values")
        else:
            result = {}
            for key_node, value_node in node.value:
                key = self.scalar(key_node)
                if key in result:
                    self.problem(key_node, f"{key!r} appears twice in {what}; keep one")
                    continue
                if allowed is not None and key not in allowed:
                    self.problem(key_node, f"unknown key {key!r} in {what}; allowed keys are {', '.join(allowed)}")
                    continue
                result[key] = (key_node, value_node)
        missing = [k for k in required if k not in result]
        if missing:
            raise self.fail(node, f"{what} must have {', '.join(missing)}")
        return result

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list (use [] for none)")
        return list(node.value)

    # -- sections --

    def dates(self, node: yaml.Node, what: str) -> list[date]:
        result: list[date] = []
        for item in self.sequence(node, what):
            value = self.scalar(item)
            if isinstance(value, date) and not isinstance(value, datetime):
                result.append(value)
            else:
                self.problem(item, f"{what} must list dates written YYYY-MM-DD; got {value!r}")
        return result

    def intervals(self, node: yaml.Node, what: str) -> list[str]:
        specs: list[str] = []
        for item in self.sequence(node, what):
            value = self.scalar(item)
            if not isinstance(value, str):
                self.problem(item, f'{what} opening intervals must be quoted strings like "08:00-17:00"; got {value!r}')
                continue
            try:
                parse_interval(value)
            except CalendarError as error:
                self.problem(item, f"{what}: {error}")
                continue
            specs.append(value)
        return specs

    def calendar(self, node: yaml.Node) -> BusinessCalendar:
        keys = self.mapping(node, "calendar", _CALENDAR_KEYS, required=("timezone", "week"))
        timezone_node = keys["timezone"][1]
        zone = self.scalar(timezone_node)
        week_map = self.mapping(keys["week"][1], "calendar.week", WEEKDAYS)
        week = {str(day): self.intervals(value, f"calendar.week.{day}") for day, (_, value) in week_map.items()}
        country: str | None = None
        if "country" in keys:
            value = self.scalar(keys["country"][1])
            if value is not None and not isinstance(value, str):
                self.problem(keys["country"][1], f"calendar.country must be an ISO country code like SK; got {value!r}")
            country = value if isinstance(value, str) else None
        subdivision = None
        if "subdivision" in keys:
            sub = self.scalar(keys["subdivision"][1])
            subdivision = None if sub is None else str(sub)
        holidays = self.dates(keys["holidays"][1], "calendar.holidays") if "holidays" in keys else []
        closures = self.dates(keys["closures"][1], "calendar.closures") if "closures" in keys else []
        special: dict[date, list[str]] = {}
        if "special_days" in keys:
            for day, (key_node, value) in self.mapping(keys["special_days"][1], "calendar.special_days", None).items():
                if not isinstance(day, date) or isinstance(day, datetime):
                    self.problem(key_node, f"calendar.special_days keys must be dates written YYYY-MM-DD; got {day!r}")
                    continue
                special[day] = self.intervals(value, f"calendar.special_days.{day}")
        try:
            return BusinessCalendar(
                timezone=zone if isinstance(zone, str) else repr(zone),
                week=week,
                holidays=holidays,
                country=country,
                closures=closures,
                subdivision=subdivision,
                special_days=special,
                holiday_cache=self.holiday_cache,
            )
        except CalendarError as error:
            # Most calendar errors are caught item by item above; what remains concerns the whole calendar.
            message = str(error)
            where = next((keys[k][1] for k in ("country", "timezone") if k in keys and message.startswith(k)), node)
            raise self.fail(where, f"calendar: {error}") from None

    def units(self, node: yaml.Node) -> timedelta:
        keys = self.mapping(node, "units", ("business_day_hours",))
        if "business_day_hours" not in keys:
            return timedelta(hours=9)
        value_node = keys["business_day_hours"][1]
        value = self.scalar(value_node)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 24:
            raise self.fail(value_node, f"units.business_day_hours must be a number of hours in (0, 24]; got {value!r}")
        return timedelta(hours=value)

    def plans(self, node: yaml.Node, business_day: timedelta) -> dict[str, _Plan]:
        plans: dict[str, _Plan] = {}
        entries = self.mapping(node, "plans", None)
        if not entries:
            raise self.fail(node, "plans must name at least one plan, e.g. standard")
        for name, (key_node, value) in entries.items():
            if not isinstance(name, str) or not name.strip() or name != name.strip().lower():
                self.problem(key_node, f"plan names must be lower-case words like 'premier'; got {name!r}")
                continue
            plan = self.guard(self.plan, name, value, business_day)
            if plan is not None:
                plans[name] = plan
        return plans

    def plan(self, name: str, node: yaml.Node, business_day: timedelta) -> _Plan:
        keys = self.mapping(node, f"plan {name!r}", _PLAN_KEYS, required=("targets",))
        title = str(self.scalar(keys["title"][1])) if "title" in keys else name.title()
        rows = self.mapping(keys["targets"][1], f"plan {name!r} targets", None)
        initial: dict[Severity, Target | None] = {}
        ongoing: dict[Severity, Target | None] = {}
        for sev_value, (key_node, row) in rows.items():
            try:
                sev = Severity.parse(sev_value) if not isinstance(sev_value, str) or sev_value.isdigit() else None
            except ValueError:
                sev = None
            if sev is None:
                self.problem(key_node, f"plan {name!r} targets keys must be severities 1, 2, 3, 4; got {sev_value!r}")
                continue
            where = f"plan {name!r} severity {int(sev)}"
            cells = self.mapping(row, where, _CELL_KEYS, required=_CELL_KEYS) if not _is_null(row) else None
            if cells is None:
                raise self.fail(row, f"{where} must give initial and ongoing (null for no target)")
            initial[sev] = self.guard(self.target, cells["initial"][1], f"{where} initial", business_day)
            ongoing[sev] = self.guard(self.target, cells["ongoing"][1], f"{where} ongoing", business_day)
        missing = [str(int(s)) for s in Severity if s not in initial]
        if missing:
            raise self.fail(
                keys["targets"][1], f"plan {name!r} targets must list every severity; missing {', '.join(missing)}"
            )
        return _Plan(name=name, title=title, initial=initial, ongoing=ongoing)

    def target(self, node: yaml.Node, where: str, business_day: timedelta) -> Target | None:
        if _is_null(node):
            return None
        keys = self.mapping(node, where, _TARGET_KEYS)
        business_keys = [k for k in keys if k in _BUSINESS_UNITS]
        if len(business_keys) != 1:
            raise self.fail(
                node,
                f"{where} must give exactly one of {', '.join(_BUSINESS_UNITS)} (null for no target); "
                f"got {', '.join(map(str, business_keys)) or 'none'}",
            )
        unit = str(business_keys[0])
        amount = self.positive(keys[unit][1], f"{where} {unit}")
        minutes, singular = _BUSINESS_UNITS[unit]
        business = business_day * amount if unit == "business_days" else timedelta(minutes=amount * minutes)
        business_label = _amount(amount, singular)
        elapsed_keys = [k for k in keys if k in _ELAPSED_UNITS]
        if len(elapsed_keys) > 1:
            raise self.fail(node, f"{where} may give only one of {', '.join(_ELAPSED_UNITS)}")
        rule: Rule = "first"
        if "rule" in keys:
            rule_value = self.scalar(keys["rule"][1])
            if rule_value not in _RULES:
                raise self.fail(keys["rule"][1], f"{where} rule must be one of {{'first', 'last'}}; got {rule_value!r}")
            rule = "first" if rule_value == "first" else "last"
            if not elapsed_keys:
                raise self.fail(keys["rule"][1], f"{where} has a rule but no or_elapsed_hours to race against")
        label = None
        if "label" in keys:
            label = str(self.scalar(keys["label"][1]))
        if not elapsed_keys:
            return Target(business=business, label=label or business_label, business_label=business_label)
        elapsed_unit = str(elapsed_keys[0])
        elapsed_amount = self.positive(keys[elapsed_unit][1], f"{where} {elapsed_unit}")
        elapsed = timedelta(minutes=elapsed_amount * _ELAPSED_UNITS[elapsed_unit])
        elapsed_label = _amount(elapsed_amount, "elapsed hour" if elapsed_unit.endswith("hours") else "elapsed minute")
        joined = "whichever comes first" if rule == "first" else "whichever comes last"
        return Target(
            business=business,
            label=label or f"{business_label} or {elapsed_label}, {joined}",
            elapsed=elapsed,
            rule=rule,
            business_label=business_label,
            elapsed_label=elapsed_label,
        )

    def positive(self, node: yaml.Node, what: str) -> float:
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise self.fail(node, f"{what} must be a positive number; got {value!r}")
        return value


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _outside_calendar(received_at: datetime, error: CalendarError) -> CalendarError:
    """The calendar's refusal of a far past or future arrival, said as what the sender can check."""
    if "year" not in str(error):
        return error
    shown = received_at.isoformat()
    if received_at.year > 5000:  # datetime stops at 9999; the calendar a year earlier (`calendar._MAX_US`)
        return CalendarError(
            f"received_at {shown} is too late: its response deadline would fall after the year 9998, the end of "
            "the business calendar; check the year of received_at"
        )
    return CalendarError(
        f"received_at {shown} is too early: business time is counted from the year 2 on; check the year of received_at"
    )
