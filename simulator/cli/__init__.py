"""The ``einsim`` command line: a thin typer adapter over the library.

Each module in this package defines ``register(app)`` and adds its commands; they are
discovered here so that adding a command touches one file. Library errors
(:class:`einsum.errors.EinsumError`, :class:`simulator.errors.SimulatorError`) become a
one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from simulator.cli._common import USER_ERRORS
from simulator.memory import no_huge_page_stalls

__all__ = ["app", "main"]

app = typer.Typer(
    name="einsim",
    help="Analytical simulator and design-space explorer for attention hardware.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _register_commands() -> None:
    """Import every sibling module and let it add its commands to ``app``."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a library error that escaped a command still exits 2 in one line."""
    no_huge_page_stalls()
    try:
        app(args=argv, standalone_mode=True)
    except USER_ERRORS as err:
        print(f"einsim: error: {' '.join(str(err).split())}", file=sys.stderr)
        sys.exit(2)

