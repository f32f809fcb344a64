"""`sevtriage alerts run` (check and send alerts) and `sevtriage alerts list` (what was sent)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from sevtriage.errors import ConfigError, Problem

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


@click.group("alerts")
def alerts_group() -> None:
    """Alerts by e-mail and webhook: severity 1, possible_critical, about to breach (README "Alerts")."""


@alerts_group.command("run")
@click.option("--once", is_flag=True, help="One check and one round of deliveries, then exit (for cron).")
@_store_option
@_config_option
def run(once: bool, store_url: str | None, config_file: Path | None) -> None:
    """Create due alerts (each once) and send them, with retries; loops every alerts_check_seconds."""
    from sevtriage.cli.review_cmd import _store_url
    from sevtriage.settings import Settings
    from sevtriage.sla import SlaPolicy
    from sevtriage.store import DecisionStore
    from sevtriage.watch.alerts import Alerts, channels_from

    settings = Settings.load(config_file)
    channels = channels_from(settings)
    if not channels:
        raise ConfigError(
            Problem(
                "settings",
                None,
                "no alert channel is configured; set alerts_smtp_host and alerts_mail_to (SEVTRIAGE_ALERTS_SMTP_HOST, "
                "SEVTRIAGE_ALERTS_MAIL_TO) and/or alerts_webhook_url (SEVTRIAGE_ALERTS_WEBHOOK_URL)",
            )
        )
    with DecisionStore.open(_store_url(config_file, store_url)) as store:
        alerts = Alerts(store, SlaPolicy.load(settings.sla_path), settings, channels)
        while True:
            report = alerts.run_once()
            click.echo(
                f"alerts: {report.created} new, {report.sent} sent, {report.retrying} to retry, {report.failed} failed",
                err=True,
            )
            if once:
                return
            time.sleep(settings.alerts_check_seconds)


@alerts_group.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), default=None, help="Only these.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@_store_option
@_config_option
def list_alerts(status: str | None, limit: int, as_json: bool, store_url: str | None, config_file: Path | None) -> None:
    """Alerts newest first: kind, request, channel, status, attempts, last error."""
    from sevtriage.cli.review_cmd import _opened

    with _opened(config_file, store_url) as store:
        for alert in store.alerts(status=status, limit=limit):
            if as_json:
                record = {
                    "request_id": alert.request_id,
                    "kind": alert.kind,
                    "channel": alert.channel,
                    "status": alert.status,
                    "attempts": alert.attempts,
                    "created_at": alert.created_at.isoformat(),
                    "sent_at": alert.sent_at.isoformat() if alert.sent_at else None,
                    "last_error": alert.last_error,
                    "subject": alert.subject,
                }
                click.echo(json.dumps(record, ensure_ascii=False))
            else:
                when = (alert.sent_at or alert.created_at).strftime("%Y-%m-%d %H:%M UTC")
                error = f"  ({alert.last_error})" if alert.last_error and alert.status != "sent" else ""
                click.echo(
                    f"{when}  {alert.status:<7} {alert.kind:<17} {alert.channel:<7} {alert.request_id}  "
                    f"attempts {alert.attempts}{error}"
                )


COMMANDS: list[click.Command] = [alerts_group]
