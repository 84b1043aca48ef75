"""The ``einsim`` command line: a thin typer adapter over the library.

Each module in this package defines ``register(app)`` and adds its commands; they are
discovered here so that adding a command touches one file. Library errors
(:class:`einsum.errors.EinsumError`, :class:`simulator.errors.SimulatorError`) become a
one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from simulator.cli._common import USER_ERRORS

__all__ = ["app", "main"]

#: Command -> (module, one-line help). A module named here is imported only when one of
#: its commands runs (or shows its own help), so ``einsim --help`` and the light commands
#: start without numpy, pandas or matplotlib; tests/simulator/test_cli_startup.py checks
#: that these lines match the commands' own help. A module that is not listed (a new one)
#: is imported at start-up, as every module used to be.
_LAZY_COMMANDS = {
    "cascades": ("cascades", "List the built-in cascades with their pass counts."),
    "show": ("cascades", "Show a cascade, its dependency graph and its op counts."),
    "passes": ("cascades", "Prove how many passes a cascade makes over a rank."),
    "lint": ("cascades", "Warn about lines that parse but compute something other than meant "
                         "(a filter undone by a union, a carried term inside a reduction, a "
                         "recurrence index other than i+1, dead code)."),
    "check": ("cascades", "Run a cascade on random inputs against its direct definition."),
    "models": ("hw", "List the model-shape catalogue, or show one model."),
    "predict": ("predict", "Predict time, FLOP/s, binding resource, passes and buffers of one "
                           "attention call."),
    "roofline": ("roofline", "Roofline (tensor, exp, FP32, DRAM, SMEM ceilings) with the problem, "
                             "kernels, Einsums."),
    "speedup": ("speedup", "Speedup upper bounds of a sparse mask from tile-level counting "
                           "(NATTEN Sim rules)."),
    "sweep": ("sweep", "Evaluate a grid of design points and write points, Pareto tables, a "
                       "summary and plots."),
    "traces": ("traces", "List the attention launches in a trace, grouped by kernel and shape."),
    "validate": ("traces", "Measured vs predicted time per attention kernel group, the binding "
                           "resource, and MAPE."),
    "calibrate": ("traces", "Refit a kernel profile's numbers to measured launches; train and "
                            "held-out error before/after."),
    "accel": ("accel", "Spatial-array accelerators: `einsim accel` lists designs and "
                       "architectures, `einsim accel show NAME` prints one."),
    "hw": ("hw", "GPU specs: `einsim hw` lists the catalogue, `einsim hw show NAME` prints one GPU."),
    "reproduce": ("reproduce", "Reproduce a paper's evaluation with einsim's models."),
}
_SETTINGS: dict[str, Any] = dict(add_completion=False, pretty_exceptions_enable=False,
                                 rich_markup_mode=None)


class _LazyGroup(TyperGroup):
    """The top-level group: listed commands load their module on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        eager = [name for name in super().list_commands(ctx) if name not in _LAZY_COMMANDS]
        return [*_LAZY_COMMANDS, *eager]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in _LAZY_COMMANDS and cmd_name not in self.commands:
            load_module(self, _LAZY_COMMANDS[cmd_name][0])
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list from the table, without importing the modules (as click does it)."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(n) for n in names), default=0)
        rows = []
        for name in names:
            if name in _LAZY_COMMANDS and name not in self.commands:
                short = TyperCommand(name, help=_LAZY_COMMANDS[name][1]).get_short_help_str(limit)
                rows.append((name, short))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def load_module(group: TyperGroup, module_name: str) -> None:
    """Import ``simulator.cli.<module_name>`` and add its commands to ``group``."""
    module = importlib.import_module(f"{__name__}.{module_name}")
    private = typer.Typer(**_SETTINGS)
    module.register(private)
    for name, command in typer.main.get_group(private).commands.items():
        group.add_command(command, name)


app = typer.Typer(
    name="einsim",
    help="Analytical simulator and design-space explorer for attention hardware.",
    no_args_is_help=True,
    cls=_LazyGroup,
    **_SETTINGS,
)


@app.callback()
def _root() -> None:
    """Analytical simulator and design-space explorer for attention hardware."""


def _register_commands() -> None:
    """Import every sibling module the table does not list and let it add its commands."""
    lazy = {module for module, _ in _LAZY_COMMANDS.values()}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in lazy:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a library error that escaped a command still exits 2 in one line."""
    from simulator.memory import no_huge_page_stalls  # numpy: only once a command runs

    no_huge_page_stalls()
    try:
        app(args=argv, standalone_mode=True)
    except USER_ERRORS as err:
        print(f"einsim: error: {' '.join(str(err).split())}", file=sys.stderr)
        sys.exit(2)
    finally:
        if argv is None:  # the process ends here (the console script, python -m simulator)
            # Spare the interpreter's last garbage collection over every object the command
            # made (0.3 s after the default sweep). Nothing einsim leaves relies on a
            # finalizer: files are closed and renamed into place.
            gc.freeze()
