"""`sevtriage classify`: a file (or stdin, or one `--text`) in, decisions out, rejects beside them."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from sevtriage.errors import InputError
from sevtriage.intake.outputs import OUTPUT_FORMATS, RejectsWriter, default_rejects_path, make_writer, open_output
from sevtriage.intake.pipeline import Sink, Summary, intake_rules_for, run, run_parallel
from sevtriage.intake.readers import FORMATS, IntakeRules, open_input, read_rows, ticket_from_fields, validate
from sevtriage.resources import example_requests_path
from sevtriage.settings import Settings, load_triage
from sevtriage.types import Decision

if TYPE_CHECKING:
    from sevtriage.triage import Triage

EXIT_OK = 0
EXIT_REJECTS = 3
_STORE_FROM_SETTINGS = "\0settings"


class Progress:
    """Rows, rate and ETA on one stderr line, at most ten times a second; only used on a terminal."""

    def __init__(self, stream: IO[bytes] | None, total_bytes: int | None) -> None:
        self._stream = stream
        self._total = total_bytes
        self._started = time.monotonic()
        self._last = 0.0

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        elapsed = max(now - self._started, 1e-9)
        text = f"\r{rows:,} rows  {rows / elapsed:,.0f} rows/s"
        position = self._position()
        if self._total and position:
            fraction = min(position / self._total, 1.0)
            eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
            filled = int(fraction * 24)
            text += f"  [{'#' * filled}{'.' * (24 - filled)}] {fraction:4.0%}  ETA {_duration(eta)}"
        sys.stderr.write(text + "\x1b[K")
        sys.stderr.flush()

    def _position(self) -> int | None:
        try:
            return self._stream.tell() if self._stream is not None else None
        except (OSError, ValueError):
            return None

    def done(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _when(instant: datetime | None) -> str:
    return instant.isoformat(timespec="minutes") if instant is not None else "-"


def describe(decision: Decision) -> list[str]:
    """A decision in plain words for people at a terminal."""
    severity = f"{decision.severity_name} ({int(decision.severity)})" if decision.severity is not None else "undecided"
    source = f"by {decision.source}" if decision.source else "nothing decided"
    lines = [f"{decision.id}: {severity}, {source}, confidence {decision.confidence:.2f}"]
    for match in decision.matched_rules:
        evidence = ", ".join(f'"{e}"' for e in match.evidence)
        lines.append(
            f"  rule {match.id} -> {int(match.severity)}: {match.explanation}" + (f" [{evidence}]" * bool(evidence))
        )
    if not decision.matched_rules:
        lines.append("  no rule matched")
    if decision.model is not None:
        probabilities = ", ".join(f"{k}: {v:.2f}" for k, v in sorted(decision.model.probabilities.items()))
        terms = ", ".join(decision.model.top_terms[:5])
        lines.append(
            f"  model -> {int(decision.model.severity)} ({probabilities})" + (f"; terms: {terms}" * bool(terms))
        )
    if decision.deadlines is not None:
        for label, deadline in (
            ("initial response", decision.deadlines.initial_response),
            ("ongoing response", decision.deadlines.ongoing_response),
        ):
            if deadline.due is None:
                clause = deadline.clause if deadline.clause.startswith("no target") else f"no target: {deadline.clause}"
                lines.append(f"  {label}: {clause}")
            else:
                lines.append(f"  {label}: due {_when(deadline.due)} ({deadline.target}; {deadline.clause})")
    plan = decision.plan or "default"
    lines.append(f"  plan {plan}, received {_when(decision.received_at)}")
    if decision.needs_review:
        lines.append(f"  needs review: {', '.join(decision.review_reasons) or 'yes'}")
    return lines


def _store_sink(url: str) -> Sink:
    from sevtriage.store import DecisionStore

    store = DecisionStore.open(url)

    def save(pairs: Any) -> list[Any]:
        # A batch in one transaction; when that fails, row by row, and each row the store refuses becomes a
        # reject with the reason (never a traceback that would print the request texts).
        return list(store.save_each(list(pairs)))

    return save


def _classify_text(triage: Triage, text: str, plan: str | None, received: str | None, as_json: bool) -> int:
    rules = intake_rules_for(triage)
    now = datetime.now().astimezone()
    fields: dict[str, Any] = {"id": "cli-1", "body": text, "plan": plan, "received_at": received}
    try:
        ticket = ticket_from_fields(fields, IntakeRules(rules.plans, rules.default_plan, default_received_at=now))
    except ValueError as error:
        raise InputError(str(error)) from None
    decision = triage.classify(ticket)
    if as_json:
        click.echo(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(describe(decision)))
    return EXIT_OK


class _Readable:
    """A decision writer for people: `describe` for each decision."""

    def __init__(self) -> None:
        self.first = True

    def write(self, pairs: Any) -> None:
        for _, decision in pairs:
            if not self.first:
                click.echo("")
            self.first = False
            click.echo("\n".join(describe(decision)))

    def close(self) -> None:
        pass


@click.command(name="classify")
@click.argument("input_path", metavar="[INPUT]", required=False)
@click.option("-o", "--output", default=None, help="Decisions file (default: stdout). '-' is stdout.")
@click.option(
    "--rejects",
    "rejects_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Rejects file, JSONL with line, id, reason, raw (default: OUTPUT.rejects.jsonl next to the output).",
)
@click.option(
    "--format", "input_format", type=click.Choice(FORMATS), default=None, help="Input format (default: detected)."
)
@click.option(
    "--encoding", default="utf-8", show_default=True, help="Input encoding, e.g. cp1250 for old Windows exports."
)
@click.option(
    "--output-format",
    type=click.Choice(OUTPUT_FORMATS),
    default=None,
    help="jsonl (default) or csv (flat columns); a .csv output name implies csv.",
)
@click.option(
    "--store",
    "store_url",
    is_flag=False,
    flag_value=_STORE_FROM_SETTINGS,
    default=None,
    metavar="[URL]",
    help="Also save decisions for review; URL defaults to the store_url setting (sqlite:///sevtriage.db).",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None, help="Requests per classify batch.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Processes classifying batches (default: all cores); the output is the same for any number.",
)
@click.option("--text", default=None, help="Classify this one request text instead of a file.")
@click.option("--plan", default=None, help="Plan for --text (default: the policy's default plan).")
@click.option("--received", default=None, help="Arrival instant for --text, ISO-8601 with offset (default: now).")
@click.option("--json", "as_json", is_flag=True, help="With --text: print the decision record as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr.")
@click.option("--rules", "rules_path", type=click.Path(path_type=Path), default=None, help="Rules file.")
@click.option("--model", "model_path", type=click.Path(path_type=Path), default=None, help="Model file.")
@click.option("--sla", "sla_path", type=click.Path(path_type=Path), default=None, help="SLA policy file.")
@click.option("--policy", "policy_alias", type=click.Path(path_type=Path), default=None, hidden=True)
@click.option("--engine", type=click.Choice(["durable", "python"]), default=None, help="Rules engine.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help="Settings YAML file.")
@click.pass_context
def classify(
    ctx: click.Context,
    input_path: str | None,
    output: str | None,
    rejects_path: str | None,
    input_format: str | None,
    encoding: str,
    output_format: str | None,
    store_url: str | None,
    batch_size: int | None,
    workers: int | None,
    text: str | None,
    plan: str | None,
    received: str | None,
    as_json: bool,
    quiet: bool,
    rules_path: Path | None,
    model_path: Path | None,
    sla_path: Path | None,
    policy_alias: Path | None,
    engine: str | None,
    config_file: Path | None,
) -> int:
    """Classify requests from a CSV or JSONL file (or '-' for stdin) and write one decision per request.

    \b
    Without INPUT, classifies the bundled example requests and prints them readably.
    Rows that cannot be classified go to the rejects file with their line number and the reason;
    the exit code is then 3 (the good rows are still written).
    """
    if store_url is not None and store_url != _STORE_FROM_SETTINGS and "://" not in store_url and input_path is None:
        # `--store data.csv`: the optional value swallowed the input file; give it back.
        input_path, store_url = store_url, _STORE_FROM_SETTINGS
    settings = Settings.load(
        config_file,
        rules_path=rules_path,
        model_path=model_path,
        sla_path=sla_path or policy_alias,  # --policy: the older name `sla` commands used
        rules_engine=engine,
        batch_size=batch_size,
    )
    triage = load_triage(settings)
    if text is not None:
        if input_path is not None:
            raise click.UsageError("give either INPUT or --text, not both")
        return _classify_text(triage, text, plan, received, as_json)

    readable = input_path is None and output is None
    source = str(example_requests_path()) if input_path is None else input_path
    stream, name = open_input(source)
    fmt = output_format or ("csv" if output and output.lower().endswith(".csv") else "jsonl")
    sinks: list[Sink] = []
    if store_url is not None:
        url = settings.store_url if store_url == _STORE_FROM_SETTINGS else store_url
        if not url:
            raise InputError("--store needs a URL: the store_url setting is empty (SEVTRIAGE_STORE_URL)")
        sinks.append(_store_sink(url))
    rejects = RejectsWriter(Path(rejects_path) if rejects_path else default_rejects_path(output, name))
    progress: Progress | None = None
    if sys.stderr.isatty() and not quiet and not readable:
        total = os.fstat(stream.fileno()).st_size if name is not None else None
        progress = Progress(stream, total)
    try:
        input_fmt, rows = read_rows(stream, name=name, format=input_format, encoding=encoding)
        out_stream, owned = (None, False) if readable else open_output(output, bom=fmt == "csv")
        try:
            writer: Any
            if out_stream is None:
                writer = _Readable()
            else:
                delimiter = ";" if input_fmt == "csv" and _semicolon(source, encoding) else ","
                writer = make_writer(out_stream, fmt, delimiter)
            processes = workers if workers is not None else available_cores()
            if processes > 1 and not readable:
                summary = run_parallel(
                    triage,
                    partial(load_triage, settings),
                    validate(rows, intake_rules_for(triage)),
                    writer,
                    rejects,
                    workers=processes,
                    batch_size=settings.batch_size,
                    sinks=sinks,
                    progress=progress,
                )
            else:
                summary = run(
                    triage,
                    validate(rows, intake_rules_for(triage)),
                    writer,
                    rejects,
                    batch_size=settings.batch_size,
                    sinks=sinks,
                    progress=progress,
                )
        finally:
            if out_stream is not None:
                if owned:
                    out_stream.close()
                else:
                    out_stream.flush()
                    out_stream.detach()
    finally:
        if progress is not None:
            progress.done()
        if name is not None:
            stream.close()
    if not quiet:
        _report(summary, rejects)
    return EXIT_REJECTS if summary.rejects else EXIT_OK


def available_cores() -> int:
    """The cores this process may run on (the CPU affinity where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _semicolon(source: str, encoding: str) -> bool:
    """Whether a CSV file is ';'-separated, so that the output CSV follows the input's convention."""
    if source == "-":
        return False
    from sevtriage.intake.readers import detect_delimiter

    with open(source, encoding=encoding, errors="replace") as handle:
        return detect_delimiter(handle.readline()) == ";"


def _report(summary: Summary, rejects: RejectsWriter) -> None:
    for line in summary.lines():
        click.echo(line, err=True)
    if summary.rejects and rejects.path is not None:
        click.echo(f"rejected rows (line, reason, raw row): {rejects.path}", err=True)


COMMANDS: list[click.Command] = [classify]
