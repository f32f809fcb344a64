"""The `sevtriage` command line: a thin edge over the library.

Each command group lives in its own module; this one wires them together and turns user mistakes
(`SevtriageError`) into a message on stderr and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import sys

import click

from sevtriage import __version__
from sevtriage.cli import alerts_cmd, classify_cmd, model_cmd, review_cmd, rules_cmd, serve_cmd, sla_cmd
from sevtriage.errors import SevtriageError

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_REJECTS = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sevtriage")
def cli() -> None:
    """Severity triage for support requests: rules first, a text model when unsure, SLA deadlines."""


for _module in (classify_cmd, rules_cmd, sla_cmd, model_cmd, serve_cmd, review_cmd, alerts_cmd):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


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
