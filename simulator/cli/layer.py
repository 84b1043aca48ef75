"""``einsim layer``: one prefill or decode step of a model on a GPU, kernel by kernel."""

from __future__ import annotations

from typing import Annotated

import typer

from simulator.cli._common import emit_json, handle_errors

__all__ = ["register"]


@handle_errors
def layer_command(
    hw: Annotated[str, typer.Option(help="GPU name or YAML path (see `einsim hw`).")],
    model: Annotated[str, typer.Option(help="Model name (`einsim models`) or a config.json.")],
    phase: Annotated[str, typer.Option(help="prefill or decode.")] = "prefill",
    seq_len: Annotated[int, typer.Option(min=1, help="Prompt tokens (prefill) or cached tokens "
                                                     "(decode) per sequence.")] = 2048,
    batch: Annotated[int, typer.Option(min=1, help="Sequences.")] = 1,
    weight_dtype: Annotated[str, typer.Option(help="fp16, bf16, fp8, int8 or int4.")] = "fp16",
    act_dtype: Annotated[str | None, typer.Option(help="Activation / tensor-core type (default "
                                                       "by weight type; int4 takes fp16 or int8).")] = None,
    kv_dtype: Annotated[str | None, typer.Option(help="KV cache: fp16, bf16, fp8, int8, int4.")] = None,
    dequant: Annotated[str, typer.Option(help="Where quantised weights are dequantised: cuda "
                                              "(CUDA cores, in the GEMM main loop) or tensor.")] = "cuda",
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Per-kernel time of a model's prefill or decode step, attention share and memory fit."""
    from simulator.layer import layer_step, precision
    from simulator.layer.report import step_document, step_text

    prec = precision(weight_dtype, act_dtype, kv_dtype, dequant)
    step = layer_step(hw, model, phase, seq_len, batch, prec)
    if json_output:
        emit_json(step_document(step))
    else:
        typer.echo(step_text(step))


def register(app: typer.Typer) -> None:
    """Add ``einsim layer``."""
    app.command("layer")(layer_command)
