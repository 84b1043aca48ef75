"""The ``serving`` sweep evaluator: serving throughput per (GPU, model, precision) row.

Columns read: ``hardware`` (a GPU), ``model``, ``precision`` (``fp16``, ``w8a8``, ``w4a16``,
``w4a8kv4``), ``input_tokens`` and ``output_tokens``; metrics added: ``batch`` (the largest
that fits, capped by the scheduler), ``tokens_per_s``, ``decode_step_s``, ``prefill_s``,
``attention_share``, and ``feasible`` (at least one sequence fits). Each distinct row is
priced once (:func:`simulator.layer.serving.serving_throughput`).

Examples
--------
>>> import pandas as pd
>>> rows = pd.DataFrame({"precision": ["fp16", "w4a8kv4"]})
>>> for name, value in SERVING_DEFAULTS.items():
...     rows[name] = rows.get(name, value)
>>> out = evaluate_serving(rows)
>>> bool(out["tokens_per_s"][1] > out["tokens_per_s"][0]), out["feasible"].tolist()
(True, [True, True])
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pandas as pd

from simulator.errors import SpecError
from simulator.layer.precision import PRECISIONS
from simulator.layer.serving import serving_throughput

__all__ = ["SERVING_DEFAULTS", "SERVING_METRICS", "evaluate_serving"]

#: Input columns and their defaults (QServe's benchmark lengths).
SERVING_DEFAULTS = MappingProxyType({"hardware": "a100", "model": "llama-3-8b",
                                     "precision": "w4a8kv4", "input_tokens": 1024,
                                     "output_tokens": 512})
#: Metric columns added.
SERVING_METRICS = ("batch", "tokens_per_s", "decode_step_s", "prefill_s", "attention_share")
_KEY = ("hardware", "model", "precision", "input_tokens", "output_tokens")


def evaluate_serving(chunk: pd.DataFrame) -> pd.DataFrame:
    """Serving throughput of every row; same rows, same order, metric columns added.

    Raises
    ------
    SpecError
        An unknown precision, GPU or model.
    """
    rows = chunk.reset_index(drop=True)
    bad = sorted({str(p) for p in rows["precision"].unique()} - set(PRECISIONS))
    if bad:
        raise SpecError(f"column 'precision': expected one of {', '.join(PRECISIONS)}, "
                        f"got {', '.join(bad)}")
    keys = rows[list(_KEY)].astype(str).agg("|".join, axis=1)
    metrics = {name: np.full(len(rows), np.nan) for name in SERVING_METRICS}
    for index in keys.groupby(keys).groups.values():
        first = rows.loc[index[0]]
        point = serving_throughput(str(first["hardware"]), str(first["model"]),
                                   str(first["precision"]), int(first["input_tokens"]),
                                   int(first["output_tokens"]))
        for name in SERVING_METRICS:
            metrics[name][np.asarray(index)] = getattr(point, name)
    added = pd.DataFrame({**metrics, "feasible": metrics["batch"] > 0})
    return pd.concat([rows.drop(columns=[c for c in added.columns if c in rows.columns]), added],
                     axis=1)


def _register() -> None:
    from simulator.sweep.registry import register_evaluator

    register_evaluator("serving", evaluate_serving, defaults=dict(SERVING_DEFAULTS))


_register()
