"""``einsim reproduce fusemax``: rerun the FuseMax paper's evaluation with the spatial model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from simulator.cli._common import emit_json, handle_errors

__all__ = ["register"]

#: Row keys printed with --json (the tidy table's columns, in order).
_ROW_KEYS = ("scope", "design", "model", "seq_len", "latency_s", "energy_j", "util_2d",
             "util_1d", "dram_bytes", "buffer_bytes", "spill_fraction", "passes", "bound",
             "speedup_vs_flat", "speedup_vs_unfused", "energy_vs_flat", "energy_vs_unfused")

reproduce_app = typer.Typer(
    help="Reproduce a paper's evaluation with einsim's models.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@reproduce_app.command("fusemax")
@handle_errors
def fusemax(
    out: Annotated[Path, typer.Option("--out", help="Directory for the CSV/Markdown tables "
                                                    "and PNG figures.")] = Path("fusemax-reproduction"),
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document (rows, "
                                                             "means, headline, area sweep).")] = False,
    figures: Annotated[bool, typer.Option("--figures/--no-figures",
                                          help="Draw the PNG figures.")] = True,
) -> None:
    """FuseMax (MICRO'24): 4 models x 6 lengths x 5 designs, attention and end to end."""
    from experiments.fusemax.reproduce import markdown_table, run, write_outputs

    start = time.perf_counter()
    rep = run()
    written = write_outputs(rep, out, figures=figures)
    if json_output:
        emit_json({
            "rows": rep.rows[list(_ROW_KEYS)].to_dict(orient="records"),
            "means": rep.means.to_dict(orient="records"),
            "headline": rep.headline.to_dict(orient="records"),
            "area_sweep": rep.sweep.to_dict(orient="records"),
            "files": [str(p) for p in written],
        })
        return
    typer.echo("Headline means (FuseMax; arithmetic over 4 models x 6 lengths):\n")
    typer.echo(markdown_table(rep.headline))
    typer.echo("\nMeans per design:\n")
    columns = ["scope", "design", "speedup_vs_flat", "speedup_vs_unfused", "energy_vs_flat",
               "energy_vs_unfused", "util_2d", "util_1d"]
    typer.echo(markdown_table(rep.means[columns]))
    typer.echo(f"\nwrote {len(written)} files to {out} in {time.perf_counter() - start:.2f} s")


def register(app: typer.Typer) -> None:
    """Add ``einsim reproduce`` to the main app."""
    app.add_typer(reproduce_app, name="reproduce")
