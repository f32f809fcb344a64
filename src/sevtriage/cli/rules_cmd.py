"""`sevtriage rules check | test | report`: validate the rule file, run its examples, measure it on data."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import click

from sevtriage.errors import ConfigError, InputError
from sevtriage.resources import default_rules_path
from sevtriage.rules.report import build_report, format_report
from sevtriage.rules.stage import ENGINES, ExampleResult, RuleStage
from sevtriage.types import Severity, Ticket

EXIT_CONFIG = 2
_TEXT_COLUMNS = ("subject", "body")
# Columns of a labelled file that are not request fields the rules may read.
_NOT_FIELDS = {"id", "subject", "body", "severity", "received_at", "source_label", "language", "tags", "topic"}

_engine_option = click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=None,
    help="Rules engine (default: $SEVTRIAGE_RULES_ENGINE, else durable).",
)


def _print_problems(error: ConfigError) -> None:
    for problem in error.problems:
        click.echo(f"error: {problem}", err=True)
    click.echo(f"{len(error.problems)} problem(s) found.", err=True)


def _load(path: Path | None, engine: str | None) -> RuleStage:
    return RuleStage.load(path, engine=engine)


@click.group(name="rules")
def rules() -> None:
    """Check, test and measure the severity rules (rules/severity.yaml)."""


@rules.command(name="check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@_engine_option
@click.pass_context
def check(ctx: click.Context, path: Path | None, engine: str | None) -> None:
    """Validate a rule file (default: the bundled one), including that its examples pass.

    Exits 2 listing every problem with file, line, rule id, what is wrong and what is allowed.
    """
    try:
        stage = _load(path, engine)
        stage.check_examples()
    except ConfigError as error:
        _print_problems(error)
        ctx.exit(EXIT_CONFIG)
    book = stage.book
    examples = sum(1 for _ in book.all_examples())
    click.echo(
        f"ok: {stage.book.path} ({stage.version}): {len(book.signals)} signals, {len(book.rules)} rules, "
        f"{examples} examples pass"
    )


def _describe(result: ExampleResult) -> str:
    verdict = result.verdict
    if verdict.confident and verdict.severity is not None:
        got = f"severity {int(verdict.severity)}"
    else:
        got = f"abstain ({', '.join(verdict.reasons)})"
    rules_fired = ", ".join(m.id for m in verdict.matches) or "-"
    text = " ".join(f"{result.example.subject} {result.example.text}".split())
    if len(text) > 70:
        text = text[:67] + "..."
    return f"{got:28} rules: {rules_fired:40} {text}"


@rules.command(name="test")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@_engine_option
@click.option("-v", "--verbose", is_flag=True, help="List every example, not only the failing ones.")
@click.pass_context
def test(ctx: click.Context, path: Path | None, engine: str | None, verbose: bool) -> None:
    """Run the examples written in a rule file; exit 2 if any fails."""
    try:
        stage = _load(path, engine)
    except ConfigError as error:
        _print_problems(error)
        ctx.exit(EXIT_CONFIG)
    results = stage.run_examples()
    failed = [r for r in results if not r.passed]
    for result in results:
        if result.passed and not verbose:
            continue
        where = f"{stage.book.path}:{result.example.line}"
        rule = f" [rule {result.example.rule_id}]" if result.example.rule_id else ""
        if result.passed:
            click.echo(f"PASS {where}{rule} {_describe(result)}")
        else:
            click.echo(f"FAIL {where}{rule} {result.problem}")
    click.echo(
        f"{len(results) - len(failed)} passed, {len(failed)} failed ({stage.version}, engine {stage.engine_name})"
    )
    if failed:
        ctx.exit(EXIT_CONFIG)


def read_labelled(path: Path) -> Iterator[tuple[Ticket, Severity]]:
    """Rows of a labelled CSV or JSONL file (columns subject, body, severity; others become fields).

    A folder is read as `train` and `evaluate` read it: `data/` means every data file under `data/corpus/`, any
    other folder every CSV/JSONL file below it.
    """
    if path.is_dir():
        from sevtriage.model.corpus import CORPUS_DIR, corpus_files

        files = [f for f in corpus_files(path) if f.suffix.lower() in _FOLDER_SUFFIXES]
        if not files:
            raise InputError(
                f"{path}: no labelled data files found; expected {CORPUS_DIR}/<language>/*.jsonl or files ending "
                f"in {', '.join(_FOLDER_SUFFIXES)} below it"
            )
        for file in files:
            yield from read_labelled(file)
        return
    if not path.exists():
        raise InputError(f"{path}: file not found; give a labelled CSV or JSONL file (columns subject, body, severity)")
    with path.open(encoding="utf-8", newline="") as handle:
        first = handle.read(1)
        handle.seek(0)
        if first in ("{", "["):
            records: Iterator[tuple[int, dict[str, object]]] = (
                (n, _json_row(path, n, line)) for n, line in enumerate(handle, start=1) if line.strip()
            )
            yield from _tickets(path, records, "line")
        else:
            reader = csv.DictReader(handle)
            missing = [c for c in ("severity",) if c not in (reader.fieldnames or [])]
            if missing or not any(c in (reader.fieldnames or []) for c in _TEXT_COLUMNS):
                raise InputError(
                    f"{path}: a labelled file needs columns subject and/or body, and severity; "
                    f"got {', '.join(reader.fieldnames or []) or 'no header'}"
                )
            # Row numbers count the header as line 1, as a spreadsheet shows them.
            yield from _tickets(path, ((n, dict(row)) for n, row in enumerate(reader, start=2)), "line")


_FOLDER_SUFFIXES = (".csv", ".jsonl", ".ndjson")


def _json_row(path: Path, number: int, line: str) -> dict[str, object]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{number}: not valid JSON ({error.msg}); each line must be one JSON object") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}:{number}: each line must be a JSON object; got {type(value).__name__}")
    return value


def _tickets(
    path: Path, records: Iterator[tuple[int, dict[str, object]]], unit: str
) -> Iterator[tuple[Ticket, Severity]]:
    for number, row in records:
        try:
            label = Severity.parse(row.get("severity"))
        except ValueError as error:
            raise InputError(f"{path}:{number}: {error}") from None
        extra = {str(k): str(v) for k, v in row.items() if k not in _NOT_FIELDS and k != "plan" and v not in (None, "")}
        plan = row.get("plan")
        ticket = Ticket(
            id=str(row.get("id") or f"{unit}-{number}"),
            subject=str(row.get("subject") or ""),
            body=str(row.get("body") or ""),
            plan=str(plan) if plan else None,
            extra=extra,
        )
        yield ticket, label


@rules.command(name="report")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--rules", "rules_path", type=click.Path(path_type=Path), default=None, help="Rule file to measure.")
@_engine_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def report(ctx: click.Context, data: Path, rules_path: Path | None, engine: str | None, as_json: bool) -> None:
    """Per-rule coverage, precision, overlaps and conflicts on a labelled CSV/JSONL (subject, body, severity)."""
    try:
        stage = _load(rules_path, engine)
    except ConfigError as error:
        _print_problems(error)
        ctx.exit(EXIT_CONFIG)
    rows = list(read_labelled(data))
    if not rows:
        raise InputError(f"{data}: no rows; a labelled file needs at least one request")
    verdicts = stage.evaluate_many([ticket for ticket, _ in rows])
    result = build_report(stage.book, verdicts, [label for _, label in rows])
    if as_json:
        json.dump(result.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        click.echo()
    else:
        click.echo(format_report(result))


EXIT_GATE = 4


def _read_requests(data: Path) -> list[tuple[Ticket, Severity | None]]:
    """Requests of a CSV/JSONL file or every *.jsonl / *.csv under a folder; `severity` is optional."""
    if not data.exists():
        raise InputError(f"{data}: not found; give a CSV/JSONL file or a folder of them")
    files = sorted([*data.rglob("*.jsonl"), *data.rglob("*.csv")]) if data.is_dir() else [data]
    out: list[tuple[Ticket, Severity | None]] = []
    for path in files:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            if path.suffix == ".csv":
                rows = [(n, dict(row)) for n, row in enumerate(csv.DictReader(handle), start=2)]
            else:
                rows = [(n, _json_row(path, n, line)) for n, line in enumerate(handle, start=1) if line.strip()]
        for number, row in rows:
            if not (row.get("subject") or row.get("body")):
                continue
            raw = row.get("severity")
            try:
                label = Severity.parse(raw) if raw not in (None, "") else None
            except ValueError as error:
                raise InputError(f"{path}:{number}: {error}") from None
            extra = {
                str(k): str(v) for k, v in row.items() if k not in _NOT_FIELDS and k != "plan" and v not in (None, "")
            }
            plan = row.get("plan")
            ticket = Ticket(
                id=str(row.get("id") or f"{path.name}:{number}"),
                subject=str(row.get("subject") or ""),
                body=str(row.get("body") or ""),
                received_at=_arrival(path, number, row.get("received_at")),
                plan=str(plan) if plan else None,
                extra=extra,
            )
            out.append((ticket, label))
    return out


def _arrival(path: Path, number: int, raw: object) -> datetime | None:
    """A row's `received_at` (ISO 8601 with a UTC offset); None when the row has none. No time is made up."""
    if raw in (None, ""):
        return None
    from sevtriage.intake.readers import parse_instant

    try:
        return parse_instant(str(raw))
    except ValueError as error:
        raise InputError(f"{path}:{number}: {error}") from None


_BATCH = 2000  # requests evaluated at a time by `rules diff`


def _request_batches(
    data: Path | None, store_url: str | None, size: int = _BATCH
) -> Iterator[list[tuple[Ticket, Severity | None]]]:
    """DATA's requests, or every stored request (reviewed ones labelled by the specialist's final severity; the
    desk's Rules page reads the same rows), `size` at a time."""
    if data is not None:
        rows = _read_requests(data)
        for start in range(0, len(rows), size):
            yield rows[start : start + size]
        return
    from sevtriage.store import DecisionStore

    with DecisionStore.open(str(store_url)) as store:
        yield from store.diff_request_batches(size=size)


@rules.command(name="diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path), required=False)
@click.option(
    "--store",
    "store_url",
    default=None,
    help="Use the review store's requests instead of DATA (SQLAlchemy URL); specialists' final severities are labels.",
)
@_engine_option
@click.option(
    "--sla",
    "sla_path",
    type=click.Path(path_type=Path),
    default=None,
    help="SLA policy file for the load section (default: the bundled rules/sla.yaml).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "html", "json"]), default="markdown", help="Output format."
)
@click.option(
    "--fail-if",
    "gates",
    multiple=True,
    help="Exit 4 when it holds: rule-precision<X (any rule of NEW), sev1-recall-drop>X, changed>N, "
    "sev1-per-week-increase>N, premier-outside-hours-increase>N. Repeatable.",
)
@click.option(
    "--explain", "explain_id", default=None, help="Show each signal's evidence for one request id under both files."
)
@click.pass_context
def diff(
    ctx: click.Context,
    old: Path,
    new: Path,
    data: Path | None,
    store_url: str | None,
    engine: str | None,
    sla_path: Path | None,
    fmt: str,
    gates: tuple[str, ...],
    explain_id: str | None,
) -> None:
    """What changing the rule file OLD to NEW would change on DATA (labelled or not; a file or a folder).

    Lists every request whose verdict changes, per-rule matches and precision before and after (on rows with a
    `severity` label), requests decided per severity, and the SLA load: requests per severity per ISO week of
    arrival and Premier deadlines outside business hours. Exit 2 for a malformed rule file (the same file:line
    errors as `rules check`) or gate, 4 when a --fail-if gate holds.
    """
    from sevtriage import sla_load
    from sevtriage.rules.diff import (
        GATES,
        DiffCounter,
        check_gate,
        evaluate_both,
        format_html,
        format_markdown,
        parse_gate,
    )
    from sevtriage.sla import SlaPolicy

    try:
        old_stage = _load(old, engine)
        new_stage = _load(new, engine)
        policy = SlaPolicy.load(sla_path)
    except ConfigError as error:
        _print_problems(error)
        ctx.exit(EXIT_CONFIG)
    try:
        parsed = [parse_gate(gate, GATES + sla_load.LOAD_GATES) for gate in gates]
    except ValueError as error:
        click.echo(f"error: {error}", err=True)
        ctx.exit(EXIT_CONFIG)
    if (data is None) == (store_url is None):
        raise InputError("give DATA (a file or folder of requests) or --store URL, not both and not neither")
    where = str(data) if data is not None else "the store"
    if explain_id is not None:
        found = next((t for batch in _request_batches(data, store_url) for t, _ in batch if t.id == explain_id), None)
        if found is None:
            raise InputError(f"request {explain_id!r} is not in {where}")
        for name, stage in (("old", old_stage), ("new", new_stage)):
            facts = stage.facts(found)
            verdict = stage.evaluate(found)
            click.echo(
                f"{name} ({stage.version}): rules {', '.join(m.id for m in verdict.matches) or '-'}; "
                f"severity {verdict.severity if verdict.confident else 'abstain'}"
            )
            for signal, evidence in sorted(facts.evidence.items()):
                click.echo(f"  {signal}: {' | '.join(evidence)}")
        return
    # A batch at a time: the report keeps counts and the changed requests, never every request or verdict.
    counter = DiffCounter(old_stage.book, new_stage.book)
    load_counter = sla_load.SlaLoadCounter(policy)
    for batch in _request_batches(data, store_url):
        tickets = [t for t, _ in batch]
        old_verdicts, new_verdicts = evaluate_both(old_stage, new_stage, tickets)
        counter.add([t.id for t in tickets], old_verdicts, new_verdicts, [label for _, label in batch])
        load_counter.add(tickets, old_verdicts, new_verdicts)
    result = counter.result()
    if not result.rows:
        raise InputError(f"{where}: no requests found")
    load = load_counter.result()
    if fmt == "json":
        click.echo(json.dumps({**result.to_dict(), "sla_load": load.to_dict()}, ensure_ascii=False, indent=2))
    elif fmt == "html":
        click.echo(format_html(result, sla_load.format_markdown(load)))
    else:
        click.echo(format_markdown(result) + "\n\n" + sla_load.format_markdown(load))
    failures: list[str] = []
    for (name, op, limit), gate in zip(parsed, gates, strict=True):
        try:
            if name in sla_load.LOAD_GATES:
                failures.extend(sla_load.check_load_gate(load, name, op, limit))
            else:
                failures.extend(check_gate(result, gate))
        except ValueError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(EXIT_CONFIG)
    for failure in failures:
        click.echo(f"fail: {failure}", err=True)
    if failures:
        ctx.exit(EXIT_GATE)


COMMANDS: list[click.Command] = [rules]

__all__ = ["COMMANDS", "default_rules_path", "read_labelled"]
