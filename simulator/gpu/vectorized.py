"""The GPU model as a sweep evaluator: a DataFrame of problems in, metric columns out.

A sweep spec can name it ``evaluator: "simulator.gpu.vectorized:evaluate_gpu"``. Rows are
grouped by the categorical columns (hardware, cascade, kernel profile, dtypes) and each
group is priced with one vectorised :func:`~simulator.gpu.predict_batch` call.

Examples
--------
>>> import pandas as pd
>>> chunk = pd.DataFrame({"hardware": ["h100", "b200"], "seq_q": [4096, 4096]})
>>> for name, value in GPU_DEFAULTS.items():
...     chunk[name] = chunk.get(name, value)
>>> out = evaluate_gpu(chunk)
>>> out["bound"].tolist(), bool(out["time_s"].iloc[1] < out["time_s"].iloc[0])
(['tensor', 'tensor'], True)
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pandas as pd

from simulator.gpu.model import predict_batch

__all__ = ["GPU_DEFAULTS", "GPU_METRICS", "evaluate_gpu"]

#: Input columns and the values used when a sweep does not set them (seq_kv 0 = seq_q).
GPU_DEFAULTS = MappingProxyType({
    "hardware": "h100", "cascade": "attention-1pass", "profile": "auto", "dtype": "fp16",
    "kv_dtype": "", "batch": 1, "heads": 32, "kv_heads": 0, "seq_q": 4096, "seq_kv": 0,
    "head_dim": 128, "causal": False,
})
#: Metric columns added (base SI units; ``t_<resource>`` = time of each resource alone).
GPU_METRICS = ("time_s", "flops", "tflops_per_s", "bound", "dram_bytes", "buffer_bytes",
               "passes", "spilled", "t_tensor", "t_exp", "t_fp32", "t_smem", "t_dram",
               "t_launch")
_GROUP = ["hardware", "cascade", "profile", "dtype", "kv_dtype"]


def _group_metrics(rows: pd.DataFrame, key: tuple) -> dict[str, np.ndarray]:
    """Price one group of rows sharing hardware, cascade, profile and dtypes."""
    hardware, cascade, profile, dtype, kv_dtype = key
    seq_q = rows["seq_q"].to_numpy()
    kv_heads = rows["kv_heads"].to_numpy()
    seq_kv = rows["seq_kv"].to_numpy()
    pred = predict_batch(hardware, cascade, profile=profile, dtype=dtype,
                         kv_dtype=kv_dtype or None, batch=rows["batch"].to_numpy(),
                         heads=rows["heads"].to_numpy(),
                         kv_heads=np.where(kv_heads > 0, kv_heads, rows["heads"].to_numpy()),
                         seq_q=seq_q, seq_kv=np.where(seq_kv > 0, seq_kv, seq_q),
                         head_dim=rows["head_dim"].to_numpy(),
                         causal=rows["causal"].to_numpy(dtype=bool))
    size = len(rows)
    metrics = {name: np.broadcast_to(getattr(pred, name), size) for name in
               ("time_s", "flops", "tflops_per_s", "bound", "dram_bytes", "buffer_bytes",
                "passes", "spilled")}
    for resource, value in pred.resource_times_s.items():
        metrics[f"t_{resource}"] = np.broadcast_to(value, size)
    return metrics


def evaluate_gpu(chunk: pd.DataFrame) -> pd.DataFrame:
    """GPU-model metrics for every row: time, FLOP/s, binding resource, traffic, buffers.

    Parameters
    ----------
    chunk : pandas.DataFrame
        The columns of :data:`GPU_DEFAULTS` (the sweep engine adds missing ones).

    Returns
    -------
    pandas.DataFrame
        ``chunk`` with the :data:`GPU_METRICS` columns added, same rows and order.

    Raises
    ------
    SpecError
        Unknown GPU, cascade, profile or dtype, or invalid sizes.

    Examples
    --------
    >>> chunk = pd.DataFrame({**GPU_DEFAULTS, "seq_q": [1024, 16384]})
    >>> evaluate_gpu(chunk)["tflops_per_s"].round(-1).tolist()
    [490.0, 640.0]
    """
    out = chunk.copy()
    columns: dict[str, np.ndarray] = {name: np.empty(len(chunk), dtype=object)
                                      for name in GPU_METRICS}
    for key, rows in chunk.groupby(_GROUP, sort=False):
        position = chunk.index.get_indexer(rows.index)
        for name, values in _group_metrics(rows, key).items():
            columns[name][position] = values
    for name, values in columns.items():
        out[name] = values if name == "bound" else pd.to_numeric(values)
    return out
