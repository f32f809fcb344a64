"""How often specialists agree with the suggestions: per class, per source, per rule, and the load per day.

Pure: it reads reviewed requests and actions handed to it, so the web page and `sevtriage reviews agreement`
show the same numbers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

from sevtriage.store import Action, StoredRequest
from sevtriage.types import Severity

CLASSES = tuple(Severity)
NO_SUGGESTION = "none"


@dataclass(frozen=True, slots=True)
class ClassRow:
    """Requests suggested as one class: how many were reviewed and how many kept that class."""

    severity: Severity
    suggested: int
    kept: int
    final: int  # how many ended in this class, whatever was suggested

    @property
    def agreement(self) -> float | None:
        return self.kept / self.suggested if self.suggested else None


@dataclass(frozen=True, slots=True)
class OverrideRow:
    """For a source (rules, model, none) or a rule: reviewed requests and how many a specialist overrode."""

    name: str
    reviewed: int
    overridden: int
    severity: Severity | None = None  # a rule's own severity

    @property
    def rate(self) -> float | None:
        return self.overridden / self.reviewed if self.reviewed else None


@dataclass(frozen=True, slots=True)
class DayRow:
    day: date
    accepted: int
    changed: int
    specialists: int

    @property
    def total(self) -> int:
        return self.accepted + self.changed


@dataclass(frozen=True, slots=True)
class AgreementReport:
    reviewed: int
    overridden: int
    classes: tuple[ClassRow, ...]
    # confusion[suggested][final]; suggested is 1-4 or "none"
    confusion: dict[str, dict[int, int]]
    by_source: tuple[OverrideRow, ...]
    by_rule: tuple[OverrideRow, ...]
    per_day: tuple[DayRow, ...]

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.reviewed if self.reviewed else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reviewed": self.reviewed,
            "overridden": self.overridden,
            "override_rate": _round(self.override_rate),
            "classes": [
                {
                    "severity": int(c.severity),
                    "suggested": c.suggested,
                    "kept": c.kept,
                    "final": c.final,
                    "agreement": _round(c.agreement),
                }
                for c in self.classes
            ],
            "confusion": self.confusion,
            "by_source": [_override(r) for r in self.by_source],
            "by_rule": [_override(r) for r in self.by_rule],
            "per_day": [
                {
                    "day": d.day.isoformat(),
                    "accepted": d.accepted,
                    "changed": d.changed,
                    "total": d.total,
                    "specialists": d.specialists,
                }
                for d in self.per_day
            ],
        }


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def _override(row: OverrideRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": row.name,
        "reviewed": row.reviewed,
        "overridden": row.overridden,
        "rate": _round(row.rate),
    }
    if row.severity is not None:
        out["severity"] = int(row.severity)
    return out


def agreement(reviewed: Iterable[StoredRequest], actions: Sequence[Action], zone: tzinfo) -> AgreementReport:
    """The report over `reviewed` requests and the specialists' `actions` (days counted in `zone`)."""
    suggested_n: Counter[Severity] = Counter()
    kept_n: Counter[Severity] = Counter()
    final_n: Counter[Severity] = Counter()
    confusion: dict[str, dict[int, int]] = {key: {int(s): 0 for s in CLASSES} for key in _confusion_keys()}
    source_n: Counter[str] = Counter()
    source_over: Counter[str] = Counter()
    rule_n: Counter[str] = Counter()
    rule_over: Counter[str] = Counter()
    rule_severity: dict[str, Severity] = {}
    total = overridden = 0
    for request in reviewed:
        final = request.final_severity
        if final is None:
            continue
        suggested = request.suggested.severity
        total += 1
        changed = suggested != final
        overridden += changed
        final_n[final] += 1
        key = str(int(suggested)) if suggested is not None else NO_SUGGESTION
        confusion[key][int(final)] += 1
        if suggested is not None:
            suggested_n[suggested] += 1
            kept_n[suggested] += not changed
        source = request.suggested.source or NO_SUGGESTION
        source_n[source] += 1
        source_over[source] += changed
        # A rule is overridden when the specialist's severity is not the rule's, whether or not it decided.
        for rule in {m.id: m for m in request.suggested.matched_rules}.values():
            rule_n[rule.id] += 1
            rule_over[rule.id] += rule.severity != final
            rule_severity[rule.id] = rule.severity
    classes = tuple(ClassRow(s, suggested_n[s], kept_n[s], final_n[s]) for s in CLASSES)
    by_source = tuple(
        OverrideRow(name, source_n[name], source_over[name]) for name in ("rules", "model", NO_SUGGESTION)
    )
    by_rule = sorted(
        (OverrideRow(rule, rule_n[rule], rule_over[rule], rule_severity[rule]) for rule in rule_n),
        key=lambda r: (-r.overridden, -(r.rate or 0.0), r.name),
    )
    return AgreementReport(
        reviewed=total,
        overridden=overridden,
        classes=classes,
        confusion=confusion,
        by_source=by_source,
        by_rule=tuple(by_rule),
        per_day=_per_day(actions, zone),
    )


def _confusion_keys() -> list[str]:
    return [str(int(s)) for s in CLASSES] + [NO_SUGGESTION]


def _per_day(actions: Sequence[Action], zone: tzinfo) -> tuple[DayRow, ...]:
    counts: dict[date, Counter[str]] = defaultdict(Counter)
    people: dict[date, set[str]] = defaultdict(set)
    for action in actions:
        if action.kind not in ("accepted", "changed"):
            continue
        day = action.at.astimezone(zone).date()
        counts[day][action.kind] += 1
        people[day].add(action.actor)
    return tuple(
        DayRow(day, counts[day]["accepted"], counts[day]["changed"], len(people[day])) for day in sorted(counts)
    )
