"""`sevtriage sla due|breached` (deadlines and breach checks for one request) and `sla status|respond|resolve`
(the SLA clock of stored requests)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from sevtriage.errors import InputError
from sevtriage.review.present import sla_badge
from sevtriage.sla import SlaPolicy, SlaStatus
from sevtriage.sla.policy import BreachCheck, Kind
from sevtriage.types import Deadline, Severity
from sevtriage.watch.board import SlaBoard, event_json, parse_at


def _instant(value: str, option: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        instant = None
    if instant is None or instant.utcoffset() is None:
        raise InputError(
            f"{option} must be an ISO-8601 instant with a UTC offset, e.g. 2026-11-27T16:30+01:00; got {value!r}"
        )
    return instant


def _severity(value: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as error:
        raise InputError(f"--severity: {error}") from None


def _when(instant: datetime | None) -> str:
    if instant is None:
        return "none"
    offset = instant.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    hours, minutes = divmod(abs(offset) // timedelta(minutes=1), 60)
    return f"{instant:%a %Y-%m-%d %H:%M} {sign}{hours:02d}:{minutes:02d} ({instant.tzname()})"


def _explain(
    policy: SlaPolicy, severity: Severity, plan: str, kind: Kind, start: datetime, deadline: Deadline
) -> list[str]:
    """Plain-words lines for one deadline: due, target, and how each clause was counted."""
    title = "Initial response" if kind == "initial" else "Ongoing response"
    if deadline.due is None:
        return [f"{title}: no deadline ({deadline.clause})"]
    lines = [f"{title}: due {_when(deadline.due)}", f"  target: {deadline.target}", f"  why: {deadline.clause}"]
    target = policy.target(severity, plan, kind)
    if target is None:  # pragma: no cover - a deadline with a due date always has a target
        return lines
    calendar = policy.calendar
    start = start.astimezone(calendar.tz)
    opens = calendar.next_open(start)
    if opens.astimezone(UTC) != start.astimezone(UTC):
        lines.append(f"  counted from {_when(start)}, outside business hours: the business clock starts {_when(opens)}")
    by_business = calendar.add(start, target.business)
    lines.append(f"  by business time: {target.business_label} ends {_when(by_business)}")
    if target.elapsed is not None:
        by_elapsed = start.astimezone(UTC) + target.elapsed  # real time: add in UTC, not on the wall clock
        lines.append(f"  by real time: {target.elapsed_label} end {_when(by_elapsed.astimezone(calendar.tz))}")
    return lines


@click.group(name="sla")
def sla() -> None:
    """SLA deadlines in business time from the policy file (rules/sla.yaml)."""


# Breached is not a mistake: its own code, so that scripts can test it (`if ! sevtriage sla breached ...`).
EXIT_BREACHED = 1


def _policy_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--sla PATH`, the name `classify` and `serve` use too, and `--policy PATH`, its hidden older name."""
    command = click.option(
        "--policy",
        "policy_alias",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        hidden=True,
        help="Older name of --sla.",
    )(command)
    return click.option(
        "--sla",
        "policy_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="SLA policy file (default: the bundled rules/sla.yaml).",
    )(command)


@sla.command(name="due")
@click.option("--severity", required=True, help="Severity 1-4 (or critical, high, medium, low).")
@click.option("--plan", default=None, help="Support plan (default: the policy's default plan).")
@click.option("--received", required=True, help="Arrival, ISO-8601 with offset, e.g. 2026-11-27T16:30+01:00.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@_policy_option
def due(
    severity: str, plan: str | None, received: str, as_json: bool, policy_path: Path | None, policy_alias: Path | None
) -> None:
    """Initial and ongoing response deadlines for one request, with the reasoning."""
    policy = SlaPolicy.load(policy_path or policy_alias)
    sev = _severity(severity)
    received_at = _instant(received, "--received")
    deadlines = policy.deadlines(sev, plan, received_at)
    plan_name = plan if plan is not None else policy.default_plan
    if as_json:
        record: dict[str, Any] = {
            "severity": int(sev),
            "severity_name": sev.label,
            "plan": plan_name,
            "received_at": received_at.isoformat(),
            "deadlines": deadlines.to_dict(),
        }
        click.echo(json.dumps(record, ensure_ascii=False))
        return
    local_arrival = received_at.astimezone(policy.calendar.tz)
    click.echo(
        f"Severity {int(sev)} ({sev.label}), {policy.plan_title(plan_name)}, received {_when(local_arrival)}; "
        f"calendar {policy.calendar.tz}"
    )
    click.echo("\n".join(_explain(policy, sev, plan_name, "initial", received_at, deadlines.initial_response)))
    ongoing_from = deadlines.initial_response.due or received_at
    click.echo("\n".join(_explain(policy, sev, plan_name, "ongoing", ongoing_from, deadlines.ongoing_response)))
    if deadlines.ongoing_response.due is not None:
        click.echo("  (each later update is due the same target after the last response: `sla due` counts the first)")


@sla.command(name="breached")
@click.option("--severity", required=True, help="Severity 1-4 (or critical, high, medium, low).")
@click.option("--plan", default=None, help="Support plan (default: the policy's default plan).")
@click.option("--received", required=True, help="Start: arrival (or the last response for --kind ongoing).")
@click.option("--responded", required=True, help="When the response was sent, ISO-8601 with offset.")
@click.option("--kind", type=click.Choice(["initial", "ongoing"]), default="initial", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@_policy_option
@click.pass_context
def breached(
    ctx: click.Context,
    severity: str,
    plan: str | None,
    received: str,
    responded: str,
    kind: Kind,
    as_json: bool,
    policy_path: Path | None,
    policy_alias: Path | None,
) -> None:
    """Whether a response kept the target, by business time elapsed.

    \b
    Exit code 0 when the target was kept (or there is none), 1 when it was breached, 2 on a mistake.
    """
    policy = SlaPolicy.load(policy_path or policy_alias)
    sev = _severity(severity)
    check = policy.breached(sev, plan, _instant(received, "--received"), _instant(responded, "--responded"), kind=kind)
    _show_breach(check, kind, as_json)
    if check.breached:
        ctx.exit(EXIT_BREACHED)


def _show_breach(check: BreachCheck, kind: Kind, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(check.to_dict(), ensure_ascii=False))
        return
    verdict = "BREACHED" if check.breached else "kept" if check.target else "no target"
    click.echo(f"{kind.capitalize()} response: {verdict}")
    click.echo(f"  target: {check.target or 'none'}")
    click.echo(f"  why: {check.clause}")
    if check.due is not None:
        click.echo(f"  deadline of that target: {_when(check.due)}")


COMMANDS: list[click.Command] = [sla]


# -- tracking: stored requests ------------------------------------------------------------------------------------

_store_option = click.option(
    "--store",
    "store_url",
    default=None,
    metavar="URL",
    help="Decision store URL; default: the store_url setting (SEVTRIAGE_STORE_URL, sqlite:///sevtriage.db).",
)
_config_option = click.option(
    "--config", "config_file", type=click.Path(path_type=Path), default=None, help="Settings YAML file."
)


@contextmanager
def _board(config_file: Path | None, store_url: str | None) -> Iterator[SlaBoard]:
    from sevtriage.cli.review_cmd import _store_url
    from sevtriage.settings import Settings
    from sevtriage.store import DecisionStore

    settings = Settings.load(config_file)
    policy = SlaPolicy.load(settings.sla_path)
    with DecisionStore.open(_store_url(config_file, store_url)) as store:
        yield SlaBoard(store, policy)


def _status_lines(status: SlaStatus, zone: Any) -> list[str]:
    badge = sla_badge(status, zone)
    sev = f"severity {int(status.severity)}" if status.severity is not None else "no severity"
    lines = [f"{status.request_id}: {badge.text.upper() if status.breached else badge.text} ({sev}, {status.plan})"]
    initial, ongoing = status.initial, status.ongoing
    due = f", due {_when(initial.due.astimezone(zone))}" if initial.due else ""
    lines.append(f"  initial response: {initial.state}{due}; {initial.clause}")
    if ongoing.due is not None:
        lines.append(f"  next update: {ongoing.state}, due {_when(ongoing.due.astimezone(zone))}; {ongoing.clause}")
    else:
        lines.append(f"  next update: {ongoing.state} ({ongoing.clause})")
    return lines


@sla.command(name="status")
@click.argument("request_id", required=False)
@click.option("--waiting", "which", flag_value="waiting", help="Requests no response has reached yet.")
@click.option("--breached", "which", flag_value="breached", help="Requests whose SLA is broken now.")
@click.option("--open", "which", flag_value="open", default=True, help="All unresolved requests (the default).")
@click.option("--limit", type=click.IntRange(1), default=200, show_default=True, help="At most this many requests.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@_store_option
@_config_option
def status_command(
    request_id: str | None, which: str, limit: int, as_json: bool, store_url: str | None, config_file: Path | None
) -> None:
    """SLA status of stored requests: one request with its events, or the waiting / breached / open list.

    Exit code 1 when a listed request (or the one asked for) is breached, so a cron job can alert on it.
    """
    with _board(config_file, store_url) as board:
        zone = board.policy.calendar.tz
        if request_id is not None:
            status, events = board.status(request_id)
            if as_json:
                click.echo(
                    json.dumps({**status.to_dict(), "events": [event_json(e) for e in events]}, ensure_ascii=False)
                )
            else:
                click.echo("\n".join(_status_lines(status, zone)))
                for event in events:
                    change = (
                        f" {_sev_text(event.from_severity)} -> {_sev_text(event.to_severity)}"
                        if event.kind == "severity_changed"
                        else ""
                    )
                    note = f" ({event.note})" if event.note else ""
                    click.echo(f"  {_when(event.at.astimezone(zone))}  {event.kind}{change} by {event.by or '-'}{note}")
            found = [status]
        else:
            found = board.listing(which, limit=limit)  # type: ignore[arg-type]  # click gives one of the flag values
            if as_json:
                click.echo(json.dumps({"count": len(found), "items": [s.to_dict() for s in found]}, ensure_ascii=False))
            else:
                for status in found:
                    click.echo("\n".join(_status_lines(status, zone)))
                click.echo(f"{len(found)} {which} request{'s' if len(found) != 1 else ''}; times in {zone}")
    if any(s.breached for s in found):
        click.get_current_context().exit(1)


def _sev_text(value: Severity | None) -> str:
    return str(int(value)) if value is not None else "none"


@sla.command(name="respond")
@click.argument("request_id")
@click.option("--by", required=True, help="Who answered the customer (an address or a name).")
@click.option("--at", "at", default=None, help="When, ISO-8601 with offset; default: now.")
@click.option("--ref", default=None, help="Your id of the response (recorded once per request), e.g. a Message-ID.")
@_store_option
@_config_option
def respond(
    request_id: str, by: str, at: str | None, ref: str | None, store_url: str | None, config_file: Path | None
) -> None:
    """Record that support answered a stored request (for teams that do not import their mail)."""
    when = parse_at(at, "--at") if at is not None else None
    with _board(config_file, store_url) as board:
        status = board.record_response(request_id, when, by, ref=ref)
        click.echo("\n".join(_status_lines(status, board.policy.calendar.tz)))


@sla.command(name="resolve")
@click.argument("request_id")
@click.option("--by", required=True, help="Who solved it.")
@click.option("--at", "at", default=None, help="When, ISO-8601 with offset; default: now.")
@_store_option
@_config_option
def resolve(request_id: str, by: str, at: str | None, store_url: str | None, config_file: Path | None) -> None:
    """Record that a stored request is solved: its clocks stop and it leaves the SLA lists."""
    when = parse_at(at, "--at") if at is not None else None
    with _board(config_file, store_url) as board:
        status = board.record_resolved(request_id, when, by)
        click.echo("\n".join(_status_lines(status, board.policy.calendar.tz)))
