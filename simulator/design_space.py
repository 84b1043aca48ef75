"""The ``attention`` sweep evaluator: GPUs and spatial accelerators in one table.

A row names a ``hardware`` that is either a GPU of the catalogue (priced by
:mod:`simulator.gpu`) or a spatial design such as ``fusemax`` (priced by
:mod:`simulator.spatial`, with a square ``array`` of PEs), a catalogue ``model``, a
``phase`` (``prefill``: queries = keys = ``seq_len``; ``decode``: one query per sequence
against ``seq_len`` cached keys), a ``mask`` (``dense``, ``causal`` or ``window`` of
``window`` keys), a ``cascade`` and a kernel ``profile``. Every row gets the same metric
columns, so Pareto fronts can compare a GPU kernel with an accelerator design point.

Sliding-window rows are priced from the tile-level counter (:mod:`simulator.sparsity`)
with the kernel profile's tiles, so the partially masked tiles on the window's edges pay
their extra cost; the counts are cached per shape.

Examples
--------
>>> import pandas as pd
>>> rows = pd.DataFrame({"hardware": ["h100", "fusemax"], "array": [0, 256],
...                      "seq_len": [16384, 16384]})
>>> for name, value in ATTENTION_DEFAULTS.items():
...     rows[name] = rows.get(name, value)
>>> out = evaluate_attention(rows)
>>> out["kind"].tolist(), bool((out["time_s"] > 0).all())
(['gpu', 'accelerator'], True)
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType

import numpy as np
import pandas as pd

from simulator.errors import SpecError
from simulator.hardware import list_gpus, load_gpu
from simulator.workload import KV_DTYPES, get_model

__all__ = ["ATTENTION_DEFAULTS", "ATTENTION_METRICS", "evaluate_attention"]

#: Input columns and their defaults.
ATTENTION_DEFAULTS = MappingProxyType({
    "hardware": "h100", "model": "llama-3-8b", "phase": "prefill", "seq_len": 4096,
    "batch": 1, "mask": "dense", "window": 4096, "cascade": "attention-1pass",
    "profile": "flash3", "dtype": "fp16", "kv_dtype": "fp16", "array": 0,
})
#: Metric columns added (base SI units; NaN where a model does not apply).
ATTENTION_METRICS = (
    "kind", "time_s", "flops", "tflops_per_s", "bound", "passes", "dram_bytes",
    "buffer_bytes", "spilled", "energy_j", "area_m2", "arithmetic_intensity",
    "kv_cache_bytes", "memory_bytes",
)
_TEXT = ("kind", "bound")
_GROUP_BY = ("hardware", "model", "cascade", "profile", "mask", "dtype", "kv_dtype")
_FALLBACK_TILES = (128, 128)  # for profiles without tile rules (unfused)


def evaluate_attention(chunk: pd.DataFrame) -> pd.DataFrame:
    """Price every row on its hardware; same rows, same order, metric columns added.

    Raises
    ------
    SpecError
        An unknown phase, mask, hardware, model or cascade.
    """
    out = chunk.reset_index(drop=True).copy()
    _check_categories(out)
    shapes = {name: get_model(str(name)) for name in out["model"].unique()}
    out["seq_q"] = np.where(out["phase"] == "decode", 1, out["seq_len"]).astype(np.int64)
    metrics = {name: (np.full(len(out), None, dtype=object) if name in _TEXT
                      else np.full(len(out), np.nan)) for name in ATTENTION_METRICS}
    is_gpu = _lookup(out["hardware"], lambda h: str(h).lower() in _gpu_names()).astype(bool)
    metrics["kind"][:] = np.where(is_gpu, "gpu", "accelerator")
    for key, index in _groups(out, _GROUP_BY):
        rows = out.iloc[index]
        shape = shapes[key[1]]
        values = (_gpu_group(rows, shape, key) if is_gpu[index[0]]
                  else _accelerator_group(rows, shape, key))
        for name, value in values.items():
            metrics[name][index] = np.broadcast_to(value, len(rows))
    for name, values in metrics.items():
        out[name] = values
    out["spilled"] = out["spilled"].astype(bool)
    out["arithmetic_intensity"] = out["flops"] / out["dram_bytes"]
    out["kv_cache_bytes"] = _kv_cache_bytes(out, shapes)
    return out


@lru_cache(maxsize=1)
def _gpu_names() -> frozenset[str]:
    names = set(list_gpus())
    names |= {alias.lower() for name in list_gpus() for alias in load_gpu(name).aliases}
    return frozenset(names)


def _check_categories(rows: pd.DataFrame) -> None:
    for column, allowed in (("phase", ("prefill", "decode")),
                            ("mask", ("dense", "causal", "window"))):
        bad = sorted({str(v) for v in rows[column].unique()} - set(allowed))
        if bad:
            raise SpecError(f"column '{column}': expected one of {', '.join(allowed)}, "
                            f"got {', '.join(bad)}")


def _gpu_group(rows: pd.DataFrame, shape, key: tuple) -> dict[str, np.ndarray]:
    """One vectorised GPU call for dense/causal rows; cached tile counts for windows."""
    from simulator.gpu import predict_batch

    hardware, _, cascade, profile, mask, dtype, kv_dtype = key
    seq_kv = rows["seq_len"].to_numpy()
    if mask == "window":
        # One query (decode), or a window wider than the keys, sees a contiguous run of at
        # most `window` keys: that is dense attention over the window. Only prefill with a
        # narrower window needs the tile counter.
        narrow = (rows["phase"] == "prefill").to_numpy() & (rows["window"].to_numpy() < seq_kv)
        if narrow.all():
            return _gpu_window(rows, shape, key)
        if narrow.any():
            return _merge(len(rows), (~narrow, _gpu_group(rows[~narrow], shape, key)),
                          (narrow, _gpu_window(rows[narrow], shape, key)))
        seq_kv = np.minimum(seq_kv, rows["window"].to_numpy())
    pred = predict_batch(hardware, cascade, profile=profile, dtype=dtype, kv_dtype=kv_dtype,
                         batch=rows["batch"].to_numpy(), heads=shape.heads,
                         kv_heads=shape.kv_heads, seq_q=rows["seq_q"].to_numpy(),
                         seq_kv=seq_kv, head_dim=shape.head_dim,
                         causal=np.full(len(rows), mask == "causal"))
    return _prediction_columns(pred, load_gpu(hardware))


def _merge(size: int, *parts: tuple[np.ndarray, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine metric columns computed for disjoint row masks."""
    out: dict[str, np.ndarray] = {}
    for where, values in parts:
        for name, value in values.items():
            column = out.setdefault(name, np.empty(size, dtype=object))
            column[where] = np.broadcast_to(value, int(where.sum()))
    return out


def _gpu_window(rows: pd.DataFrame, shape, key: tuple) -> dict[str, np.ndarray]:
    from simulator.gpu import load_profile, predict
    from simulator.workload import AttentionProblem

    hardware, _, cascade, profile, _, dtype, kv_dtype = key
    kernel = load_profile(profile)
    tiles = (kernel.tile_for(shape.head_dim, load_gpu(hardware).architecture)
             if kernel.tiles else _FALLBACK_TILES)
    columns: dict[str, list] = {}
    for batch, seq_q, seq_kv, window in rows[["batch", "seq_q", "seq_len", "window"]].itertuples(
            index=False):
        problem = AttentionProblem(int(batch), shape.heads, shape.kv_heads, int(seq_q),
                                   int(seq_kv), shape.head_dim, dtype=dtype, kv_dtype=kv_dtype)
        pred = predict(hardware, cascade, problem, profile=profile,
                       masks=_window_counts(int(seq_q), int(seq_kv), int(window),
                                            tuple(int(t) for t in tiles)))
        for name, value in _prediction_columns(pred, load_gpu(hardware)).items():
            columns.setdefault(name, []).append(np.asarray(value).item())
    return {name: np.asarray(values, dtype=object) for name, values in columns.items()}


@lru_cache(maxsize=512)
def _window_counts(seq_q: int, seq_kv: int, window: int, tiles: tuple[int, int]):
    from simulator.gpu import mask_counts
    from simulator.sparsity import SparsityConfig, TileConfig, count_tiles

    config = SparsityConfig.sliding_window_1d(seq_kv, min(window, seq_kv), seq_q=seq_q)
    return mask_counts(count_tiles(config, TileConfig(*tiles)))


def _prediction_columns(pred, gpu) -> dict[str, np.ndarray]:
    return {"time_s": pred.time_s, "flops": pred.flops, "tflops_per_s": pred.tflops_per_s,
            "bound": pred.bound, "passes": pred.passes, "dram_bytes": pred.dram_bytes,
            "buffer_bytes": pred.buffer_bytes, "spilled": pred.spilled,
            "memory_bytes": gpu.dram_bytes}


def _accelerator_group(rows: pd.DataFrame, shape, key: tuple) -> dict[str, np.ndarray]:
    """The spatial model, with the ``array`` column as a square PE array."""
    from simulator.spatial.sweep import evaluate_spatial

    hardware, model, _, _, mask, _, _ = key
    if mask != "dense" or (rows["phase"] != "prefill").any():
        raise SpecError(f"hardware {hardware!r}: the spatial model prices dense prefill "
                        f"(self-attention) only; filter out mask/phase {mask}/decode rows")
    side = rows["array"].to_numpy(dtype=float)
    if (side <= 0).any():
        raise SpecError(f"hardware {hardware!r}: column 'array' must give the PE array side (> 0)")
    spatial = evaluate_spatial(pd.DataFrame({
        "design": hardware, "model": model, "scope": "attention",
        "batch": rows["batch"].to_numpy(), "seq_len": rows["seq_len"].to_numpy(),
        "rows": side, "cols": side}))
    flops = 4.0 * rows["batch"].to_numpy() * shape.heads * rows["seq_len"].to_numpy() ** 2 * \
        shape.head_dim
    latency = spatial["latency"].to_numpy(dtype=float)
    return {"time_s": latency, "flops": flops, "tflops_per_s": flops / latency / 1e12,
            "bound": spatial["bound"].to_numpy(), "passes": 1,
            "dram_bytes": spatial["dram_bytes"].to_numpy(dtype=float),
            "buffer_bytes": spatial["buffer_bytes_used"].to_numpy(dtype=float),
            "spilled": spatial["spill_fraction"].to_numpy(dtype=float) > 0,
            "energy_j": spatial["energy"].to_numpy(dtype=float),
            "area_m2": spatial["area"].to_numpy(dtype=float), "memory_bytes": np.inf}


def _groups(rows: pd.DataFrame, columns: tuple[str, ...]):
    """(key, row positions) per combination of categorical columns, in first-seen order.

    Each column is factorised to integer codes and the codes are mixed into one integer
    label, which groups far faster than strings do.
    """
    label = np.zeros(len(rows), dtype=np.int64)
    uniques = []
    for column in columns:
        codes, values = pd.factorize(rows[column])
        label = label * len(values) + codes
        uniques.append(values)
    order = np.argsort(label, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(label[order]) != 0])
    blocks = np.split(order, starts[1:])
    for block in sorted(blocks, key=lambda b: b[0]):
        key, rest = [], int(label[block[0]])
        for values in reversed(uniques):
            rest, code = divmod(rest, len(values))
            key.append(values[code])
        yield tuple(reversed(key)), block


def _lookup(column: pd.Series, func) -> np.ndarray:
    """``func`` applied once per distinct value, spread over the rows."""
    codes, uniques = pd.factorize(column)
    return np.array([func(u) for u in uniques], dtype=float)[codes]


def _kv_cache_bytes(rows: pd.DataFrame, shapes: dict) -> np.ndarray:
    """Bytes of the K and V cache the problem reads (with quantisation metadata)."""
    kv_heads = _lookup(rows["model"], lambda m: shapes[m].kv_heads)
    head_dim = _lookup(rows["model"], lambda m: shapes[m].head_dim)
    bytes_ = _lookup(rows["kv_dtype"], lambda k: KV_DTYPES[str(k)].bits / 8)
    meta = _lookup(rows["kv_dtype"], lambda k: KV_DTYPES[str(k)].metadata_bytes)
    return 2 * rows["batch"].to_numpy() * kv_heads * rows["seq_len"].to_numpy() * head_dim * \
        (bytes_ + meta / head_dim)


def _register() -> None:
    from simulator.sweep.registry import register_evaluator

    register_evaluator("attention", evaluate_attention, defaults=dict(ATTENTION_DEFAULTS))


_register()
