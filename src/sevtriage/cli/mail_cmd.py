"""`sevtriage mail import` (files) and `sevtriage mail watch` (IMAP): e-mail into the decision store."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from sevtriage.errors import ConfigError, InputError
from sevtriage.intake.imap_watch import CONNECTION_ERRORS, ImapConfig, MailWatcher
from sevtriage.intake.mail_files import read_mail_source
from sevtriage.intake.mail_import import MailDesk, MailOutcome, MailRules
from sevtriage.settings import Settings, load_triage

EXIT_OK = 0
EXIT_REJECTS = 3

_common = [
    click.option("--store", "store_url", default=None, metavar="URL", help="Decision store (default: store_url)."),
    click.option(
        "--support",
        "support",
        multiple=True,
        metavar="ADDRESS",
        help="A support address or @domain: its mail is a response (repeatable; adds to mail_support).",
    ),
    click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help="Settings YAML."),
]


def _options(func: Any) -> Any:
    for option in reversed(_common):
        func = option(func)
    return func


def _setup(
    config_file: Path | None, store_url: str | None, support: Sequence[str], **overrides: Any
) -> tuple[Settings, Any, Any, MailRules]:
    from sevtriage.store import DecisionStore

    extra = list(support)
    settings = Settings.load(config_file, store_url=store_url, **overrides)
    if extra:
        settings = Settings.load(
            config_file, store_url=store_url, mail_support=[*settings.mail_support, *extra], **overrides
        )
    if not settings.store_url:
        raise InputError("mail needs a decision store: pass --store URL or set store_url (SEVTRIAGE_STORE_URL)")
    triage = load_triage(settings)
    policy = triage.sla
    plans = set(policy.plans) if policy is not None else None
    for who, plan in settings.mail_plans.items():
        if plans is not None and plan not in plans:
            raise ConfigError(f"mail_plans[{who!r}] must be one of {', '.join(sorted(plans))}; got {plan!r}")
    rules = MailRules(
        support=frozenset(settings.mail_support),
        plans={k.lower().lstrip("@"): v for k, v in settings.mail_plans.items()},
        default_plan=policy.default_plan if policy is not None else None,
    )
    store = DecisionStore.open(settings.store_url)
    return settings, triage, store, rules


class _Log:
    """Rejects and skipped messages as JSONL files, each created on its first line only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stream: IO[str] | None = None
        self.count = 0

    def write(self, outcome: MailOutcome) -> None:
        if self._stream is None:
            try:
                self._stream = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
            except OSError as error:
                raise InputError(f"cannot write {str(self.path)!r}: {error.strerror}") from None
        self._stream.write(json.dumps(outcome.to_dict(), ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


@click.group(name="mail")
def mail() -> None:
    """E-mail intake: import .eml files, mbox or Maildir, or watch an IMAP folder."""


@mail.command(name="import")
@click.argument("path", type=click.Path(path_type=Path))
@_options
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Rejected messages, JSONL with where and why (default: <PATH name>.rejects.jsonl here).",
)
@click.option(
    "--skipped",
    "skipped_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Skipped messages (auto-replies, bounces, bulk, ...), JSONL (default: <PATH name>.skipped.jsonl here).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No summary.")
@click.pass_context
def mail_import(
    ctx: click.Context,
    path: Path,
    store_url: str | None,
    support: tuple[str, ...],
    config_file: Path | None,
    rejects_path: Path | None,
    skipped_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> int:
    """Triage the messages of PATH into the decision store.

    \b
    PATH is an .eml file, a folder of .eml files, an mbox file or a Maildir. New requests are triaged, a
    customer's follow-up re-triages its request, a reply from a support address records a response.
    Auto-replies, bounces and bulk mail are skipped with the reason; unreadable messages are rejected
    with the reason (exit 3). Running it again on the same mail stores nothing twice.
    """
    items = read_mail_source(path)  # checks the path before the (slower) loading below
    first = next(items, None)
    settings, triage, store, rules = _setup(config_file, store_url, support)
    stem = path.name.split(".")[0] or "mail"
    rejects = _Log(rejects_path or Path(f"{stem}.rejects.jsonl"))
    skipped = _Log(skipped_path or Path(f"{stem}.skipped.jsonl"))
    desk = MailDesk(triage, store, rules, batch_size=settings.batch_size)

    def everything() -> Any:
        if first is not None:
            yield first
        yield from items

    try:
        for outcome in desk.process(everything()):
            if outcome.kind == "rejected":
                rejects.write(outcome)
            elif outcome.kind == "skipped":
                skipped.write(outcome)
    finally:
        rejects.close()
        skipped.close()
        store.close()
    summary = desk.summary
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    elif not quiet:
        for line in summary.lines():
            click.echo(line, err=True)
        if skipped.count:
            click.echo(f"skipped messages (where, reason): {skipped.path}", err=True)
        if rejects.count:
            click.echo(f"rejected messages (where, reason): {rejects.path}", err=True)
    return EXIT_REJECTS if summary.rejected else EXIT_OK


@mail.command(name="watch")
@_options
@click.option("--host", default=None, help="IMAP server (default: imap_host).")
@click.option("--port", type=int, default=None, help="IMAP port (default: imap_port, 993).")
@click.option("--user", default=None, help="IMAP user (default: imap_user).")
@click.option(
    "--password-env",
    default="SEVTRIAGE_IMAP_PASSWORD",
    show_default=True,
    help="Environment variable holding the password (or set imap_password in the settings file).",
)
@click.option(
    "--security", type=click.Choice(["ssl", "starttls", "plain"]), default=None, help="Default: imap_security."
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM file of the CA that signed the server's certificate (default: imap_ca_file, else the system's CAs).",
)
@click.option("--folder", default=None, help="Folder to watch (default: imap_folder, INBOX).")
@click.option(
    "--mark", type=click.Choice(["keywords", "folders", "none"]), default=None, help="Default: imap_mark (keywords)."
)
@click.option("--once", is_flag=True, help="Handle what is in the folder now, then exit.")
@click.option("--batch", type=click.IntRange(1, 1000), default=50, show_default=True, help="Messages per batch.")
@click.option("--verbose", "-v", is_flag=True, help="Log every handled message.")
def mail_watch(
    store_url: str | None,
    support: tuple[str, ...],
    config_file: Path | None,
    host: str | None,
    port: int | None,
    user: str | None,
    password_env: str,
    security: str | None,
    ca_file: Path | None,
    folder: str | None,
    mark: str | None,
    once: bool,
    batch: int,
    verbose: bool,
) -> int:
    """Watch an IMAP folder and triage new mail into the decision store as it arrives.

    \b
    Uses IDLE where the server has it, else polls every imap_poll_seconds. Each handled message gets
    IMAP keywords ($sev1..$sev4, $needs-review, $skipped, $rejected) or is moved to the folders in
    imap_folders. Restart-safe: the store remembers the folder's UIDVALIDITY and the last UID handled.
    A lost connection is retried with back-off. Stop with Ctrl-C or SIGTERM.
    """
    import os

    overrides: dict[str, Any] = {
        "imap_host": host,
        "imap_port": port,
        "imap_user": user,
        "imap_security": security,
        "imap_ca_file": str(ca_file) if ca_file is not None else None,
        "imap_folder": folder,
        "imap_mark": mark,
    }
    if os.environ.get(password_env):
        overrides["imap_password"] = os.environ[password_env]
    settings, _triage, store, rules = _setup(config_file, store_url, support, **overrides)
    missing = [name for name in ("imap_host", "imap_user", "imap_password") if not getattr(settings, name)]
    if missing:
        raise InputError(
            f"mail watch needs {', '.join(missing)}: give --host/--user, the password in ${password_env}, "
            "or set them in the settings file (SEVTRIAGE_IMAP_HOST, ...)"
        )
    assert settings.imap_host and settings.imap_user and settings.imap_password
    config = ImapConfig(
        host=settings.imap_host,
        user=settings.imap_user,
        password=settings.imap_password.get_secret_value(),
        port=settings.imap_port,
        security=settings.imap_security,  # type: ignore[arg-type]
        ca_file=settings.imap_ca_file,
        folder=settings.imap_folder,
        mark=settings.imap_mark,  # type: ignore[arg-type]
        folders=dict(settings.imap_folders),
        poll_seconds=settings.imap_poll_seconds,
        idle_seconds=settings.imap_idle_seconds,
        backoff_max_seconds=settings.imap_backoff_max_seconds,
        batch=batch,
        idle=settings.imap_idle,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    desk = MailDesk(_triage, store, rules, batch_size=batch)

    def report(outcomes: Sequence[MailOutcome]) -> None:
        for outcome in outcomes:
            if verbose or outcome.kind in ("rejected",):
                what = outcome.reason or (f"severity {int(outcome.severity)}" if outcome.severity else "")
                click.echo(f"{outcome.where}: {outcome.kind} {outcome.request_id or ''} {what}".rstrip(), err=True)
        click.echo(" ".join(desk.summary.lines()[:1]), err=True)

    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    watcher = MailWatcher(desk, store, config, on_batch=report)
    click.echo(f"watching {config.key} (mark: {config.mark}); stop with Ctrl-C", err=True)
    from imapclient.exceptions import LoginError

    try:
        watcher.run(stop, once=once)
    except KeyboardInterrupt:
        stop.set()
    except LoginError as error:
        raise ConfigError(
            f"IMAP login to {config.host}:{config.port} as {config.user!r} failed: {error}; check imap_user and "
            "the password"
        ) from None
    except CONNECTION_ERRORS as error:
        raise InputError(
            f"cannot reach the IMAP server {config.host}:{config.port} ({error}); check imap_host, imap_port and "
            "imap_security"
        ) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        store.close()
    for line in desk.summary.lines():
        click.echo(line, err=True)
    return EXIT_OK


COMMANDS: list[click.Command] = [mail]
