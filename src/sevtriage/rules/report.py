"""How the rules do on labelled data, per rule and overall (in the spirit of snorkel's `LFAnalysis`).

Per rule: coverage (share of requests it matched), how many of its matches carry its severity
(precision), overlaps (it matched together with another rule) and conflicts (together with a rule of
another severity). Overall: how many requests the stage decided and how often it was right.
Pure: the CLI reads the file and prints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sevtriage.rules.rulebook import Rulebook
from sevtriage.types import RuleVerdict, Severity


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One rule's numbers on the data."""

    id: str
    severity: int
    strength: str
    matched: int
    correct: int
    overlaps: int
    conflicts: int
    coverage: float
    precision: float | None
    label_counts: dict[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "strength": self.strength,
            "matched": self.matched,
            "correct": self.correct,
            "coverage": round(self.coverage, 4),
            "precision": None if self.precision is None else round(self.precision, 4),
            "overlaps": self.overlaps,
            "conflicts": self.conflicts,
            "labels_of_matches": {str(k): v for k, v in sorted(self.label_counts.items())},
        }


@dataclass(frozen=True, slots=True)
class RulesReport:
    """Per-rule rows and the stage's overall coverage and precision."""

    rows_total: int
    rules: tuple[RuleRow, ...]
    decided: int
    decided_correct: int
    abstain_reasons: dict[str, int]
    per_severity: dict[int, tuple[int, int, int]]  # severity -> (decided as it, correct, labelled as it)
    rules_version: str

    @property
    def coverage(self) -> float:
        return self.decided / self.rows_total if self.rows_total else 0.0

    @property
    def precision(self) -> float | None:
        return self.decided_correct / self.decided if self.decided else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules_version": self.rules_version,
            "rows": self.rows_total,
            "decided": self.decided,
            "coverage": round(self.coverage, 4),
            "precision": None if self.precision is None else round(self.precision, 4),
            "abstain_reasons": dict(sorted(self.abstain_reasons.items())),
            "per_severity": {
                str(s): {"decided": d, "correct": c, "labelled": n}
                for s, (d, c, n) in sorted(self.per_severity.items())
            },
            "rules": [r.to_dict() for r in self.rules],
        }


def build_report(book: Rulebook, verdicts: Sequence[RuleVerdict], labels: Sequence[Severity]) -> RulesReport:
    """Measure every rule of `book` on verdicts of labelled requests (same order as `labels`)."""
    if len(verdicts) != len(labels):
        raise ValueError(f"verdicts and labels must have the same length; got {len(verdicts)} and {len(labels)}")
    total = len(labels)
    matched: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    overlaps: Counter[str] = Counter()
    conflicts: Counter[str] = Counter()
    label_counts: dict[str, Counter[int]] = {rule.id: Counter() for rule in book.rules}
    reasons: Counter[str] = Counter()
    decided = decided_correct = 0
    sev_decided: Counter[int] = Counter()
    sev_correct: Counter[int] = Counter()
    sev_labelled: Counter[int] = Counter(int(label) for label in labels)
    for verdict, label in zip(verdicts, labels, strict=True):
        severities = {m.severity for m in verdict.matches}
        for match in verdict.matches:
            matched[match.id] += 1
            label_counts.setdefault(match.id, Counter())[int(label)] += 1
            if match.severity == label:
                correct[match.id] += 1
            if len(verdict.matches) > 1:
                overlaps[match.id] += 1
            if len(severities) > 1:
                conflicts[match.id] += 1
        if verdict.confident and verdict.severity is not None:
            decided += 1
            sev_decided[int(verdict.severity)] += 1
            if verdict.severity == label:
                decided_correct += 1
                sev_correct[int(verdict.severity)] += 1
        else:
            reasons.update(verdict.reasons)
    rows = tuple(
        RuleRow(
            id=rule.id,
            severity=int(rule.severity),
            strength=rule.strength,
            matched=matched[rule.id],
            correct=correct[rule.id],
            overlaps=overlaps[rule.id],
            conflicts=conflicts[rule.id],
            coverage=matched[rule.id] / total if total else 0.0,
            precision=correct[rule.id] / matched[rule.id] if matched[rule.id] else None,
            label_counts=dict(label_counts.get(rule.id, Counter())),
        )
        for rule in book.rules
    )
    per_severity = {s: (sev_decided[s], sev_correct[s], sev_labelled[s]) for s in (1, 2, 3, 4)}
    return RulesReport(
        rows_total=total,
        rules=rows,
        decided=decided,
        decided_correct=decided_correct,
        abstain_reasons=dict(reasons),
        per_severity=per_severity,
        rules_version=book.version,
    )


def _pct(value: float | None) -> str:
    return "    -" if value is None else f"{100 * value:5.1f}"


def format_report(report: RulesReport) -> str:
    """The report as a plain-text table."""
    lines = [
        f"rules {report.rules_version} on {report.rows_total} labelled requests",
        "",
        f"{'rule':36} {'sev':>3} {'str':>6} {'match':>6} {'cov%':>5} {'prec%':>5} {'overlap':>7} {'conflict':>8}"
        "  labels of matches (1/2/3/4)",
    ]
    for row in report.rules:
        labels = "/".join(str(row.label_counts.get(s, 0)) for s in (1, 2, 3, 4))
        lines.append(
            f"{row.id:36} {row.severity:>3} {row.strength:>6} {row.matched:>6} {_pct(row.coverage)} "
            f"{_pct(row.precision)} {row.overlaps:>7} {row.conflicts:>8}  {labels}"
        )
    lines += [
        "",
        f"decided by the rules: {report.decided} of {report.rows_total} ({_pct(report.coverage).strip()}%), "
        f"correct {report.decided_correct} (precision {_pct(report.precision).strip()}%)",
        "per severity: decided / correct / labelled",
    ]
    for sev, (dec, cor, lab) in sorted(report.per_severity.items()):
        prec = _pct(cor / dec if dec else None).strip()
        lines.append(f"  {sev}: {dec:>6} / {cor:>6} / {lab:>6}   precision {prec}%")
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.abstain_reasons.items())) or "none"
    lines.append(f"abstained: {reasons}")
    return "\n".join(lines)
