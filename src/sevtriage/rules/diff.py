"""What a rule-file change would change: verdicts that move, per-rule coverage and precision before and after.

Pure: two rule stages' verdicts on the same requests (and labels where known) in, a `RulesDiff` out. The CLI
(`sevtriage rules diff`) reads the files and prints; `--fail-if` checks are evaluated here too so that any
caller gates the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sevtriage.rules.report import build_report
from sevtriage.rules.rulebook import Rulebook
from sevtriage.types import RuleVerdict, Severity


@dataclass(frozen=True, slots=True)
class Change:
    """One request whose verdict differs between the two rule files."""

    id: str
    label: int | None
    old_rules: tuple[str, ...]
    new_rules: tuple[str, ...]
    old_severity: int | None
    new_severity: int | None
    old_confident: bool
    new_confident: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "old": {"rules": list(self.old_rules), "severity": self.old_severity, "confident": self.old_confident},
            "new": {"rules": list(self.new_rules), "severity": self.new_severity, "confident": self.new_confident},
        }


@dataclass(frozen=True, slots=True)
class RuleDelta:
    """A rule's matches and precision (on labelled rows) under each file; None where the file lacks the rule."""

    id: str
    old_matched: int | None
    new_matched: int | None
    old_precision: float | None
    new_precision: float | None

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {
            "id": self.id,
            "old": {"matched": self.old_matched, "precision": r(self.old_precision)},
            "new": {"matched": self.new_matched, "precision": r(self.new_precision)},
        }


@dataclass(frozen=True, slots=True)
class RulesDiff:
    old_version: str
    new_version: str
    rows: int
    labelled: int
    changes: tuple[Change, ...]
    rules: tuple[RuleDelta, ...]
    # severity -> requests the rules decide at that severity, under each file
    old_load: dict[int, int]
    new_load: dict[int, int]
    # severity-1 recall of the confident rules on labelled rows (None without severity-1 labels)
    old_sev1_recall: float | None
    new_sev1_recall: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "rows": self.rows,
            "labelled": self.labelled,
            "changed": len(self.changes),
            "changes": [c.to_dict() for c in self.changes],
            "rules": [r.to_dict() for r in self.rules],
            "decided_per_severity": {
                str(s): {"old": self.old_load.get(s, 0), "new": self.new_load.get(s, 0)} for s in (1, 2, 3, 4)
            },
            "sev1_recall": {"old": self.old_sev1_recall, "new": self.new_sev1_recall},
        }


def _decided(verdict: RuleVerdict) -> int | None:
    return int(verdict.severity) if verdict.confident and verdict.severity is not None else None


def _sev1_recall(verdicts: Sequence[RuleVerdict], labels: Sequence[Severity | None]) -> float | None:
    ones = [v for v, label in zip(verdicts, labels, strict=True) if label == Severity.CRITICAL]
    if not ones:
        return None
    return sum(1 for v in ones if _decided(v) == 1) / len(ones)


def build_diff(
    old_book: Rulebook,
    new_book: Rulebook,
    ids: Sequence[str],
    old: Sequence[RuleVerdict],
    new: Sequence[RuleVerdict],
    labels: Sequence[Severity | None],
) -> RulesDiff:
    """Compare verdicts of the same requests (same order) under two rule files."""
    if not len(ids) == len(old) == len(new) == len(labels):
        raise ValueError("ids, verdicts and labels must have the same length")
    changes: list[Change] = []
    for request_id, before, after, label in zip(ids, old, new, labels, strict=True):
        b_rules = tuple(m.id for m in before.matches)
        a_rules = tuple(m.id for m in after.matches)
        if (b_rules, _decided(before), before.confident) == (a_rules, _decided(after), after.confident):
            continue
        changes.append(
            Change(
                id=request_id,
                label=int(label) if label is not None else None,
                old_rules=b_rules,
                new_rules=a_rules,
                old_severity=_decided(before),
                new_severity=_decided(after),
                old_confident=before.confident,
                new_confident=after.confident,
            )
        )
    known = [i for i, label in enumerate(labels) if label is not None]
    sure = [labels[i] for i in known]
    assert all(s is not None for s in sure)
    old_report = build_report(old_book, [old[i] for i in known], [s for s in sure if s is not None])
    new_report = build_report(new_book, [new[i] for i in known], [s for s in sure if s is not None])
    old_rows = {r.id: r for r in old_report.rules}
    new_rows = {r.id: r for r in new_report.rules}
    old_all = _match_counts(old)
    new_all = _match_counts(new)
    ids_in_order = list(dict.fromkeys([*(r.id for r in old_book.rules), *(r.id for r in new_book.rules)]))
    deltas = tuple(
        RuleDelta(
            id=rule_id,
            old_matched=old_all.get(rule_id, 0) if rule_id in old_rows else None,
            new_matched=new_all.get(rule_id, 0) if rule_id in new_rows else None,
            old_precision=old_rows[rule_id].precision if rule_id in old_rows else None,
            new_precision=new_rows[rule_id].precision if rule_id in new_rows else None,
        )
        for rule_id in ids_in_order
    )
    return RulesDiff(
        old_version=old_book.version,
        new_version=new_book.version,
        rows=len(ids),
        labelled=len(known),
        changes=tuple(changes),
        rules=deltas,
        old_load=_load(old),
        new_load=_load(new),
        old_sev1_recall=_sev1_recall(old, labels),
        new_sev1_recall=_sev1_recall(new, labels),
    )


def _match_counts(verdicts: Sequence[RuleVerdict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for verdict in verdicts:
        for match in verdict.matches:
            out[match.id] = out.get(match.id, 0) + 1
    return out


def _load(verdicts: Sequence[RuleVerdict]) -> dict[int, int]:
    out: dict[int, int] = {}
    for verdict in verdicts:
        decided = _decided(verdict)
        if decided is not None:
            out[decided] = out.get(decided, 0) + 1
    return out


# --- gates -----------------------------------------------------------------------------------------------------

GATES = ("rule-precision", "sev1-recall-drop", "changed")
_GATE = re.compile(r"^\s*([a-z0-9-]+)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*$")


def parse_gate(expression: str, names: Sequence[str] = GATES) -> tuple[str, str, float]:
    """A `--fail-if` expression as (name, operator, limit); ValueError naming the allowed `names` if malformed."""
    match = _GATE.match(expression)
    if match is None or match.group(1) not in names:
        raise ValueError(
            f"--fail-if must be NAME<VALUE or NAME>VALUE with NAME one of {', '.join(names)}; got {expression!r}"
        )
    name, op, raw = match.groups()
    return name, op, float(raw)


def check_gate(diff: RulesDiff, expression: str) -> list[str]:
    """The failures of one `--fail-if` expression (empty: it holds); ValueError for a malformed one.

    `rule-precision<X`: any rule of the new file whose precision on labelled rows is below X;
    `sev1-recall-drop>X`: the confident rules' severity-1 recall fell by more than X;
    `changed>N`: more than N requests change verdict.
    """
    name, op, limit = parse_gate(expression)

    def hit(value: float) -> bool:
        return {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit}[op]

    if name == "rule-precision":
        return [
            f"rule {r.id}: precision {r.new_precision:.3f} {op} {limit:g}"
            for r in diff.rules
            if r.new_precision is not None and hit(r.new_precision)
        ]
    if name == "sev1-recall-drop":
        if diff.old_sev1_recall is None or diff.new_sev1_recall is None:
            return []
        drop = diff.old_sev1_recall - diff.new_sev1_recall
        return [f"severity-1 recall dropped by {drop:.3f} {op} {limit:g}"] if hit(drop) else []
    return [f"{len(diff.changes)} requests change verdict {op} {limit:g}"] if hit(len(diff.changes)) else []


# --- formats ---------------------------------------------------------------------------------------------------


def _sev(value: int | None, confident: bool) -> str:
    return str(value) if value is not None else ("abstain" if not confident else "-")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_markdown(diff: RulesDiff, limit: int = 200) -> str:
    """The diff as Markdown tables (at most `limit` changed requests listed)."""
    lines = [
        f"# Rules diff: {diff.old_version} -> {diff.new_version}",
        "",
        f"{diff.rows} requests ({diff.labelled} labelled); {len(diff.changes)} change verdict.",
        "",
        "## Changed verdicts",
        "",
        "| id | label | old rules | old sev | new rules | new sev |",
        "|---|---|---|---|---|---|",
    ]
    for change in diff.changes[:limit]:
        lines.append(
            f"| {change.id} | {change.label or ''} | {', '.join(change.old_rules) or '-'} | "
            f"{_sev(change.old_severity, change.old_confident)} | {', '.join(change.new_rules) or '-'} | "
            f"{_sev(change.new_severity, change.new_confident)} |"
        )
    if len(diff.changes) > limit:
        lines.append(f"| ... {len(diff.changes) - limit} more | | | | | |")
    lines += [
        "",
        "## Rules (precision on labelled rows)",
        "",
        "| rule | matched old | matched new | precision old | precision new |",
        "|---|---|---|---|---|",
    ]
    for rule in diff.rules:
        if rule.old_matched == rule.new_matched and rule.old_precision == rule.new_precision:
            continue
        lines.append(
            f"| {rule.id} | {'-' if rule.old_matched is None else rule.old_matched} | "
            f"{'-' if rule.new_matched is None else rule.new_matched} | {_pct(rule.old_precision)} | "
            f"{_pct(rule.new_precision)} |"
        )
    lines += ["", "## Decided per severity (load)", "", "| severity | old | new | delta |", "|---|---|---|---|"]
    for s in (1, 2, 3, 4):
        o, n = diff.old_load.get(s, 0), diff.new_load.get(s, 0)
        lines.append(f"| {s} | {o} | {n} | {n - o:+d} |")
    lines += [
        "",
        f"Severity-1 recall of the confident rules: {_pct(diff.old_sev1_recall)} -> {_pct(diff.new_sev1_recall)}",
    ]
    return "\n".join(lines)


def format_html(diff: RulesDiff, more: str = "") -> str:
    """A minimal standalone HTML page of the Markdown tables (escaped); `more` is further Markdown to append."""
    return markdown_to_html(format_markdown(diff) + ("\n\n" + more if more else ""))


def markdown_to_html(markdown: str) -> str:
    """The report Markdown this module writes (headings, paragraphs, pipe tables) as a standalone HTML page."""
    import html

    body = []
    for line in markdown.splitlines():
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("### "):
            body.append(f"<h3>{html.escape(line[4:])}</h3>")
        elif line.startswith("|---"):
            continue
        elif line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
    out: list[str] = []
    in_table = False
    for part in body:
        if part.startswith("<tr>") and not in_table:
            out.append("<table>")
            in_table = True
        if not part.startswith("<tr>") and in_table:
            out.append("</table>")
            in_table = False
        out.append(part)
    if in_table:
        out.append("</table>")
    return "<!doctype html><meta charset=utf-8><title>rules diff</title>\n" + "\n".join(out) + "\n"
