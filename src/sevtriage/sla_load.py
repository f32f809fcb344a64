"""How a rule change moves the SLA load: requests per severity per ISO week, and Premier deadlines out of hours.

Pure (no I/O): each request's arrival and plan with its rule verdict under both files in, an `SlaLoad` out. It
lives in the core, not in `rules/`, because it needs the SLA policy and a stage imports only the core
(tests/test_layout.py); `sevtriage rules diff` and the desk's Rules page both call `build_sla_load`.

Choices (README, "rules diff"):

* A request's severity is the one the rules *decide* (a confident verdict); an abstention is "undecided" (the
  model would decide it), so each week's columns add up to the requests that arrived in it.
* Weeks are ISO 8601 weeks of the arrival in the SLA calendar's zone (Europe/Bratislava in `rules/sla.yaml`).
  A request without an arrival time is counted apart (`undated`); no time is made up for it.
* A request without a plan, or with one the policy does not name, is counted under the policy's
  `default_plan` (as the SLA tracking does) and reported in `unknown_plan`.
* Deadlines are `SlaPolicy.deadlines_many`'s: the ongoing one assumes the first response at the initial deadline.
  A deadline is outside business hours when the desk is closed at that instant; closing time itself counts as
  inside (`BusinessCalendar.within_hours_many`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sevtriage.types import RuleVerdict, Ticket

if TYPE_CHECKING:
    from sevtriage.sla import SlaPolicy

__all__ = [
    "LOAD_GATES",
    "OutsideHours",
    "SlaLoad",
    "SlaLoadCounter",
    "Tally",
    "WeekLoad",
    "build_sla_load",
    "check_load_gate",
    "format_markdown",
]

SEVERITIES = (1, 2, 3, 4)
_UNDECIDED = 4  # index of the undecided count in a tally's list
_NAT = np.iinfo(np.int64).min


def decided_severity(verdict: RuleVerdict) -> int | None:
    """The severity the rules decide (a confident verdict), else None."""
    return int(verdict.severity) if verdict.confident and verdict.severity is not None else None


@dataclass(frozen=True, slots=True)
class Tally:
    """Requests per severity the rules decide (`decided[0]` is severity 1) and those they leave undecided."""

    decided: tuple[int, int, int, int] = (0, 0, 0, 0)
    undecided: int = 0

    def of(self, severity: int) -> int:
        return self.decided[severity - 1]

    @property
    def total(self) -> int:
        return sum(self.decided) + self.undecided

    def to_dict(self) -> dict[str, int]:
        out = {str(s): self.of(s) for s in SEVERITIES}
        out["undecided"] = self.undecided
        return out


def _delta(old: Tally, new: Tally) -> dict[str, int]:
    return {key: value - old.to_dict()[key] for key, value in new.to_dict().items()}


@dataclass(frozen=True, slots=True)
class WeekLoad:
    """One ISO week of arrivals (e.g. "2026-W48") under the old and the new rule file."""

    week: str
    old: Tally
    new: Tally

    def to_dict(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
            "delta": _delta(self.old, self.new),
        }


@dataclass(frozen=True, slots=True)
class OutsideHours:
    """One plan's deadlines under one rule file: how many there are and how many fall outside business hours."""

    initial: int = 0
    initial_outside: int = 0
    ongoing: int = 0
    ongoing_outside: int = 0

    @property
    def outside(self) -> int:
        return self.initial_outside + self.ongoing_outside

    def to_dict(self) -> dict[str, Any]:
        return {
            "initial": {"deadlines": self.initial, "outside_business_hours": self.initial_outside},
            "ongoing": {"deadlines": self.ongoing, "outside_business_hours": self.ongoing_outside},
        }


@dataclass(frozen=True, slots=True)
class SlaLoad:
    """The SLA load of the same requests under two rule files (see the module docstring for the choices)."""

    timezone: str
    rows: int
    undated: int  # requests without an arrival time: in `overall_*`, not in `weeks`
    weeks: tuple[WeekLoad, ...]
    overall_old: Tally
    overall_new: Tally
    plan: str  # the plan whose deadlines are counted ("premier")
    plan_requests: int  # requests of that plan with an arrival time
    plan_undated: int  # requests of that plan without one: no deadlines
    old_deadlines: OutsideHours
    new_deadlines: OutsideHours
    default_plan: str
    unknown_plan: int  # requests without a plan or naming one the policy lacks, counted under `default_plan`
    unknown_plan_names: tuple[str, ...]  # the plan names the policy lacks (sorted)

    @property
    def dated(self) -> int:
        return self.rows - self.undated

    def max_week_increase(self, severity: int) -> int | None:
        """The largest rise of a severity's requests in one week (None without dated requests)."""
        if not self.weeks:
            return None
        return max(w.new.of(severity) - w.old.of(severity) for w in self.weeks)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape documented in README ("rules diff", `sla_load`)."""
        return {
            "timezone": self.timezone,
            "rows": self.rows,
            "undated": self.undated,
            "weeks": [w.to_dict() for w in self.weeks],
            "all": {
                "old": self.overall_old.to_dict(),
                "new": self.overall_new.to_dict(),
                "delta": _delta(self.overall_old, self.overall_new),
            },
            "outside_business_hours": {
                "plan": self.plan,
                "requests": self.plan_requests,
                "undated": self.plan_undated,
                "old": self.old_deadlines.to_dict(),
                "new": self.new_deadlines.to_dict(),
            },
            "plans": {
                "default": self.default_plan,
                "unknown": self.unknown_plan,
                "unknown_names": list(self.unknown_plan_names),
            },
        }


def _counts() -> list[int]:
    return [0, 0, 0, 0, 0]


def _tally(counts: list[int]) -> Tally:
    return Tally((counts[0], counts[1], counts[2], counts[3]), counts[_UNDECIDED])


def _slot(severity: int | None) -> int:
    return _UNDECIDED if severity is None else severity - 1


class SlaLoadCounter:
    """Adds up an `SlaLoad` batch by batch, so a caller can stream requests (`build_sla_load` is one batch)."""

    def __init__(self, policy: SlaPolicy, *, plan: str = "premier") -> None:
        if plan not in policy.plans:
            raise ValueError(f"plan must be one of {{{', '.join(repr(p) for p in policy.plans)}}}; got {plan!r}")
        self._policy = policy
        self._plan = plan
        self._rows = 0
        self._undated = 0
        self._weeks: dict[str, tuple[list[int], list[int]]] = {}
        self._overall = (_counts(), _counts())
        self._plan_requests = 0
        self._plan_undated = 0
        # initial, initial outside, ongoing, ongoing outside; for the old and the new file
        self._deadlines = ([0, 0, 0, 0], [0, 0, 0, 0])
        self._unknown = 0
        self._unknown_names: set[str] = set()

    def add(self, tickets: Sequence[Ticket], old: Sequence[RuleVerdict], new: Sequence[RuleVerdict]) -> None:
        """Count a batch: the requests (arrival and plan) and their verdicts under each file, in the same order."""
        if not len(tickets) == len(old) == len(new):
            raise ValueError("tickets and both verdict lists must have the same length")
        zone = self._policy.calendar.tz
        plans = set(self._policy.plans)
        arrivals: list[Any] = []
        old_sev: list[int | None] = []
        new_sev: list[int | None] = []
        for ticket, before, after in zip(tickets, old, new, strict=True):
            self._rows += 1
            b, a = decided_severity(before), decided_severity(after)
            self._overall[0][_slot(b)] += 1
            self._overall[1][_slot(a)] += 1
            arrived = ticket.received_at
            if arrived is not None and (arrived.tzinfo is None or arrived.utcoffset() is None):
                raise ValueError(
                    f"request {ticket.id!r}: received_at must have a UTC offset; got naive {arrived.isoformat()}"
                )
            if arrived is None:
                self._undated += 1
            else:
                year, week, _ = arrived.astimezone(zone).isocalendar()
                slot = self._weeks.setdefault(f"{year:04d}-W{week:02d}", (_counts(), _counts()))
                slot[0][_slot(b)] += 1
                slot[1][_slot(a)] += 1
            if self._plan_of(ticket.plan, plans) != self._plan:
                continue
            if arrived is None:
                self._plan_undated += 1
                continue
            self._plan_requests += 1
            arrivals.append(arrived)
            old_sev.append(b)
            new_sev.append(a)
        for counts, severities in zip(self._deadlines, (old_sev, new_sev), strict=True):
            self._count_deadlines(counts, severities, arrivals)

    def _plan_of(self, raw: str | None, plans: set[str]) -> str:
        name = raw.strip().lower() if raw else ""
        if name in plans:
            return name
        self._unknown += 1
        if name:
            self._unknown_names.add(name)
        return self._policy.default_plan

    def _count_deadlines(self, counts: list[int], severities: list[int | None], arrivals: list[Any]) -> None:
        import pandas as pd

        rows = [i for i, s in enumerate(severities) if s is not None]
        if not rows:
            return
        decided: list[int] = [s for s in severities if s is not None]
        frame = self._policy.deadlines_many(decided, self._plan, [arrivals[i] for i in rows])
        calendar = self._policy.calendar
        for k, kind in enumerate(("initial", "ongoing")):
            # Microseconds since the epoch; numpy's NaT (the smallest int64) where the policy sets no target.
            micros = np.asarray(pd.DatetimeIndex(frame[f"{kind}_due"]).as_unit("us").asi8, dtype=np.int64)
            real = micros != _NAT
            counts[2 * k] += int(real.sum())
            counts[2 * k + 1] += int((real & ~calendar.within_hours_many(micros)).sum())

    def result(self) -> SlaLoad:
        weeks = tuple(WeekLoad(week, _tally(o), _tally(n)) for week, (o, n) in sorted(self._weeks.items()))
        return SlaLoad(
            timezone=str(self._policy.calendar.tz),
            rows=self._rows,
            undated=self._undated,
            weeks=weeks,
            overall_old=_tally(self._overall[0]),
            overall_new=_tally(self._overall[1]),
            plan=self._plan,
            plan_requests=self._plan_requests,
            plan_undated=self._plan_undated,
            old_deadlines=OutsideHours(*self._deadlines[0]),
            new_deadlines=OutsideHours(*self._deadlines[1]),
            default_plan=self._policy.default_plan,
            unknown_plan=self._unknown,
            unknown_plan_names=tuple(sorted(self._unknown_names)),
        )


def build_sla_load(
    tickets: Sequence[Ticket],
    old: Sequence[RuleVerdict],
    new: Sequence[RuleVerdict],
    policy: SlaPolicy,
    *,
    plan: str = "premier",
) -> SlaLoad:
    """The SLA load of `tickets` under the old and new verdicts (same order), on `policy`; see the module doc."""
    counter = SlaLoadCounter(policy, plan=plan)
    counter.add(tickets, old, new)
    return counter.result()


# --- gates -----------------------------------------------------------------------------------------------------

LOAD_GATES = ("sev1-per-week-increase", "premier-outside-hours-increase")


def check_load_gate(load: SlaLoad, name: str, op: str, limit: float) -> list[str]:
    """The failures of one parsed `--fail-if` gate on the load (empty: it does not hold); ValueError when unmeasurable.

    `sev1-per-week-increase>N`: in some ISO week the rules decide more than N more severity-1 requests;
    `premier-outside-hours-increase>N`: Premier deadlines (initial and ongoing) outside business hours rise by
    more than N.
    """

    def hit(value: float) -> bool:
        return {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit}[op]

    if name == "sev1-per-week-increase":
        rise = load.max_week_increase(1)
        if rise is None:
            raise ValueError(
                f"sev1-per-week-increase needs arrival times; none of the {load.rows} requests has a received_at"
            )
        worst = next(w for w in load.weeks if w.new.of(1) - w.old.of(1) == rise)
        return [f"severity-1 requests in {worst.week} rose by {rise:+d} {op} {limit:g}"] if hit(rise) else []
    if name == "premier-outside-hours-increase":
        rise = load.new_deadlines.outside - load.old_deadlines.outside
        if hit(rise):
            return [f"{load.plan} deadlines outside business hours rose by {rise:+d} {op} {limit:g}"]
        return []
    raise ValueError(f"gate must be one of {', '.join(LOAD_GATES)}; got {name!r}")


# --- format ----------------------------------------------------------------------------------------------------


def _cell(old: int, new: int) -> str:
    return str(old) if old == new else f"{old} -> {new} ({new - old:+d})"


def _row(label: str, old: Tally, new: Tally) -> str:
    cells = [_cell(old.of(s), new.of(s)) for s in SEVERITIES] + [_cell(old.undecided, new.undecided)]
    return f"| {label} | " + " | ".join(cells) + " |"


def _requests(n: int, kind: str = "") -> str:
    return f"{n} {kind + ' ' if kind else ''}request{'' if n == 1 else 's'}"


def _have(n: int) -> str:
    return "has" if n == 1 else "have"


def format_markdown(load: SlaLoad) -> str:
    """The load as a Markdown section ("## SLA load"), to follow `rules.diff.format_markdown`."""
    blocks = ["## SLA load"]
    if load.weeks:
        table = [
            f"Requests per severity the rules decide, per ISO week of arrival ({load.timezone}); "
            "a changed cell reads old -> new (delta).",
            "",
            "| week | sev 1 | sev 2 | sev 3 | sev 4 | undecided |",
            "|---|---|---|---|---|---|",
            *(_row(w.week, w.old, w.new) for w in load.weeks),
        ]
        if len(load.weeks) > 1 or load.undated:
            table.append(_row("all", load.overall_old, load.overall_new))
        blocks.append("\n".join(table))
    if load.undated == load.rows:
        blocks.append(
            f"None of the {load.rows} requests has an arrival time (received_at), so there is no weekly table; "
            "the per-severity counts above are over all of them."
        )
    elif load.undated:
        blocks.append(
            f"{load.undated} of the {load.rows} requests {_have(load.undated)} no arrival time (received_at): "
            "they are in the "
            "'all' row, not in any week (no time is assumed for them)."
        )
    title = load.plan.title()
    old, new = load.old_deadlines, load.new_deadlines
    blocks += [
        f"### {title} deadlines outside business hours",
        f"Over the {_requests(load.plan_requests, title)} with an arrival time, those the rules decide (an "
        "abstention has no severity, so no deadline); the ongoing deadline assumes the first response at the "
        "initial deadline; a deadline at closing time counts as inside.",
        "\n".join(
            [
                "| deadline | old | new | delta |",
                "|---|---|---|---|",
                f"| initial response | {old.initial_outside} of {old.initial} | {new.initial_outside} of "
                f"{new.initial} | {new.initial_outside - old.initial_outside:+d} |",
                f"| ongoing response | {old.ongoing_outside} of {old.ongoing} | {new.ongoing_outside} of "
                f"{new.ongoing} | {new.ongoing_outside - old.ongoing_outside:+d} |",
            ]
        ),
    ]
    notes = []
    if load.plan_undated:
        notes.append(
            f"{_requests(load.plan_undated, title)} {_have(load.plan_undated)} no arrival time, so no deadlines."
        )
    if load.unknown_plan:
        named = f" (or one the policy does not name: {', '.join(load.unknown_plan_names)})"
        notes.append(
            f"{_requests(load.unknown_plan)} {_have(load.unknown_plan)} no plan"
            f"{named if load.unknown_plan_names else ''}; they are counted "
            f"under the policy's default plan '{load.default_plan}', as the SLA tracking does."
        )
    if notes:
        blocks.append("\n".join(notes))
    return "\n\n".join(blocks)
