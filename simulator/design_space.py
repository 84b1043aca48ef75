"""The ``attention`` sweep evaluator: GPUs and spatial accelerators in one table.

A row names a ``hardware`` that is either a GPU of the catalogue (priced by
:mod:`simulator.gpu`) or a spatial design such as ``fusemax`` (priced by
:mod:`simulator.spatial`, with a square ``array`` of PEs), a catalogue ``model``, a
``phase`` (``prefill``: queries = keys = ``seq_len``; ``decode``: one query per sequence
against ``seq_len`` cached keys), a ``cascade``, a ``mask`` that chooses the cascade's
variant (``dense``: the cascade as written; ``causal`` or ``window``: its variant with that
filter on the scores, :func:`einsum.with_mask`, the window of ``window`` keys) and a
kernel ``profile``. Upper-case columns (``S``, ``W``, ``C``…) size the cascade's own
symbols, as ``--size`` does on the command line. Every row gets the same metric columns,
so Pareto fronts can compare a GPU kernel with an accelerator design point.

Masked rows are priced from the cascade's filter: the GPU model counts the visited and
partially masked (query tile, key tile) steps with the kernel's tiles, so the partial
tiles on a window's edges pay their extra cost. A window of at least ``seq_len`` keys
masks nothing a causal mask keeps, and costs what the causal row costs.

An optional ``training_pass`` column (``fwd``, ``bwd``, ``fwdbwd``) prices the backward pass too
(:mod:`simulator.gpu.backward_sweep`); without it every row is a forward.

A GPU row whose peak DRAM footprint (``resident_bytes``: Q, the KV cache in its format,
O, layout copies and the intermediates spilled kernels keep alive together;
:mod:`simulator.gpu.capacity`) exceeds the GPU's memory (``memory_bytes``) is still
priced, with ``fits_in_memory`` False and ``feasible`` False: the sweep engine keeps it
in ``points.csv`` and out of the Pareto fronts.

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
from typing import Any

import numpy as np
import pandas as pd

from simulator.errors import SpecError
from simulator.gpu.masks import window_symbol
from simulator.gpu.model import predict_batch, resolve
from simulator.gpu.resources import RESOURCE_ORDER, binding_index
from simulator.grouping import column_codes, group_rows
from simulator.hardware import list_gpus, load_gpu
from simulator.workload import KV_DTYPES, check_int64_work, get_model

__all__ = ["ATTENTION_DEFAULTS", "ATTENTION_METRICS", "evaluate_attention"]

#: Input columns and their defaults.
ATTENTION_DEFAULTS = MappingProxyType({
    "hardware": "h100", "model": "llama-3-8b", "phase": "prefill", "seq_len": 4096,
    "batch": 1, "mask": "dense", "window": 4096, "cascade": "attention-1pass",
    "profile": "auto", "dtype": "fp16", "kv_dtype": "fp16", "array": 0,
})
#: Metric columns added (base SI units; NaN where a model does not apply).
ATTENTION_METRICS = (
    "kind", "time_s", "flops", "tflops_per_s", "bound", "passes", "dram_bytes",
    "buffer_bytes", "spilled", "energy_j", "area_m2", "arithmetic_intensity",
    "kv_cache_bytes", "memory_bytes", "resident_bytes", "fits_in_memory", "power_w",
)
_TEXT = ("kind", "bound")
_KINDS = ("gpu", "accelerator")
_GROUP_BY = ("hardware", "model", "cascade", "profile", "mask", "dtype", "kv_dtype")
_FALLBACK_TILES = (128, 128)  # for profiles without tile rules (unfused)


def evaluate_attention(chunk: pd.DataFrame) -> pd.DataFrame:
    """Price every row on its hardware; same rows, same order, metric columns added.

    Also adds ``feasible`` (the row fits in its hardware's memory), which the sweep
    engine ANDs with the spec's constraints.

    Raises
    ------
    SpecError
        An unknown phase, mask, hardware, model or cascade.
    """
    rows = chunk.reset_index(drop=True)
    _check_categories(rows)
    _check_hardware(rows["hardware"])
    _check_nulls(rows)
    shapes = {name: get_model(str(name)) for name in rows["model"].unique()}
    seq_len = rows["seq_len"].to_numpy()
    prefill = (rows["phase"] == "prefill").to_numpy()
    numbers = {"batch": rows["batch"].to_numpy(), "seq_len": seq_len,
               "seq_q": np.where(prefill, seq_len, 1).astype(np.int64), "prefill": prefill,
               "window": rows["window"].to_numpy(), "array": rows["array"].to_numpy()}
    for name, shape in shapes.items():
        mine = (rows["model"] == name).to_numpy()
        check_int64_work(numbers["batch"][mine] * shape.heads, numbers["seq_q"][mine],
                         seq_len[mine], shape.head_dim, f"model {name!r}, column 'seq_len'")
    size_columns = _size_columns(rows)
    size = len(rows)
    metrics = {name: np.full(size, np.nan) for name in ATTENTION_METRICS if name not in _TEXT}
    bound = _Labels(size, RESOURCE_ORDER)
    is_gpu = _lookup(rows["hardware"], lambda h: str(h).lower() in _gpu_names()).astype(bool)
    resolved: dict[tuple, tuple] = {}
    for key, index in group_rows(rows, _GROUP_BY):
        group = {name: values[index] for name, values in numbers.items()}
        shape = shapes[key[1]]
        if is_gpu[index[0]]:
            names = (key[0], key[2], key[3])  # hardware, cascade, profile: load once per chunk
            loaded = resolved[names] = resolved.get(names) or resolve(*names)
            sizes = {name: column[index] for name, column in size_columns.items()}
            values = _gpu_group(group, shape, key, loaded, sizes)
        else:
            values = _accelerator_group(group, shape, key)
        bound.put(index, values.pop("bound"))
        for name, value in values.items():
            metrics[name][index] = value
    if "training_pass" in rows.columns:  # fwd | bwd | fwdbwd: the backward model's rows
        from simulator.gpu.backward_sweep import price_passes
        price_passes(rows, metrics, bound, is_gpu, shapes)
    metrics["spilled"] = metrics["spilled"] == 1.0
    metrics["fits_in_memory"] = metrics["fits_in_memory"] == 1.0
    metrics["arithmetic_intensity"] = metrics["flops"] / metrics["dram_bytes"]
    metrics["kv_cache_bytes"] = _kv_cache_bytes(rows, shapes)
    metrics["passes"] = np.nan_to_num(metrics["passes"]).astype(np.int64)  # a count, written 1 not 1.0
    # GPUs: board power (TDP, from the spec YAML); arrays: modelled energy over latency.
    tdp = _lookup(rows["hardware"], lambda h: _tdp(str(h)))
    metrics["power_w"] = np.where(is_gpu, tdp, metrics["energy_j"] / metrics["time_s"])
    columns = {"seq_q": numbers["seq_q"],
               "kind": pd.Categorical.from_codes(np.where(is_gpu, 0, 1), categories=_KINDS),
               **metrics, "bound": bound.categorical()}
    # copy=False: one block per column, no consolidating copy of 10⁶-row arrays.
    # rows whose footprint exceeds the GPU's DRAM cannot run: the engine keeps them infeasible
    columns["feasible"] = metrics["fits_in_memory"]
    added = pd.DataFrame({name: columns[name] for name in ("seq_q", *ATTENTION_METRICS, "feasible")},
                         copy=False)
    return pd.concat([rows.drop(columns=[c for c in added.columns if c in rows.columns]), added],
                     axis=1)


class _Labels:
    """A text column gathered group by group as integer codes over a growing vocabulary.

    Keeping codes (not one Python string per row) lets a 10⁶-row chunk carry its
    ``bound`` column as a pandas Categorical without ever hashing the strings.
    """

    def __init__(self, size: int, vocabulary: tuple[str, ...] = ()):
        self.codes = np.full(size, -1, dtype=np.int16)
        self.names = list(vocabulary)

    def put(self, index: np.ndarray, values) -> None:
        """Store ``values`` (a Categorical, or names) at row positions ``index``."""
        if not isinstance(values, pd.Categorical):
            values = pd.Categorical(np.broadcast_to(np.asarray(values, dtype=object), len(index)))
        known = {name: code for code, name in enumerate(self.names)}
        for name in values.categories:
            if name not in known:
                known[name] = len(self.names)
                self.names.append(name)
        remap = np.array([known[name] for name in values.categories] + [-1], dtype=np.int16)
        self.codes[index] = remap[values.codes]  # code -1 (missing) picks the trailing -1

    def categorical(self) -> pd.Categorical:
        """The column (missing where no group wrote)."""
        return pd.Categorical.from_codes(self.codes, categories=self.names)


@lru_cache(maxsize=64)
def _tdp(hardware: str) -> float:
    """A GPU's TDP in watts (NaN for accelerators and GPUs without ``power.tdp``)."""
    if hardware.lower() not in _gpu_names():
        return float("nan")
    watts = load_gpu(hardware).tdp_watts
    return float("nan") if watts is None else float(watts)


def _check_hardware(column: pd.Series) -> None:
    """Every name is a GPU of the catalogue or a spatial design ("v100" is neither)."""
    from simulator.spatial.designs import list_designs

    known = _gpu_names() | {d.lower() for d in list_designs()}
    for name in pd.unique(column):
        if str(name).lower() not in known:
            raise SpecError(f"column 'hardware': unknown hardware {str(name)!r}; expected a GPU "
                            f"({', '.join(sorted(_gpu_names()))}) or an accelerator design "
                            f"({', '.join(list_designs())})")


@lru_cache(maxsize=1)
def _gpu_names() -> frozenset[str]:
    names = set(list_gpus())
    names |= {alias.lower() for name in list_gpus() for alias in load_gpu(name).aliases}
    return frozenset(names)


def _size_columns(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Upper-case columns: sizes of the cascade's own symbols (positive integers)."""
    out = {}
    for name in rows.columns:
        if not (isinstance(name, str) and name[:1].isupper() and name.replace("_", "").isalnum()):
            continue
        values = rows[name].to_numpy()
        if values.dtype.kind not in "iu" or (values <= 0).any():
            raise SpecError(f"column '{name}': a cascade size, expected positive integers")
        out[name] = values.astype(np.int64)
    return out


def _check_nulls(rows: pd.DataFrame) -> None:
    """``null`` (blank) only where a column does not apply: ``window`` off window rows."""
    for column in ("seq_len", "batch"):
        if rows[column].isna().any():
            raise SpecError(f"column '{column}': null given; expected a positive integer on every row")
    if rows["window"].isna().to_numpy()[(rows["mask"] == "window").to_numpy()].any():
        raise SpecError("column 'window': null on a row with mask 'window'; expected its window in keys")


def _check_categories(rows: pd.DataFrame) -> None:
    for column, allowed in (("phase", ("prefill", "decode")),
                            ("mask", ("dense", "causal", "window"))):
        bad = sorted({str(v) for v in rows[column].unique()} - set(allowed))
        if bad:
            raise SpecError(f"column '{column}': expected one of {', '.join(allowed)}, "
                            f"got {', '.join(bad)}")


def _gpu_group(rows: dict[str, np.ndarray], shape, key: tuple, loaded: tuple,
               sizes: dict[str, np.ndarray]) -> dict[str, Any]:
    """One vectorised GPU call for a group: the cascade's variant the ``mask`` chooses.

    ``loaded`` is the (GPU, cascade, kernel profile) of the key, already loaded; ``sizes``
    are the group's values of the upper-case size columns.
    """
    gpu, cascade, profile = loaded
    mask, dtype, kv_dtype = key[4:]
    given = dict(sizes)
    if mask != "dense":
        cascade = _variant(cascade, mask)
        if mask == "window":
            given.setdefault(window_symbol(cascade), rows["window"])
    batch, seq_q, seq_kv, grid_sizes, gather = _as_grid(rows["batch"], rows["seq_q"],
                                                         rows["seq_len"], given)
    pred = predict_batch(gpu, cascade, profile=profile, dtype=dtype, kv_dtype=kv_dtype,
                         batch=batch, heads=shape.heads, kv_heads=shape.kv_heads, seq_q=seq_q,
                         seq_kv=seq_kv, head_dim=shape.head_dim, detail=False,
                         sizes=grid_sizes or None)
    names, index = binding_index(pred.resource_times_s)
    columns = {name: gather(value) if np.ndim(value) else value
               for name, value in _prediction_columns(pred, gpu).items() if name != "bound"}
    columns["bound"] = pd.Categorical.from_codes(gather(index), categories=names)
    return columns


@lru_cache(maxsize=64)
def _variant(cascade, mask: str):
    """The cascade's ``causal`` / ``window`` variant (one-line error if it has its own mask)."""
    import einsum

    try:
        return einsum.with_mask(cascade, mask)
    except einsum.EinsumError as err:
        raise SpecError(f"column 'mask': {err}") from None


def _as_grid(batch: np.ndarray, seq_q: np.ndarray, seq_kv: np.ndarray,
             sizes: dict[str, np.ndarray]):
    """The rows' sizes as a (batch) × (shapes) grid, when the rows nearly fill one.

    A sweep's rows usually form a product of batch sizes and sequence lengths. Priced as
    a column of batches against a row of shapes (sequence lengths and cascade sizes),
    every quantity that depends on the shapes only (tiles, steps, per-step work) is
    computed once per shape, not once per row; ``gather`` then picks each row's value out
    of the grid.

    Returns
    -------
    batch, seq_q, seq_kv : numpy.ndarray
        Shapes (B, 1), (1, L), (1, L), or the rows unchanged.
    sizes : dict
        The cascade sizes, shaped (1, L) like the lengths (or the rows').
    gather : callable
        Grid-shaped (or row-shaped) values → one value per row.
    """
    b_codes, b_values = pd.factorize(batch, sort=True)
    columns = [seq_q, seq_kv, *sizes.values()]
    table = np.stack([np.asarray(c, dtype=np.int64) for c in columns], axis=1)
    _, l_first, l_codes = np.unique(table, axis=0, return_index=True, return_inverse=True)
    if len(b_values) * len(l_first) > 2 * len(batch):  # too sparse: price the rows as they are
        return batch, seq_q, seq_kv, sizes, lambda value: np.broadcast_to(value, len(batch))
    l_codes = l_codes.reshape(-1)
    grid_shape = (len(b_values), len(l_first))

    def gather(value: np.ndarray) -> np.ndarray:
        return np.broadcast_to(value, grid_shape)[b_codes, l_codes]

    shaped = {name: np.asarray(value)[l_first][None, :] for name, value in sizes.items()}
    return (np.asarray(b_values)[:, None], seq_q[l_first][None, :], seq_kv[l_first][None, :],
            shaped, gather)


def _prediction_columns(pred, gpu) -> dict[str, np.ndarray]:
    return {"time_s": pred.time_s, "flops": pred.flops, "tflops_per_s": pred.tflops_per_s,
            "bound": pred.bound, "passes": pred.passes, "dram_bytes": pred.dram_bytes,
            "buffer_bytes": pred.buffer_bytes, "spilled": pred.spilled,
            "memory_bytes": gpu.dram_bytes, "resident_bytes": pred.resident_bytes,
            "fits_in_memory": pred.fits_in_memory}


def _accelerator_group(rows: dict[str, np.ndarray], shape, key: tuple) -> dict[str, Any]:
    """The spatial model, with the ``array`` column as a square PE array."""
    from simulator.spatial.sweep import evaluate_spatial

    hardware, model, _, _, mask, _, _ = key
    if mask != "dense" or not rows["prefill"].all():
        raise SpecError(f"hardware {hardware!r}: the spatial model prices dense prefill "
                        f"(self-attention) only; filter out mask/phase {mask}/decode rows")
    side = rows["array"].astype(float)
    if (side <= 0).any():
        raise SpecError(f"hardware {hardware!r}: column 'array' must give the PE array side (> 0)")
    spatial = evaluate_spatial(pd.DataFrame({
        "design": hardware, "model": model, "scope": "attention", "batch": rows["batch"],
        "seq_len": rows["seq_len"], "rows": side, "cols": side}))
    flops = 4.0 * rows["batch"] * shape.heads * rows["seq_len"] ** 2 * shape.head_dim
    latency = spatial["latency"].to_numpy(dtype=float)
    return {"time_s": latency, "flops": flops, "tflops_per_s": flops / latency / 1e12,
            "bound": spatial["bound"].to_numpy(), "passes": 1,
            "dram_bytes": spatial["dram_bytes"].to_numpy(dtype=float),
            "buffer_bytes": spatial["buffer_bytes_used"].to_numpy(dtype=float),
            "spilled": spatial["spill_fraction"].to_numpy(dtype=float) > 0,
            "energy_j": spatial["energy"].to_numpy(dtype=float),
            "area_m2": spatial["area"].to_numpy(dtype=float), "memory_bytes": np.inf,
            "resident_bytes": np.nan, "fits_in_memory": True}


def _lookup(column: pd.Series, func) -> np.ndarray:
    """``func`` applied once per distinct value, spread over the rows."""
    codes, values = column_codes(column)
    used = np.bincount(codes, minlength=len(values)) > 0  # a Categorical may list absent values
    return np.array([func(v) if u and v is not None else np.nan for v, u in zip(values, used)],
                    dtype=float)[codes]


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
