"""``einsim sweep``: run a sweep spec and write tidy tables, Pareto fronts and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simulator.cli._common import emit_json, handle_errors
from simulator.sweep.engine import run_sweep
from simulator.sweep.executors import EXECUTORS

__all__ = ["register", "sweep"]


@handle_errors
def sweep(
    spec: Annotated[
        str | None,
        typer.Argument(
            help="Sweep spec: a YAML file or a built-in name (default: the built-in default spec)."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Output directory for tables, plots and chunk files.")
    ] = Path("results"),
    executor: Annotated[
        str, typer.Option("--executor", help=f"Where chunks run: {', '.join(EXECUTORS)} (auto: a "
                                             "process pool from 1,000 points on 2+ CPUs).")
    ] = "auto",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address (default: a local cluster)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Worker processes (default: the number of CPUs)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep chunks finished by an earlier run of this spec.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No progress bar and no summary on the terminal.")
    ] = False,
    max_points: Annotated[
        int | None,
        typer.Option("--max-points", min=1,
                     help="Refuse grids larger than this (default: the spec's max_points, else 1e8)."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document describing the results.")
    ] = False,
) -> None:
    """Evaluate a grid of design points and write points, Pareto tables, a summary and plots."""
    result = run_sweep(
        spec,
        out,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        resume=resume,
        progress=False if quiet else None,
        max_points=max_points,
    )
    if json_output:
        emit_json(result.to_dict())
    elif not quiet:
        _echo_summary(result.to_dict(), out)


def _echo_summary(facts: dict, out: Path) -> None:
    """Two lines for the terminal: what was found and what was written."""
    typer.echo(
        f"sweep {facts['name']!r}: {facts['grid_points']} grid points, {facts['points']} "
        f"after filters, {facts['feasible_points']} feasible, {facts['pareto_points']} on "
        f"the Pareto front ({facts['elapsed_s']:.1f} s)"
    )
    typer.echo(f"wrote {', '.join(Path(f).name for f in facts['files'])} to {out}")


def register(app: typer.Typer) -> None:
    """Add the ``sweep`` command to the ``einsim`` app."""
    app.command("sweep")(sweep)
