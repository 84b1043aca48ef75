"""The ``training_pass`` column of the ``attention`` sweep evaluator: fwd, bwd or fwdbwd rows.

(``pass`` itself is a Python keyword, which sweep specs reject as a column name.) A spec that
sweeps ``training_pass: [fwd, bwd, fwdbwd]`` gets, on its ``bwd`` and ``fwdbwd`` GPU rows,
the backward model's time, FLOPs (FlashAttention convention: 2.5 and 3.5 × forward), DRAM
bytes and binding resource in place of the forward's (:func:`simulator.gpu.backward.
predict_pass`); ``fwd`` rows (and specs without the column) are unchanged. The rows are
priced once per distinct problem, so a pass axis costs one backward prediction per shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import einsum
from simulator.errors import SpecError
from simulator.gpu.backward import PASSES, predict_pass
from simulator.gpu.masks import window_symbol
from simulator.workload import AttentionProblem

__all__ = ["COLUMN", "price_passes"]

#: The sweep column that chooses the pass.
COLUMN = "training_pass"

_KEY = ("hardware", "model", "cascade", "profile", "mask", "dtype", "kv_dtype", COLUMN,
        "batch", "seq_len", "phase", "window")


def price_passes(rows: pd.DataFrame, metrics: dict[str, np.ndarray], bound: Any,
                 is_gpu: np.ndarray, shapes: dict) -> None:
    """Overwrite the metrics of the rows whose ``training_pass`` is ``bwd`` or ``fwdbwd`` (in place).

    ``bound`` is the evaluator's label collector (``put(index, names)``).

    Raises
    ------
    SpecError
        An unknown pass, or a backward asked of a spatial accelerator.
    """
    passes = rows[COLUMN].astype(str).to_numpy()
    bad = sorted(set(passes) - set(PASSES))
    if bad:
        raise SpecError(f"column '{COLUMN}': expected one of {', '.join(PASSES)}, got {', '.join(bad)}")
    todo = np.flatnonzero(passes != "fwd")
    if not len(todo):
        return
    if not is_gpu[todo].all():
        raise SpecError(f"column '{COLUMN}': bwd and fwdbwd are priced on GPUs only; filter out "
                        "accelerator rows")
    keys = rows.iloc[todo][list(_KEY)].astype(str).agg("|".join, axis=1).to_numpy()
    for key in dict.fromkeys(keys):
        index = todo[keys == key]
        pred = _one(rows.iloc[index[0]], shapes)
        if pred.extra.get("pass") == "bwd":  # the backward model does not size CTA buffers
            metrics["buffer_bytes"][index] = np.nan
        for name, value in (("time_s", pred.time_s), ("flops", pred.flops),
                            ("tflops_per_s", pred.tflops_per_s), ("dram_bytes", pred.dram_bytes)):
            metrics[name][index] = value
        bound.put(index, [pred.bound] * len(index))


def _one(row: pd.Series, shapes: dict):
    """The pass prediction of one row."""
    shape = shapes[row["model"]]
    prefill = row["phase"] == "prefill"
    cascade = einsum.load(str(row["cascade"]))
    sizes = {}
    if row["mask"] == "window":
        cascade = einsum.with_mask(cascade, "window")
        sizes[window_symbol(cascade)] = int(row["window"])
    problem = AttentionProblem(batch=int(row["batch"]), heads=shape.heads, kv_heads=shape.kv_heads,
                               seq_q=int(row["seq_len"]) if prefill else 1,
                               seq_kv=int(row["seq_len"]), head_dim_qk=shape.head_dim,
                               dtype=str(row["dtype"]), kv_dtype=str(row["kv_dtype"]),
                               causal=row["mask"] == "causal")
    return predict_pass(str(row["hardware"]), cascade, problem, str(row[COLUMN]),
                        profile=str(row["profile"]), sizes=sizes or None)
