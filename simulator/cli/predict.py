"""``einsim predict``: predict one attention call on a GPU (``--hw``) or accelerator (``--accel``).

A thin adapter: options → an :class:`~simulator.workload.AttentionProblem` (from
``--model`` or explicit sizes), an optional sparse mask (``--layout/--window/...``,
counted with :mod:`simulator.sparsity`) → :func:`simulator.gpu.predict` or
``simulator.spatial.predict_accel`` → text or one JSON document. The option parsing is
shared with ``einsim roofline``.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Annotated, Any

import typer

import einsum
from einsum import Cascade
from simulator.cli._common import emit_json, fail, handle_errors
from simulator.errors import SpecError
from simulator.gpu import MaskCounts, load_profile, mask_counts, predict
from simulator.hardware import load_gpu
from simulator.prediction import Prediction
from simulator.sparsity import SparsityConfig, TileConfig, count_tiles, default_tiles
from simulator.workload import AttentionProblem, problem_from_model

__all__ = ["ProblemOptions", "build_request", "prediction_document", "register"]


def _dims(text: str | None, option: str) -> tuple[int, ...] | None:
    """Parse ``30x48x80`` (or ``128``) into positive ints; SpecError naming the option."""
    if text is None:
        return None
    parts = text.strip().lower().split("x")
    if not 1 <= len(parts) <= 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise SpecError(f"--{option}: expected 1 to 3 positive integers joined by 'x' "
                        f"(e.g. 30x48x80), got {text!r}")
    return tuple(int(p) for p in parts)


def _scalar(values: tuple[int, ...] | None) -> int | tuple[int, ...] | None:
    """One number stands for every dimension."""
    if values is None:
        return None
    return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class ProblemOptions:
    """The shape, mask and tiling options shared by ``predict`` and ``roofline``."""

    cascade: str | None = None
    model: str | None = None
    batch: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    seq_q: int | None = None
    seq_kv: int | None = None
    head_dim: int | None = None
    head_dim_v: int | None = None
    dtype: str = "fp16"
    kv_dtype: str | None = None
    causal: bool = False
    layout: str | None = None
    window: str | None = None
    stride: str = "1"
    dilation: str = "1"
    q_tile: str | None = None
    kv_tile: str | None = None
    kv_tiling: str = "static"
    kernel: str = "flash3"


@dataclass(frozen=True)
class Request:
    """A validated request: problem, cascade, profile name, mask counts and tile override."""

    problem: AttentionProblem
    cascade: Cascade | None
    profile: str
    masks: MaskCounts | None
    tiles: tuple[int, int] | None
    sparsity: SparsityConfig | None


def _problem(opts: ProblemOptions, tokens: int | None) -> AttentionProblem:
    """The problem from ``--model`` or explicit sizes (``tokens`` from ``--layout``)."""
    seq_q = opts.seq_q or tokens
    if opts.model is not None:
        return problem_from_model(opts.model, batch=opts.batch or 1, seq_q=seq_q,
                                  seq_kv=opts.seq_kv or tokens, dtype=opts.dtype,
                                  kv_dtype=opts.kv_dtype, causal=opts.causal)
    missing = [f"--{n.replace('_', '-')}" for n in ("heads", "head_dim")
               if getattr(opts, n) is None]
    if seq_q is None and opts.seq_kv is None:
        missing.append("--seq-q or --seq-kv")
    if missing:
        raise SpecError(f"missing shape: give --model NAME or {', '.join(missing)}")
    heads = opts.heads or 1
    return AttentionProblem(batch=opts.batch or 1, heads=heads, kv_heads=opts.kv_heads or heads,
                            seq_q=seq_q or opts.seq_kv, seq_kv=opts.seq_kv or seq_q,
                            head_dim_qk=opts.head_dim, head_dim_v=opts.head_dim_v,
                            dtype=opts.dtype, kv_dtype=opts.kv_dtype, causal=opts.causal)


def _implied_mask(cascade: Cascade | None, opts: ProblemOptions) -> bool:
    """Causal flag implied by a causal-filtered cascade; error for masks needing options."""
    if cascade is None or not einsum.op_counts(cascade).densities:
        return opts.causal
    kind = cascade.meta("reference", "") or ""
    if opts.causal or opts.layout or opts.window:
        return opts.causal
    if kind == "attention-causal":
        return True
    raise SpecError(f"cascade '{cascade.name}' masks keys with a filter "
                    f"({einsum.op_counts(cascade).densities[0]}); give the mask with --causal "
                    "or --window/--layout")


def _sparsity(opts: ProblemOptions, problem: AttentionProblem | None) -> SparsityConfig | None:
    """The GNA mask of ``--layout/--window/--stride/--dilation`` (None when absent)."""
    layout = _dims(opts.layout, "layout")
    if layout is None and opts.window is None:
        if opts.stride != "1" or opts.dilation != "1":
            raise SpecError("--stride/--dilation need --window or --layout")
        return None
    if layout is None:
        if problem is None:
            raise SpecError("--window without --layout needs --seq-kv (or --seq-q)")
        layout = (problem.seq_kv,)
    if problem is not None and math.prod(layout) != problem.seq_kv:
        raise SpecError(f"--layout: {math.prod(layout)} tokens but the problem has "
                        f"{problem.seq_kv} keys (--seq-kv)")
    seq_q = problem.seq_q if problem is not None and len(layout) == 1 else None
    return SparsityConfig(layout, window=_scalar(_dims(opts.window, "window")),
                          stride=_scalar(_dims(opts.stride, "stride")),
                          dilation=_scalar(_dims(opts.dilation, "dilation")),
                          causal=opts.causal, seq_q=seq_q)


def _tile_config(opts: ProblemOptions, config: SparsityConfig, default: tuple[int, int],
                 ) -> TileConfig:
    """Tiles for counting: the options, else the profile's (1-D) or NATTEN's (multi-D)."""
    q = _dims(opts.q_tile, "q-tile")
    kv = _dims(opts.kv_tile, "kv-tile")
    if q is None and kv is None:
        if config.ndim > 1:
            return default_tiles(config.ndim, opts.kv_tiling)
        return TileConfig(default[0], default[1], opts.kv_tiling)
    return TileConfig(q or kv, kv or q, opts.kv_tiling)


def build_request(opts: ProblemOptions, hw: str | None) -> Request:
    """Turn the options into a :class:`Request` (validates everything up front)."""
    if opts.kv_tiling not in ("static", "dynamic"):
        raise SpecError(f"--kv-tiling: expected static or dynamic, got {opts.kv_tiling!r}")
    cascade = einsum.load(opts.cascade) if opts.cascade else None
    causal = _implied_mask(cascade, opts)
    layout = _dims(opts.layout, "layout")
    tokens = math.prod(layout) if layout else None
    problem = _problem(ProblemOptions(**{**opts.__dict__, "causal": causal}), tokens)
    config = _sparsity(ProblemOptions(**{**opts.__dict__, "causal": causal}), problem)
    profile = load_profile(opts.kernel)
    masks, tiles = None, None
    if config is not None:
        default = (128, 128)
        if hw is not None and profile.tiles:
            default = profile.tile_for(max(problem.head_dim_qk, problem.v_dim),
                                       load_gpu(hw).architecture)
        masks = mask_counts(count_tiles(config, _tile_config(opts, config, default)))
        problem = AttentionProblem(**{**problem.__dict__, "causal": False})
    elif opts.q_tile or opts.kv_tile:
        q, kv = _dims(opts.q_tile or opts.kv_tile, "q-tile"), _dims(opts.kv_tile or opts.q_tile,
                                                                     "kv-tile")
        tiles = (math.prod(q or ()), math.prod(kv or ()))
    return Request(problem, cascade, opts.kernel, masks, tiles, config)


def prediction_document(pred: Prediction, problem: AttentionProblem) -> dict[str, Any]:
    """The JSON document of a prediction (snake_case keys, base SI units)."""
    document = pred.as_dict()
    document["problem"] = {"batch": problem.batch, "heads": problem.heads,
                           "kv_heads": problem.kv_heads, "seq_q": problem.seq_q,
                           "seq_kv": problem.seq_kv, "head_dim": problem.head_dim_qk,
                           "head_dim_v": problem.v_dim, "dtype": problem.dtype,
                           "kv_dtype": problem.kv_dtype, "causal": problem.causal}
    return document


def _run_accel(accel: str, request: Request) -> Prediction:
    """``--accel``: the spatial-array model, imported lazily."""
    try:
        spatial = importlib.import_module("simulator.spatial")
    except ModuleNotFoundError as err:
        if err.name not in ("simulator.spatial", "simulator"):
            raise
        fail("--accel needs the spatial-array model (simulator.spatial), which is not available")
    if request.masks is not None or request.tiles is not None:
        raise SpecError("--accel: --layout/--window/--q-tile/--kv-tile apply to --hw only")
    return spatial.predict_accel(accel, request.cascade, request.problem)


def _text(pred: Prediction, request: Request) -> str:
    """Human-readable report: the prediction, its kernels and the mask."""
    lines = [str(request.problem), str(pred)]
    for kernel in pred.kernels:
        tile = "x".join(map(str, kernel.tile)) if kernel.tile else "-"
        lines.append(f"  kernel {kernel.name:<14} {kernel.time_s * 1e6:10.2f} us  bound "
                     f"{kernel.bound:<6} ctas {kernel.ctas or '-'} waves {kernel.waves or '-'} "
                     f"tile {tile}")
    if request.sparsity is not None:
        lines.append(f"  mask: {request.sparsity}")
    return "\n".join(lines)


_Hw = Annotated[str | None, typer.Option(help="GPU name or YAML path (see `einsim hw`).")]
_Accel = Annotated[str | None, typer.Option(help="Spatial accelerator design instead of --hw.")]
_Cascade = Annotated[str | None, typer.Option(help="Cascade name or .cas file (`einsim cascades`).")]
_Model = Annotated[str | None, typer.Option(help="Model shape by name (`einsim models`).")]
_Int = Annotated[int | None, typer.Option(min=1)]
_Dtype = Annotated[str, typer.Option(help="Input dtype: fp16, bf16, fp8, fp32.")]
_KvDtype = Annotated[str | None, typer.Option(help="KV-cache dtype: fp16, bf16, fp8, int8, int4.")]
_Causal = Annotated[bool, typer.Option(help="Causal mask (bottom-right aligned).")]
_Layout = Annotated[str | None, typer.Option(help="Token layout, e.g. 32768 or 30x48x80.")]
_Window = Annotated[str | None, typer.Option(help="Window per dimension (one number = all dims).")]
_Stride = Annotated[str, typer.Option(help="GNA stride per dimension.")]
_Dilation = Annotated[str, typer.Option(help="Dilation per dimension.")]
_QTile = Annotated[str | None, typer.Option(help="Query tile, e.g. 128 or 8x4x8.")]
_KvTile = Annotated[str | None, typer.Option(help="Key/value tile (default: as --q-tile).")]
_KvTiling = Annotated[str, typer.Option(help="KV tiling for masks: static or dynamic.")]
_Kernel = Annotated[str, typer.Option(help="Kernel profile: flash3, flash2, unfused or a YAML.")]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@handle_errors
def predict_command(
    hw: _Hw = None, accel: _Accel = None, cascade: _Cascade = None, model: _Model = None,
    batch: _Int = None, heads: _Int = None, kv_heads: _Int = None, seq_q: _Int = None,
    seq_kv: _Int = None, head_dim: _Int = None, head_dim_v: _Int = None, dtype: _Dtype = "fp16",
    kv_dtype: _KvDtype = None, causal: _Causal = False, layout: _Layout = None,
    window: _Window = None, stride: _Stride = "1", dilation: _Dilation = "1",
    q_tile: _QTile = None, kv_tile: _KvTile = None, kv_tiling: _KvTiling = "static",
    kernel: _Kernel = "flash3", json_output: _Json = False,
) -> None:
    """Predict time, FLOP/s, binding resource, passes and buffers of one attention call."""
    if (hw is None) == (accel is None):
        raise SpecError("give exactly one of --hw NAME (GPU) or --accel NAME (accelerator)")
    if hw is not None and cascade is None:
        raise SpecError("--hw needs --cascade NAME|FILE (see `einsim cascades`)")
    opts = ProblemOptions(cascade, model, batch, heads, kv_heads, seq_q, seq_kv, head_dim,
                          head_dim_v, dtype, kv_dtype, causal, layout, window, stride, dilation,
                          q_tile, kv_tile, kv_tiling, kernel)
    request = build_request(opts, hw)
    if accel is not None:
        pred = _run_accel(accel, request)
    else:
        pred = predict(hw, request.cascade, request.problem, profile=request.profile,
                       masks=request.masks, tiles=request.tiles)
    if json_output:
        emit_json(prediction_document(pred, request.problem))
    else:
        typer.echo(_text(pred, request))


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to ``app``."""
    app.command("predict")(predict_command)
