"""What a rule-file change would change: verdicts that move, per-rule coverage and precision before and after.

Pure: two rule stages' verdicts on the same requests (and labels where known) in, a `RulesDiff` out. The CLI
(`sevtriage rules diff`) reads the files and prints; `--fail-if` checks are evaluated here too so that any
caller gates the same way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sevtriage.rules.rulebook import Rulebook
from sevtriage.rules.stage import RuleStage
from sevtriage.types import RuleVerdict, Severity, Ticket


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


class DiffCounter:
    """Adds up a `RulesDiff` batch by batch, so a caller can stream requests; `build_diff` is one batch.

    Keeps the changed requests and counts, not the verdicts: memory grows with the changes, not the requests.
    """

    def __init__(self, old_book: Rulebook, new_book: Rulebook) -> None:
        self.old_book = old_book
        self.new_book = new_book
        self._rows = 0
        self._labelled = 0
        self._changes: list[Change] = []
        # per file: rule -> matches on all rows, matches on labelled rows, correct ones among those
        self._matched: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
        self._matched_labelled: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
        self._correct: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
        self._load: tuple[Counter[int], Counter[int]] = (Counter(), Counter())
        self._sev1_labelled = 0
        self._sev1_found = [0, 0]

    def add(
        self,
        ids: Sequence[str],
        old: Sequence[RuleVerdict],
        new: Sequence[RuleVerdict],
        labels: Sequence[Severity | None],
    ) -> None:
        """Count a batch: the same requests (same order) under both files, with their labels where known."""
        if not len(ids) == len(old) == len(new) == len(labels):
            raise ValueError("ids, verdicts and labels must have the same length")
        for request_id, before, after, label in zip(ids, old, new, labels, strict=True):
            self._rows += 1
            b_rules = tuple(m.id for m in before.matches)
            a_rules = tuple(m.id for m in after.matches)
            if (b_rules, _decided(before), before.confident) != (a_rules, _decided(after), after.confident):
                self._changes.append(
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
            if label is not None:
                self._labelled += 1
                if label == Severity.CRITICAL:
                    self._sev1_labelled += 1
            for side, verdict in enumerate((before, after)):
                decided = _decided(verdict)
                if decided is not None:
                    self._load[side][decided] += 1
                for match in verdict.matches:
                    self._matched[side][match.id] += 1
                    if label is not None:
                        self._matched_labelled[side][match.id] += 1
                        if match.severity == label:
                            self._correct[side][match.id] += 1
                if label == Severity.CRITICAL and decided == 1:
                    self._sev1_found[side] += 1

    def result(self) -> RulesDiff:
        books = (self.old_book, self.new_book)
        known = tuple({rule.id for rule in book.rules} for book in books)

        def matched(side: int, rule_id: str) -> int | None:
            return self._matched[side][rule_id] if rule_id in known[side] else None

        def precision(side: int, rule_id: str) -> float | None:
            n = self._matched_labelled[side][rule_id]
            return self._correct[side][rule_id] / n if rule_id in known[side] and n else None

        ids_in_order = list(dict.fromkeys([*(r.id for r in self.old_book.rules), *(r.id for r in self.new_book.rules)]))
        deltas = tuple(
            RuleDelta(
                id=rule_id,
                old_matched=matched(0, rule_id),
                new_matched=matched(1, rule_id),
                old_precision=precision(0, rule_id),
                new_precision=precision(1, rule_id),
            )
            for rule_id in ids_in_order
        )
        recall = [found / self._sev1_labelled if self._sev1_labelled else None for found in self._sev1_found]
        return RulesDiff(
            old_version=self.old_book.version,
            new_version=self.new_book.version,
            rows=self._rows,
            labelled=self._labelled,
            changes=tuple(self._changes),
            rules=deltas,
            old_load=dict(self._load[0]),
            new_load=dict(self._load[1]),
            old_sev1_recall=recall[0],
            new_sev1_recall=recall[1],
        )


def evaluate_both(
    old: RuleStage, new: RuleStage, tickets: Sequence[Ticket]
) -> tuple[list[RuleVerdict], list[RuleVerdict]]:
    """The verdicts of the same requests under both stages; the signals are found once when both files read
    them alike (`RuleStage.reads_like`), which roughly halves the work of a diff that edits only rules."""
    facts = old.facts_many(tickets) if old.reads_like(new) else None
    return old.evaluate_many(tickets, facts=facts), new.evaluate_many(tickets, facts=facts)


def build_diff(
    old_book: Rulebook,
    new_book: Rulebook,
    ids: Sequence[str],
    old: Sequence[RuleVerdict],
    new: Sequence[RuleVerdict],
    labels: Sequence[Severity | None],
) -> RulesDiff:
    """Compare verdicts of the same requests (same order) under two rule files."""
    counter = DiffCounter(old_book, new_book)
    counter.add(ids, old, new, labels)
    return counter.result()


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
