"""``einsim reproduce qserve``: QServe's serving-throughput claims with the layer model."""

from __future__ import annotations

from typing import Annotated

import typer

from simulator.cli._common import emit_json, handle_errors
from simulator.cli.reproduce import reproduce_app

__all__ = ["register"]

_ROW_KEYS = ("gpu", "model", "system", "precision", "batch", "tokens_per_s", "decode_step_s",
             "attention_share")


@handle_errors
def qserve(json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document "
                                                                    "(rows, speedups, claim).")] = False,
           ) -> None:
    """QServe (W4A8KV4) vs TensorRT-LLM FP16/W8A8/W4A16 on A100 and L40S."""
    from experiments.qserve.reproduce import markdown_table, run

    rep = run()
    if json_output:
        emit_json({"rows": rep.rows[list(_ROW_KEYS)].to_dict(orient="records"),
                   "speedups": rep.speedups.to_dict(orient="records"),
                   "claim": rep.claim, "claim_holds": rep.claim_holds})
        return
    typer.echo("Serving throughput, prompts of 1024 tokens, 512 generated, largest batch that fits:\n")
    typer.echo(markdown_table(rep.rows[list(_ROW_KEYS)]))
    typer.echo("\nQServe over the best TensorRT-LLM configuration, einsim vs paper:\n")
    typer.echo(markdown_table(rep.speedups))
    typer.echo(f"\n{rep.claim}: " + ", ".join(f"{m} {'yes' if ok else 'no'}"
                                             for m, ok in rep.claim_holds.items()))


def register(app: typer.Typer) -> None:
    """Add ``einsim reproduce qserve`` (the ``reproduce`` group is the reproduce module's)."""
    reproduce_app.command("qserve")(qserve)
