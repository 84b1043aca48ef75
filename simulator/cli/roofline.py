"""``einsim roofline``: draw the roofline of one attention problem on a GPU to a PNG.

A thin adapter: the shape, mask and tiling options are those of ``einsim predict``
(:func:`simulator.cli.predict.build_request`); :func:`simulator.roofline.roofline`
computes ceilings and points and :func:`simulator.roofline.plot_roofline` draws them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from simulator.cli._common import emit_json, handle_errors
from simulator.cli.predict import (
    ProblemOptions,
    _Cascade,
    _Causal,
    _Density,
    _Dilation,
    _Dtype,
    _Int,
    _Json,
    _Kernel,
    _KvDtype,
    _KvTile,
    _KvTiling,
    _Layout,
    _Model,
    _QTile,
    _Size,
    _Stride,
    _Tensor,
    _Window,
    build_request,
)
from simulator.errors import SpecError
from simulator.roofline import plot_roofline, roofline

__all__ = ["register", "roofline_command"]

_HwRequired = Annotated[str, typer.Option(help="GPU name or YAML path (see `einsim hw`).")]
_Out = Annotated[str, typer.Option(help="Output PNG file.")]


@handle_errors
def roofline_command(
    hw: _HwRequired, out: _Out, cascade: _Cascade = None, model: _Model = None,
    batch: _Int = None, heads: _Int = None, kv_heads: _Int = None, seq_q: _Int = None,
    seq_kv: _Int = None, head_dim: _Int = None, head_dim_v: _Int = None, dtype: _Dtype = "fp16",
    kv_dtype: _KvDtype = None, causal: _Causal = False, layout: _Layout = None,
    window: _Window = None, stride: _Stride = "1", dilation: _Dilation = "1",
    q_tile: _QTile = None, kv_tile: _KvTile = None, kv_tiling: _KvTiling = "static",
    kernel: _Kernel = "auto", size: _Size = None, tensor: _Tensor = None,
    density: _Density = None, json_output: _Json = False,
) -> None:
    """Roofline (tensor, exp, FP32, DRAM, SMEM ceilings) with the problem, kernels, Einsums."""
    if cascade is None:
        raise SpecError("--cascade NAME|FILE is required (see `einsim cascades`)")
    opts = ProblemOptions(cascade, model, batch, heads, kv_heads, seq_q, seq_kv, head_dim,
                          head_dim_v, dtype, kv_dtype, causal, layout, window, stride, dilation,
                          q_tile, kv_tile, kv_tiling, kernel, tuple(size or ()),
                          tuple(tensor or ()), tuple(density or ()))
    request = build_request(opts, hw)
    rf = roofline(hw, request.cascade, request.problem, profile=request.profile,
                  masks=request.masks, tiles=request.tiles, sizes=request.sizes,
                  tensors=request.tensors)
    path = plot_roofline(rf, out)
    if json_output:
        emit_json({**rf.as_dict(), "out": str(path)})
    else:
        typer.echo(f"wrote {path}: {rf.title}")


def register(app: typer.Typer) -> None:
    """Add the ``roofline`` command to ``app``."""
    app.command("roofline")(roofline_command)
