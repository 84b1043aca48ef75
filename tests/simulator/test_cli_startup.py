"""The CLI's lazy command table matches the commands, and every command has --help and --json.

Start-up *time* is measured by benchmarks/bench_cli_startup.py, not here; these tests pin
what makes it fast (no numpy/pandas/matplotlib for ``--help``) and what must not drift.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main
from typer.core import TyperCommand
from typer.testing import CliRunner

from simulator.cli import _LAZY_COMMANDS, app

runner = CliRunner()


def _commands():
    """(path, command) for every leaf command and group of the app."""
    found = []

    def walk(command, path):
        found.append((path, command))
        if hasattr(command, "list_commands"):
            for name in command.list_commands(None):
                walk(command.get_command(None, name), [*path, name])

    walk(typer.main.get_command(app), [])
    return found[1:]


COMMANDS = _commands()


@pytest.mark.parametrize("name", list(_LAZY_COMMANDS))
def test_table_help_is_the_commands_own(name):
    command = typer.main.get_command(app).get_command(None, name)
    for limit in (45, 60, 80, 200):
        table = TyperCommand(name, help=_LAZY_COMMANDS[name][1]).get_short_help_str(limit)
        assert table == command.get_short_help_str(limit)


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_every_command_has_help(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


@pytest.mark.parametrize("path, command", [(p, c) for p, c in COMMANDS if not hasattr(c, "list_commands")
                                           or c.callback is not None], ids=lambda v: " ".join(v)
                         if isinstance(v, list) else "")
def test_every_command_that_prints_results_takes_json(path, command):
    options = {opt for param in command.params for opt in getattr(param, "opts", ())}
    assert "--json" in options, f"einsim {' '.join(path)} has no --json"


def test_help_imports_no_heavy_module():
    code = ("import sys\nfrom simulator.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in ('numpy', 'pandas', 'matplotlib', 'networkx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_lazy_command_still_runs_and_lists_in_order():
    result = runner.invoke(app, ["--help"])
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed[:len(_LAZY_COMMANDS)] == list(_LAZY_COMMANDS)
    assert runner.invoke(app, ["passes", "attention-1pass", "--json"]).exit_code == 0
