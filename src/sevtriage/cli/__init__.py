"""The `sevtriage` command line: a thin edge over the library.

Each command group lives in its own module; this one wires them together and turns user mistakes
(`SevtriageError`) into a message on stderr and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from sevtriage import __version__
from sevtriage.errors import SevtriageError

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_REJECTS = 3

# Each command's module and the first sentence of its help. A command's module is imported only when the command
# runs (the modules pull in pandas, scikit-learn, FastAPI, ...), so `sevtriage --help` starts in a fraction of the
# time; `tests/cli/test_cli_docs.py` checks that these sentences are the commands' own.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "alerts": (
        "sevtriage.cli.alerts_cmd",
        'Alerts by e-mail and webhook: severity 1, possible_critical, about to breach (README "Alerts").',
    ),
    "classify": (
        "sevtriage.cli.classify_cmd",
        "Classify requests from a CSV or JSONL file (or '-' for stdin) and write one decision per request.",
    ),
    "evaluate": (
        "sevtriage.cli.model_cmd",
        "Measure rules only, model only and combined on one or more labelled DATA sets.",
    ),
    "mail": ("sevtriage.cli.mail_cmd", "E-mail intake: import .eml files, mbox or Maildir, or watch an IMAP folder."),
    "reviews": (
        "sevtriage.cli.review_cmd",
        "What specialists decided: labelled data for training, and how often they agree with the suggestions.",
    ),
    "rules": ("sevtriage.cli.rules_cmd", "Check, test and measure the severity rules (rules/severity.yaml)."),
    "serve": (
        "sevtriage.cli.serve_cmd",
        "Serve the HTTP API: POST /v1/classify, /v1/classify/batch, /v1/sla/due; GET /healthz, /metrics, /docs.",
    ),
    "sla": ("sevtriage.cli.sla_cmd", "SLA deadlines in business time from the policy file (rules/sla.yaml)."),
    "train": (
        "sevtriage.cli.model_cmd",
        "Fit the severity model on labelled DATA (a CSV/JSONL file, or the data/ folder).",
    ),
    "users": ("sevtriage.cli.review_cmd", "Specialists' accounts for the review desk."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they are run, and listed in `--help` from `LAZY_COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*LAZY_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            module = importlib.import_module(LAZY_COMMANDS[cmd_name][0])
            for command in module.COMMANDS:
                if command.name == cmd_name:
                    self.add_command(command)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                stand_in = click.Command(name, help=LAZY_COMMANDS[name][1])  # click's own shortening of the sentence
                rows.append((name, stand_in.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sevtriage")
def cli() -> None:
    """Severity triage for support requests: rules first, a text model when unsure, SLA deadlines."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    try:
        # In non-standalone mode click returns a command's `ctx.exit(code)` as the result.
        result = cli.main(args=argv, prog_name="sevtriage", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as usage:
        usage.show()
        return EXIT_CONFIG
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except SevtriageError as error:
        click.echo(f"error: {error}", err=True)
        return EXIT_CONFIG
    except BrokenPipeError:
        return 0
    return result if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
