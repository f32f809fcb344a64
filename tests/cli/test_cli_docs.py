"""Every CLI command answers --help and has an entry in the README, so none goes undocumented."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from sevtriage.cli import LAZY_COMMANDS, cli, main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _leaf_commands(command: click.Command, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, name
            yield from _leaf_commands(sub, (*prefix, name))
    else:
        yield prefix


COMMANDS = list(_leaf_commands(cli))


def test_the_cli_has_the_design_commands() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for expected in ("classify", "rules check", "rules test", "rules report", "train", "evaluate", "sla due", "serve"):
        assert expected in names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: sevtriage {' '.join(command)}")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_is_in_the_readme(command: tuple[str, ...]) -> None:
    assert f"sevtriage {' '.join(command)}" in README, f"README has no entry for `sevtriage {' '.join(command)}`"


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage-everything"]) == 2
    assert "No such command 'triage-everything'" in capsys.readouterr().err


def test_the_readme_stands_alone() -> None:
    # The design notes are not in the repository: the README must not send a reader to them.
    assert "DESIGN.md" not in README
    root = Path(__file__).resolve().parents[2]
    targets = re.findall(r"\]\(([^)#\s]+)", README)
    missing = [t for t in targets if "://" not in t and not (root / t).exists()]
    assert not missing, f"the README links files that are not in the repository: {missing}"


def test_the_lazy_listing_says_what_each_command_says_of_itself() -> None:
    context = click.Context(cli)
    for name, (_, sentence) in LAZY_COMMANDS.items():
        command = cli.get_command(context, name)
        assert command is not None, name
        assert command.get_short_help_str(limit=300) == sentence


def test_help_lists_every_command_without_importing_them() -> None:
    code = (
        "import sys; from sevtriage.cli import main; main(['--help']); "
        "print(sorted(m for m in sys.modules if m.startswith(('sevtriage.cli.', 'sklearn', 'pandas', 'fastapi'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.rstrip().endswith("[]")
    for name in LAZY_COMMANDS:
        assert f"  {name} " in result.stdout


def test_every_command_module_is_in_the_lazy_table() -> None:
    import importlib
    import pkgutil

    import sevtriage.cli as package

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"sevtriage.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            assert LAZY_COMMANDS.get(command.name, ("",))[0] == module.__name__, f"add {command.name} to LAZY_COMMANDS"
