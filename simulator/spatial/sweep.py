"""Sweep adapter: the spatial model as a vectorised evaluator for ``einsim sweep``.

Register name ``spatial`` (imported on demand; a sweep spec may also name
``simulator.spatial.sweep:evaluate_spatial``). Rows are grouped by the categorical columns
(``design``, ``model``, ``scope`` and, if present, ``gemm_pipeline``: ``fusemax`` or
``scale-sim``, see :func:`~simulator.spatial.gemm.gemm_cycles`) and each group is
evaluated in one vectorised call over the numeric columns (``batch``, ``seq_len``,
``rows``, ``cols``, ``pes_1d``, ``buffer_bytes``, ``dram_bytes_per_s``); missing columns
take :data:`SPATIAL_DEFAULTS` or the design's own hardware.

Examples
--------
>>> import pandas as pd
>>> chunk = pd.DataFrame({"rows": [128, 256], "cols": [128, 256], "seq_len": [65536, 65536]})
>>> out = evaluate_spatial(chunk)
>>> (out["latency"][0] / out["latency"][1]).round(2), bool(out["area"][0] < out["area"][1])
(np.float64(4.0), True)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from simulator.errors import SpecError
from simulator.spatial.designs import Workload, design_attention, design_end_to_end, load_design

__all__ = ["SPATIAL_DEFAULTS", "SPATIAL_METRICS", "evaluate_spatial"]

#: Input columns and the values used when a chunk lacks them (None: the design's hardware).
SPATIAL_DEFAULTS = MappingProxyType({
    "design": "fusemax", "model": "bert-base", "scope": "attention", "batch": 64,
    "seq_len": 16384, "rows": None, "cols": None, "pes_1d": None, "buffer_bytes": None,
    "dram_bytes_per_s": None, "gemm_pipeline": None,
})
#: Metric columns the evaluator adds.
SPATIAL_METRICS = ("latency", "energy", "area", "util_2d", "util_1d", "dram_bytes",
                   "buffer_bytes_used", "spill_fraction", "bound")

_OVERRIDES = ("rows", "cols", "pes_1d", "buffer_bytes", "dram_bytes_per_s")
# One value per call (not vectorised), so rows are grouped by them.
_CATEGORICAL_OVERRIDES = ("gemm_pipeline",)


def evaluate_spatial(chunk: pd.DataFrame) -> pd.DataFrame:
    """Add latency, energy, area, utilisation and traffic per row (see the module docstring).

    Parameters
    ----------
    chunk : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
        The chunk (same rows, same order) with :data:`SPATIAL_METRICS` columns.
    """
    out = chunk.copy()
    for name, value in SPATIAL_DEFAULTS.items():
        if name not in out.columns and value is not None:
            out[name] = value
    metrics = {name: np.empty(len(out), dtype=object if name == "bound" else float)
               for name in SPATIAL_METRICS}
    keys = ["design", "model", "scope"] + [k for k in _CATEGORICAL_OVERRIDES if k in out.columns]
    for _, index in out.groupby(keys, sort=False).groups.items():
        rows = out.loc[index]
        values = _evaluate_group(rows)
        positions = out.index.get_indexer(index)
        for name in SPATIAL_METRICS:
            metrics[name][positions] = np.broadcast_to(values[name], len(rows))
    for name, column in metrics.items():
        out[name] = column
    return out


def _check_sizes(name: str, values: np.ndarray, whole: bool) -> None:
    """A PE count is a positive integer, a buffer or a bandwidth a positive number."""
    bad = ~(np.isfinite(values) & (values > 0))
    if whole:
        bad |= np.isfinite(values) & (values != np.round(values))
    if bad.any():
        what = "a positive integer (a PE array has whole rows)" if whole else "a positive number"
        raise SpecError(f"column {name!r}: expected {what}, got {values[bad][0]:g}")


def _evaluate_group(rows: pd.DataFrame) -> dict[str, Any]:
    """One vectorised evaluation of rows sharing design, model and scope."""
    first = rows.iloc[0]
    design = load_design(str(first["design"]))
    overrides = {name: rows[name].to_numpy(dtype=float) for name in _OVERRIDES
                 if name in rows.columns}
    for name, values in overrides.items():
        _check_sizes(name, values, whole=name in ("rows", "cols", "pes_1d"))
    if "cols" in overrides and "pes_1d" not in overrides:
        overrides["pes_1d"] = overrides["cols"]  # one 1-D PE per query column
    for name in _CATEGORICAL_OVERRIDES:
        if name in rows.columns:
            overrides[name] = str(first[name])
    arch = design.load_architecture().with_overrides(**overrides)
    workload = Workload.from_model(str(first["model"]), rows["batch"].to_numpy(dtype=float),
                                   rows["seq_len"].to_numpy(dtype=float))
    if str(first["scope"]) == "end_to_end":
        layer = design_end_to_end(design, workload, arch)
        attention, latency, energy = layer.attention, layer.latency_s, layer.energy_j
        util, dram = layer.utilization, layer.dram_bytes
    else:
        attention = design_attention(design, workload, arch)
        latency, energy = attention.latency_s, attention.energy_j
        util, dram = attention.utilization, attention.dram_bytes
    return {"latency": latency, "energy": energy, "area": arch.area_m2(),
            "util_2d": util["array_2d"], "util_1d": util["array_1d"], "dram_bytes": dram,
            "buffer_bytes_used": attention.buffer_bytes,
            "spill_fraction": attention.spill_fraction, "bound": attention.bound}


def _register() -> None:
    """Register ``spatial`` with the sweep engine's evaluator registry."""
    from simulator.sweep.registry import register_evaluator

    register_evaluator("spatial", evaluate_spatial,
                       defaults={k: v for k, v in SPATIAL_DEFAULTS.items() if v is not None})


_register()
