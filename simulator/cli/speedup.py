"""``einsim speedup``: tile-level speedup bounds of a sparse attention mask.

A thin adapter over :mod:`simulator.sparsity`: parse ``30x48x80``-style options, count
visited KV tiles as NATTEN's simulator does, print the report or one JSON document.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer

from simulator.cli._common import emit_json, fail, handle_errors
from simulator.errors import SpecError
from simulator.sparsity import (
    SparsityConfig,
    TileConfig,
    TileCounts,
    count_tiles,
    default_tiles,
    kernel_block_sparse,
    predicted_speedup_hook,
    speedup_bounds,
)

__all__ = ["register", "speedup"]


def _parse_dims(text: str, option: str) -> tuple[int, ...]:
    """Parse ``30x48x80`` (or ``128``) into positive ints; SpecError naming the option."""
    parts = text.strip().lower().split("x")
    if not 1 <= len(parts) <= 3 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
        raise SpecError(
            f"--{option}: expected 1 to 3 positive integers joined by 'x' (e.g. 30x48x80), "
            f"got {text!r}"
        )
    values = tuple(int(p) for p in parts)
    if min(values) < 1:
        raise SpecError(f"--{option}: expected integers >= 1, got {text!r}")
    return values


def _dims_or_scalar(text: str, option: str) -> int | tuple[int, ...]:
    """Parse per-dimension values; a single number applies to every dimension."""
    values = _parse_dims(text, option)
    return values[0] if len(values) == 1 else values


def _causal_flags(causal: bool, causal_dims: str | None) -> bool | tuple[bool, ...]:
    """``--causal`` for every dimension, or ``--causal-dims 1x0x0`` per dimension."""
    if causal_dims is None:
        return causal
    parts = causal_dims.strip().split("x")
    if not all(p in ("0", "1") for p in parts):
        raise SpecError(f"--causal-dims: expected 0/1 per dimension (e.g. 1x0x0), got {causal_dims!r}")
    return tuple(p == "1" for p in parts)


def _tiles(ndim: int, q_tile: str | None, kv_tile: str | None, kv_tiling: str) -> TileConfig:
    """Tile config from the options; Blackwell FNA defaults when neither tile is given."""
    if q_tile is None and kv_tile is None:
        return default_tiles(ndim, kv_tiling)
    q = _parse_dims(q_tile or kv_tile or "", "q-tile" if q_tile else "kv-tile")
    kv = _parse_dims(kv_tile, "kv-tile") if kv_tile else q
    return TileConfig(q, kv, kv_tiling)


def _document(counts: TileCounts) -> dict[str, Any]:
    """The JSON document: inputs, bounds and tile/pair counts."""
    config, tiles = counts.config, counts.tiles
    document: dict[str, Any] = {
        "layout": config.layout,
        "window": config.window,
        "stride": config.stride,
        "dilation": config.dilation,
        "causal": config.causal,
        "seq_q": config.n_queries,  # query tokens in all (30x48x80 -> 115200), not the first extent
        "seq_kv": config.n_keys,
        "q_tile": tiles.q_tile,
        "kv_tile": tiles.kv_tile,
        "kv_tiling": tiles.kv_tiling,
        "tiling": "flattened" if counts.flattened else "multi-dimensional",
    }
    document.update(speedup_bounds(counts).as_dict())
    document["kernel_block_sparse"] = (
        None if counts.flattened else kernel_block_sparse(config, tiles)
    )
    document.update(counts.summary())
    return document


def _require_gpu_model() -> None:
    """HOOK guard: ``--hw`` works only once the GPU model (``simulator.gpu``) exists."""
    try:
        importlib.import_module("simulator.gpu")
    except ModuleNotFoundError as err:
        if err.name != "simulator.gpu":
            raise
        fail("`--hw` needs the GPU model (simulator.gpu), which is not available yet")


def _seq_q(text: str | None) -> int | None:
    """Parse ``--seq-q`` (one positive integer)."""
    if text is None:
        return None
    values = _parse_dims(text, "seq-q")
    if len(values) != 1:
        raise SpecError(f"--seq-q: expected one positive integer, got {text!r}")
    return values[0]


_Dims = Annotated[str, typer.Option(help="Token layout, e.g. 32768 (1-D, = KV length) or 30x48x80.")]
_Window = Annotated[
    str | None, typer.Option(help="Window per dimension (one number = all dims). Default: dense.")
]
_Stride = Annotated[str, typer.Option(help="GNA stride per dimension (1 = NA, window = blocked).")]
_Dilation = Annotated[str, typer.Option(help="Dilation per dimension.")]
_Causal = Annotated[bool, typer.Option(help="Causal in every dimension.")]
_CausalDims = Annotated[
    str | None, typer.Option(help="Causal flag per dimension, e.g. 1x0x0 (overrides --causal).")
]
_SeqQ = Annotated[
    str | None, typer.Option(help="1-D causal only: number of queries, aligned to the end of the KV.")
]
_QTile = Annotated[
    str | None,
    typer.Option(
        help="Q tile, e.g. 8x4x8 (multi-dim) or 256 (flattened on 2-D/3-D layouts). "
        "Default: Blackwell FNA's tiles."
    ),
]
_KvTile = Annotated[str | None, typer.Option(help="KV tile (default: as --q-tile).")]
_KvTiling = Annotated[
    str, typer.Option(help="KV tiling: static (Hopper/Blackwell) or dynamic (Ampere).")
]
_Hw = Annotated[str | None, typer.Option(help="GPU name: add the GPU model's predicted speedup.")]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@handle_errors
def speedup(
    layout: _Dims,
    window: _Window = None,
    stride: _Stride = "1",
    dilation: _Dilation = "1",
    causal: _Causal = False,
    causal_dims: _CausalDims = None,
    seq_q: _SeqQ = None,
    q_tile: _QTile = None,
    kv_tile: _KvTile = None,
    kv_tiling: _KvTiling = "static",
    hw: _Hw = None,
    json_output: _Json = False,
) -> None:
    """Speedup upper bounds of a sparse mask from tile-level counting (NATTEN Sim rules)."""
    extents = _parse_dims(layout, "layout")
    config = SparsityConfig(
        extents,
        window=None if window is None else _dims_or_scalar(window, "window"),
        stride=_dims_or_scalar(stride, "stride"),
        dilation=_dims_or_scalar(dilation, "dilation"),
        causal=_causal_flags(causal, causal_dims),
        seq_q=_seq_q(seq_q),
    )
    tiles = _tiles(config.ndim, q_tile, kv_tile, kv_tiling)
    if hw is not None:
        _require_gpu_model()
    counts = count_tiles(config, tiles)
    document = _document(counts)
    if hw is not None:  # HOOK: the GPU model's prediction (simulator.gpu)
        document["predicted"] = predicted_speedup_hook(hw, counts)
    if json_output:
        emit_json(document)
        return
    typer.echo(str(counts))
    typer.echo(str(speedup_bounds(counts)))
    if hw is not None:
        predicted = document["predicted"]
        shown = f"{predicted:.2f}x" if isinstance(predicted, (int, float)) else predicted
        typer.echo(f"predicted speedup on {hw}: {shown}")


def register(app: typer.Typer) -> None:
    """Add the ``speedup`` command to ``app``."""
    app.command("speedup")(speedup)
