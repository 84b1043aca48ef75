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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

import einsum
from einsum import Cascade
from einsum.sizes import check_size_names
from simulator.binding import bind
from simulator.cli._common import emit_json, fail, handle_errors
from simulator.errors import SpecError
from simulator.gpu import MaskCounts, load_profile, mask_counts, predict
from simulator.gpu.masks import mask_plan, window_symbol
from simulator.gpu.model import bound_sizes, shared_kv_heads
from simulator.gpu.profiles import auto_profile
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
    # ASCII digits only: '2²'.isdigit() is true, but int() refuses it
    if not 1 <= len(parts) <= 3 or not all(
            p.strip().isascii() and p.strip().isdigit() and int(p) > 0 for p in parts):
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
    kernel: str = "auto"
    size: tuple[str, ...] = ()
    tensor: tuple[str, ...] = ()
    density: tuple[str, ...] = ()
    page_size: int | None = None


@dataclass(frozen=True)
class Request:
    """A validated request: problem, cascade, profile, mask counts, tiles, sizes and tensors."""

    problem: AttentionProblem
    cascade: Cascade | None
    profile: str
    masks: MaskCounts | None
    tiles: tuple[int, int] | None
    sparsity: SparsityConfig | None
    sizes: dict[str, int] = field(default_factory=dict)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


def _problem(opts: ProblemOptions, tokens: int | None, cascade: Cascade | None,
             sizes: dict[str, int]) -> AttentionProblem:
    """The problem from ``--model`` or explicit sizes (``tokens`` from ``--layout``).

    With a cascade, head dims may come from ``--size`` (an MLA latent), and a cascade
    whose K/V carry no head rank fixes one KV head.
    """
    seq_q = opts.seq_q or tokens
    if opts.model is not None:
        problem = problem_from_model(opts.model, batch=opts.batch or 1, seq_q=seq_q,
                                     seq_kv=opts.seq_kv or tokens, dtype=opts.dtype,
                                     kv_dtype=opts.kv_dtype, causal=opts.causal)
        return AttentionProblem(**{**problem.__dict__, "page_size": opts.page_size})
    head_dim, head_dim_v = opts.head_dim, opts.head_dim_v
    if cascade is not None and (head_dim is None or sizes):
        _, qk, v = bound_sizes(cascade, head_dim, head_dim_v, sizes)
        head_dim, head_dim_v = int(qk), int(v)
    missing = ["--heads"] if opts.heads is None else []
    if head_dim is None:
        missing.append("--head-dim")
    if seq_q is None and opts.seq_kv is None:
        missing.append("--seq-q or --seq-kv")
    if missing:
        raise SpecError(f"missing shape: give --model NAME or {', '.join(missing)}")
    heads = opts.heads or 1
    kv_heads = opts.kv_heads or heads
    if cascade is not None and bind(cascade).kv_shared:
        kv_heads = int(shared_kv_heads(cascade, heads, opts.kv_heads))
    return AttentionProblem(batch=opts.batch or 1, heads=heads, kv_heads=kv_heads,
                            seq_q=seq_q or opts.seq_kv, seq_kv=opts.seq_kv or seq_q,
                            head_dim_qk=head_dim, head_dim_v=head_dim_v,
                            dtype=opts.dtype, kv_dtype=opts.kv_dtype, causal=opts.causal,
                            page_size=opts.page_size)


def _cascade_mask(cascade: Cascade | None, opts: ProblemOptions, gna: bool,
                  ) -> tuple[Cascade | None, dict[str, int]]:
    """The cascade a 1-D mask flag chooses, and the sizes the flag gives.

    ``--causal`` / ``--window N`` on an unmasked cascade choose its masked variant
    (:func:`einsum.with_mask`: the dense cascade with ``--causal`` becomes its causal
    variant); on a cascade with its own filter they would restate the mask, an error
    naming both, except ``--causal`` on a cascade whose mask is causal.
    """
    if cascade is None or (not opts.causal and opts.window is None) or gna:
        return cascade, {}
    filtered = mask_plan(cascade).kind != "dense" or einsum.op_counts(cascade).densities
    if filtered:
        if opts.window is None and mask_plan(cascade).kind == "causal":
            return cascade, {}
        flag = "--window" if opts.window is not None else "--causal"
        raise SpecError(f"{flag} contradicts cascade '{cascade.name}', which masks keys with its "
                        f"own filter ({_filter_text(cascade)}); drop {flag} and give the "
                        f"filter's sizes with --size NAME=VALUE")
    if opts.window is None:
        return einsum.with_mask(cascade, "causal"), {}
    window = _dims(opts.window, "window") or (1,)
    masked = einsum.with_mask(cascade, "window")
    return masked, {window_symbol(masked): window[0]}


def _filter_text(cascade: Cascade) -> str:
    """The cascade's first filter as written, with its Einsum (for error messages)."""
    einsum_ = next((e for e in cascade.einsums if e.filters), None)
    if einsum_ is None:
        return str(einsum.op_counts(cascade).densities[0])
    return f"{einsum_.label}: {' and '.join(str(f) for f in einsum_.filters)}"


def _named_values(items: tuple[str, ...], option: str) -> dict[str, str]:
    """``NAME=VALUE`` items of a repeatable option."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise SpecError(f"{option} {item!r}: expected NAME=VALUE, such as {option} C=512")
        out[name] = value.strip()
    return out


def _sizes(opts: ProblemOptions) -> dict[str, int]:
    """``--size NAME=INT`` values."""
    sizes = {}
    for name, value in _named_values(opts.size, "--size").items():
        if not (value.isascii() and value.isdigit()) or int(value) <= 0:
            raise SpecError(f"--size {name}={value}: expected a positive integer")
        sizes[name] = int(value)
    return sizes


def _tensors(opts: ProblemOptions) -> dict[str, np.ndarray]:
    """``--tensor NAME=FILE`` (.npy without pickles, .csv, .txt) or ``NAME=v1,v2,...``."""
    out: dict[str, Any] = {name: _tensor_values(name, value)
                           for name, value in _named_values(opts.tensor, "--tensor").items()}
    for name, value in _named_values(opts.density, "--density").items():
        try:
            out[name] = float(value)
        except ValueError:
            raise SpecError(f"--density {name}={value}: expected a fraction in (0, 1]") from None
    return out


def _tensor_values(name: str, value: str) -> np.ndarray:
    """Read one ``--tensor`` value; pickled objects are never loaded."""
    path = Path(value)
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.suffix in (".csv", ".txt"):
            return np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=1)
        return np.array([float(v) for v in value.split(",")])
    except (OSError, ValueError) as err:
        raise SpecError(f"--tensor {name}={value}: expected a .npy/.csv/.txt file or "
                        f"comma-separated numbers ({' '.join(str(err).split())})") from None


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


def _is_gna(opts: ProblemOptions) -> bool:
    """True when the mask flags describe a GNA mask (a layout, strides, dilation, windows per dim)."""
    window = _dims(opts.window, "window") or ()
    return opts.layout is not None or opts.stride != "1" or opts.dilation != "1" or len(window) > 1


def build_request(opts: ProblemOptions, hw: str | None) -> Request:
    """Turn the options into a :class:`Request` (validates everything up front)."""
    if opts.kv_tiling not in ("static", "dynamic"):
        raise SpecError(f"--kv-tiling: expected static or dynamic, got {opts.kv_tiling!r}")
    cascade = einsum.load(opts.cascade) if opts.cascade else None
    sizes, tensors = _sizes(opts), _tensors(opts)
    gna = _is_gna(opts)
    cascade, flag_sizes = _cascade_mask(cascade, opts, gna)
    sizes = {**flag_sizes, **sizes}
    if cascade is not None:
        check_size_names(cascade, sizes)
    layout = _dims(opts.layout, "layout")
    tokens = math.prod(layout) if layout else None
    # a mask flag chose a cascade above; without a cascade (--accel's own) it stays a flag
    shaped = ProblemOptions(**{**opts.__dict__, "causal": opts.causal and (gna or cascade is None)})
    if gna and cascade is not None and mask_plan(cascade).kind != "dense":
        raise SpecError(f"--layout/--window/--stride/--dilation contradict cascade "
                        f"'{cascade.name}', which masks keys with its own filter "
                        f"({_filter_text(cascade)}); drop the flags or use an unmasked cascade")
    problem = _problem(shaped, tokens, cascade, sizes)
    config = _sparsity(shaped, problem) if gna else None
    kernel = opts.kernel
    if kernel == "auto":
        kernel = auto_profile(load_gpu(hw)) if hw is not None else "flash3"
    profile = load_profile(kernel)
    masks, tiles = None, None
    if config is not None:
        default = (128, 128)
        if hw is not None and profile.tiles:
            default = profile.tile_for(max(problem.head_dim_qk, problem.v_dim),
                                       load_gpu(hw).architecture, problem.dtype)
        masks = mask_counts(count_tiles(config, _tile_config(opts, config, default)))
        problem = AttentionProblem(**{**problem.__dict__, "causal": False})
    elif opts.q_tile or opts.kv_tile:
        q, kv = _dims(opts.q_tile or opts.kv_tile, "q-tile"), _dims(opts.kv_tile or opts.q_tile,
                                                                     "kv-tile")
        tiles = (math.prod(q or ()), math.prod(kv or ()))
    return Request(problem, cascade, kernel, masks, tiles, config, sizes, tensors)


def prediction_document(pred: Prediction, problem: AttentionProblem,
                        sizes: dict[str, int] | None = None,
                        cascade: Cascade | None = None) -> dict[str, Any]:
    """The JSON document of a prediction (snake_case keys, base SI units)."""
    document = pred.as_dict()
    document["problem"] = {"batch": problem.batch, "heads": problem.heads,
                           "kv_heads": problem.kv_heads, "seq_q": problem.seq_q,
                           "seq_kv": problem.seq_kv, "head_dim": problem.head_dim_qk,
                           "head_dim_v": problem.v_dim, "dtype": problem.dtype,
                           "kv_dtype": problem.kv_dtype, "causal": _is_causal(problem, cascade),
                           "sizes": dict(sizes or {})}
    if cascade is not None:
        document["mask"] = mask_plan(cascade).kind
    return document


def _is_causal(problem: AttentionProblem, cascade: Cascade | None) -> bool:
    """Causal when the flag asked for it or the cascade's own mask is ``key <= query + c``."""
    return problem.causal or (cascade is not None and mask_plan(cascade).kind == "causal")


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
    return spatial.predict_accel(accel, request.cascade, request.problem, sizes=request.sizes,
                                 tensors=request.tensors)


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
_Kernel = Annotated[str, typer.Option(help="Kernel profile: auto (by the GPU architecture), flash2, "
                                           "flash3, flash4, cutlass-fmha, natten, natten-sm100, "
                                           "unfused, amd-fmha or a YAML.")]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
_Pass = Annotated[str, typer.Option(
    "--pass", help="fwd (default), bwd (the FlashAttention backward: preprocess, main, dQ "
                   "convert) or fwdbwd (both; FLOPs 3.5 x forward).")]
_PageSize = Annotated[int | None, typer.Option(min=1, help="Tokens per page of a paged KV cache "
                                                           "(default: contiguous).")]
_Size = Annotated[list[str] | None, typer.Option(
    "--size", help="Size of a cascade rank or symbol the workload does not fix, e.g. --size C=512 "
                   "(repeatable).")]
_Tensor = Annotated[list[str] | None, typer.Option(
    "--tensor", help="Values of a tensor the cascade's filter reads: NAME=FILE (.npy/.csv/.txt) "
                     "or NAME=v1,v2,... (repeatable).")]
_Density = Annotated[list[str] | None, typer.Option(
    "--density", help="A mask tensor's density instead of its values, e.g. --density BM=0.25 "
                      "(repeatable; assumes a tile-aligned block selection).")]


@handle_errors
def predict_command(
    hw: _Hw = None, accel: _Accel = None, cascade: _Cascade = None, model: _Model = None,
    batch: _Int = None, heads: _Int = None, kv_heads: _Int = None, seq_q: _Int = None,
    seq_kv: _Int = None, head_dim: _Int = None, head_dim_v: _Int = None, dtype: _Dtype = "fp16",
    kv_dtype: _KvDtype = None, causal: _Causal = False, layout: _Layout = None,
    window: _Window = None, stride: _Stride = "1", dilation: _Dilation = "1",
    q_tile: _QTile = None, kv_tile: _KvTile = None, kv_tiling: _KvTiling = "static",
    kernel: _Kernel = "auto", size: _Size = None, tensor: _Tensor = None,
    density: _Density = None, page_size: _PageSize = None, json_output: _Json = False,
    pass_: _Pass = "fwd",
) -> None:
    """Predict time, FLOP/s, binding resource, passes and buffers of one attention call."""
    if (hw is None) == (accel is None):
        raise SpecError("give exactly one of --hw NAME (GPU) or --accel NAME (accelerator)")
    if hw is not None and cascade is None:
        raise SpecError("--hw needs --cascade NAME|FILE (see `einsim cascades`)")
    opts = ProblemOptions(cascade, model, batch, heads, kv_heads, seq_q, seq_kv, head_dim,
                          head_dim_v, dtype, kv_dtype, causal, layout, window, stride, dilation,
                          q_tile, kv_tile, kv_tiling, kernel, tuple(size or ()),
                          tuple(tensor or ()), tuple(density or ()), page_size)
    request = build_request(opts, hw)
    if pass_ != "fwd":
        pred = _training_pass(hw, request, pass_)
    elif accel is not None:
        pred = _run_accel(accel, request)
    else:
        pred = predict(hw, request.cascade, request.problem, profile=request.profile,
                       masks=request.masks, tiles=request.tiles, sizes=request.sizes,
                       tensors=request.tensors)
    if json_output:
        emit_json(prediction_document(pred, request.problem, request.sizes, request.cascade))
    else:
        typer.echo(_text(pred, request))


def _training_pass(hw: str | None, request: Request, which: str) -> Prediction:
    """``--pass bwd|fwdbwd``: the backward model (``simulator.gpu.backward``), imported lazily."""
    from simulator.gpu.backward import predict_pass

    if hw is None or request.masks is not None:
        raise SpecError(f"--pass {which}: needs --hw and a cascade's own mask (no --accel, "
                        f"--layout or multi-dimensional --window)")
    return predict_pass(hw, request.cascade, request.problem, which, profile=request.profile,
                        sizes=request.sizes, tensors=request.tensors)


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to ``app``."""
    app.command("predict")(predict_command)
