"""`sevtriage users ...` and `sevtriage reviews ...`: specialists' accounts and what their reviews teach.

Requests get into the store with `sevtriage classify INPUT --store` or through `sevtriage serve`.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from sevtriage.errors import ConfigError, InputError, Problem
from sevtriage.intake.outputs import spreadsheet_safe

EXPORT_FIELDS = ("id", "subject", "body", "severity", "language")

_config_option = click.option(
    "--config", "config_file", type=click.Path(path_type=Path), default=None, help="Settings YAML file."
)
_store_option = click.option(
    "--store",
    "store_url",
    default=None,
    metavar="URL",
    help="Decision store URL; default: the store_url setting (SEVTRIAGE_STORE_URL, sqlite:///sevtriage.db).",
)


def _store_url(config_file: Path | None, store_url: str | None) -> str:
    from sevtriage.settings import Settings

    url = store_url or Settings.load(config_file).store_url
    if not url:
        raise ConfigError(
            Problem(
                "settings",
                None,
                "store_url is empty, so the decision store is switched off; set SEVTRIAGE_STORE_URL or pass "
                "--store URL",
            )
        )
    return url


@contextmanager
def _opened(config_file: Path | None, store_url: str | None) -> Iterator[Any]:
    from sevtriage.store import DecisionStore

    with DecisionStore.open(_store_url(config_file, store_url)) as store:
        yield store


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # The first line only, so `printf 'secret\n' | sevtriage users add alice --password-stdin` works.
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise InputError("--password-stdin read an empty line; pipe the password into the command")
        return password
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return value


# -- users ------------------------------------------------------------------------------------------------------
@click.group("users")
def users_group() -> None:
    """Specialists' accounts for the review desk."""


_ROLE_CHOICE = click.Choice(["specialist", "lead"])


@users_group.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin (no prompt).")
@click.option(
    "--role", type=_ROLE_CHOICE, default="specialist", show_default=True, help="A lead also sees the Rules page."
)
@_store_option
@_config_option
def users_add(name: str, password_stdin: bool, role: str, store_url: str | None, config_file: Path | None) -> None:
    """Create the specialist account NAME (the password is asked for, or read with --password-stdin)."""
    from sevtriage.review.auth import check_name, create_user

    check_name(name)
    password = _read_password(password_stdin)
    with _opened(config_file, store_url) as store:
        create_user(store, name, password, role=role)
    what = "support lead" if role == "lead" else "specialist"
    click.echo(f"created {what} {name}; they sign in at /review/login of `sevtriage serve`")


@users_group.command("role")
@click.argument("name")
@click.argument("role", type=_ROLE_CHOICE)
@_store_option
@_config_option
def users_role(name: str, role: str, store_url: str | None, config_file: Path | None) -> None:
    """Give NAME the ROLE specialist or lead (a lead also sees the desk's Rules page); applies at their next click."""
    with _opened(config_file, store_url) as store:
        store.set_role(name, role)
    click.echo(f"{name} is now a {role}")


@users_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of stdin.")
@_store_option
@_config_option
def users_passwd(name: str, password_stdin: bool, store_url: str | None, config_file: Path | None) -> None:
    """Set a new password for NAME (and enable the account again)."""
    from sevtriage.review.auth import change_password, check_name

    check_name(name)
    password = _read_password(password_stdin)
    with _opened(config_file, store_url) as store:
        change_password(store, name, password)
    click.echo(f"new password set for {name}")


@users_group.command("disable")
@click.argument("name")
@_store_option
@_config_option
def users_disable(name: str, store_url: str | None, config_file: Path | None) -> None:
    """Disable NAME: they can no longer sign in, and an open session ends at its next click."""
    with _opened(config_file, store_url) as store:
        store.set_active(name, False)
    click.echo(f"disabled {name}")


@users_group.command("list")
@_store_option
@_config_option
def users_list(store_url: str | None, config_file: Path | None) -> None:
    """List the specialists' accounts."""
    with _opened(config_file, store_url) as store:
        for user in store.list_users():
            state = "" if user.active else "  (disabled)"
            role = "  lead" if user.is_lead else ""
            click.echo(f"{user.name}  created {user.created_at:%Y-%m-%d %H:%M} UTC{role}{state}")


# -- reviews ----------------------------------------------------------------------------------------------------
@click.group("reviews")
def reviews_group() -> None:
    """What specialists decided: labelled data for training, and how often they agree with the suggestions."""


def _format_for(output: Path | None, given: str | None) -> str:
    if given:
        return given
    if output is not None and output.suffix.lower() in (".csv", ".tsv"):
        return "csv"
    return "jsonl"


@reviews_group.command("export")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File to write; - or none: stdout.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default=None,
    help="Output format; default from the file name (.csv), else JSONL.",
)
@_store_option
@_config_option
def reviews_export(output: Path | None, fmt: str | None, store_url: str | None, config_file: Path | None) -> None:
    """Write the reviewed requests as labelled training data (id, subject, body, severity, language).

    The severity is the specialist's. `sevtriage train data/ --also FILE` trains on it together with data/.
    """
    if output is not None and str(output) == "-":
        output = None
    kind = _format_for(output, fmt)
    with _opened(config_file, store_url) as store:
        reviewed = store.reviewed()
    rows = [
        {
            "id": r.id,
            "subject": r.subject,
            "body": r.body,
            "severity": int(r.final_severity) if r.final_severity is not None else None,
            "language": r.language,
        }
        for r in reviewed
    ]
    if output is None:
        _write_rows(sys.stdout, rows, kind)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        # The BOM lets Excel read the diacritics of a CSV file, as `classify` does for its CSV output.
        with output.open("w", encoding="utf-8-sig" if kind == "csv" else "utf-8", newline="") as handle:
            _write_rows(handle, rows, kind)
        click.echo(f"wrote {len(rows)} reviewed request(s) to {output}", err=True)


def _write_rows(handle: IO[str], rows: list[dict[str, Any]], kind: str) -> None:
    if kind == "csv":
        # CRLF as in RFC 4180: the csv module quotes a cell holding CR only when CR is part of the line end.
        writer = csv.DictWriter(handle, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
        writer.writeheader()
        # Made safe for spreadsheets by the OWASP "CSV Injection" rule (see `spreadsheet_safe`); JSONL stays exact.
        writer.writerows({k: spreadsheet_safe(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows)
    else:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _pct(value: float | None) -> str:
    return f"{value * 100:.0f} %" if value is not None else "—"


@reviews_group.command("agreement")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the numbers as JSON (the same as GET /review/api/agreement)."
)
@_store_option
@_config_option
def reviews_agreement(as_json: bool, store_url: str | None, config_file: Path | None) -> None:
    """Suggested vs final severity per class, override rate by source and per rule, review load per day."""
    from sevtriage.review.desk import ReviewDesk
    from sevtriage.settings import Settings
    from sevtriage.sla import SlaPolicy

    settings = Settings.load(config_file)
    with _opened(config_file, store_url) as store:
        desk = ReviewDesk(store, SlaPolicy.load(settings.sla_path))
        report = desk.agreement()
        waiting = store.count_queue()
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "waiting": waiting}, indent=2))
        return
    click.echo(
        f"{report.reviewed} reviewed, {report.overridden} overridden ({_pct(report.override_rate)}); "
        f"{waiting} waiting for review"
    )
    click.echo("\nper class      suggested  kept  agreement  final")
    for c in report.classes:
        label = f"{int(c.severity)} {c.severity.label}"
        click.echo(f"  {label:<12} {c.suggested:>9} {c.kept:>5} {_pct(c.agreement):>10} {c.final:>6}")
    click.echo("\nsuggested (rows) vs final (columns)")
    click.echo("      " + "".join(f"{s:>6}" for s in (1, 2, 3, 4)))
    for key, row in report.confusion.items():
        click.echo(f"  {key:<4}" + "".join(f"{row[s]:>6}" for s in (1, 2, 3, 4)))
    click.echo("\noverride rate by source   reviewed  overridden  rate")
    for r in report.by_source:
        click.echo(f"  {r.name:<23} {r.reviewed:>8} {r.overridden:>11} {_pct(r.rate):>5}")
    click.echo("\nper rule (overridden = final severity is not the rule's)")
    if not report.by_rule:
        click.echo("  no reviewed request matched a rule yet")
    for r in report.by_rule:
        sev = int(r.severity) if r.severity is not None else "?"
        click.echo(
            f"  {r.name:<40} sev {sev}  {r.reviewed:>5} reviewed  {r.overridden:>5} overridden  {_pct(r.rate):>5}"
        )
    click.echo("\nreview load per day       accepted  changed  total  specialists")
    if not report.per_day:
        click.echo("  no reviews yet")
    for d in report.per_day:
        click.echo(f"  {d.day.isoformat():<23} {d.accepted:>8} {d.changed:>8} {d.total:>6} {d.specialists:>12}")


COMMANDS: list[click.Command] = [users_group, reviews_group]
