"""Where each GPU is bound as a problem grows: a GPU × size grid of binding resources.

:func:`bound_grid` prices one attention problem per (GPU, size) with the GPU model and
:func:`regime_figure` draws the grid as a heatmap, each cell coloured by the binding
resource and labelled with the achieved TFLOP/s, so the length or head dim at which a
GPU turns from tensor- to exp- to memory-bound can be read off directly.

Examples
--------
>>> from simulator.workload import AttentionProblem
>>> base = AttentionProblem(batch=1, heads=32, kv_heads=8, seq_q=4096, seq_kv=4096, head_dim_qk=128)
>>> grid = bound_grid(["h100", "b200"], "attention-1pass", base, "head_dim", [64, 128])
>>> grid[["hardware", "head_dim", "bound"]].values.tolist()
[['h100-sxm5', 64, 'exp'], ['h100-sxm5', 128, 'tensor'], ['b200', 64, 'exp'], ['b200', 128, 'tensor']]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from simulator.gpu import predict, resolve
from simulator.plots._base import bound_colour, new_figure
from simulator.workload import AttentionProblem

__all__ = ["AXES", "bound_grid", "regime_figure"]

#: What :func:`bound_grid` can vary: axis name -> the problem fields it sets.
AXES = {"seq_len": ("seq_q", "seq_kv"), "seq_kv": ("seq_kv",), "head_dim": ("head_dim_qk", "head_dim_v")}


def bound_grid(gpus: Sequence[str], cascade: str, problem: AttentionProblem, axis: str,
               values: Sequence[int], profile: str = "auto") -> pd.DataFrame:
    """Price ``problem`` on each GPU with ``axis`` set to each value.

    Parameters
    ----------
    gpus : sequence of str
        Catalogue names or aliases.
    cascade : str
        Built-in cascade name or path.
    problem : AttentionProblem
        The base problem.
    axis : {"seq_len", "seq_kv", "head_dim"}
        ``seq_len`` sets queries and keys (prefill), ``seq_kv`` only the keys (decode).
    values : sequence of int
    profile : str
        Kernel profile (``auto``: by architecture).

    Returns
    -------
    pandas.DataFrame
        ``hardware, <axis>, bound, time_s, tflops_per_s``, GPUs in the given order.
    """
    fields = AXES[axis]
    rows = []
    for name in gpus:
        gpu, c, prof = resolve(name, cascade, profile)
        for value in values:
            p = dataclasses.replace(problem, **{f: int(value) for f in fields})
            pred = predict(gpu, c, p, profile=prof)
            rows.append({"hardware": gpu.name, axis: int(value), "bound": pred.bound,
                         "time_s": pred.time_s, "tflops_per_s": pred.tflops_per_s})
    return pd.DataFrame(rows)


def regime_figure(grid: pd.DataFrame, axis: str, *, title: str = "") -> Figure:
    """Heatmap of a :func:`bound_grid`: GPUs down, sizes across, colour = binding resource."""
    gpus = list(dict.fromkeys(grid["hardware"]))
    values = sorted(grid[axis].unique())
    bounds = list(dict.fromkeys(grid["bound"]))
    codes = grid.assign(code=grid["bound"].map({b: i for i, b in enumerate(bounds)}))
    table = codes.pivot(index="hardware", columns=axis, values="code").loc[gpus, values]
    rates = codes.pivot(index="hardware", columns=axis, values="tflops_per_s").loc[gpus, values]
    width, height = 2.6 + 0.8 * len(values), 1.4 + 0.5 * len(gpus)
    figure, axes = new_figure(width, height)
    cmap = ListedColormap([bound_colour(b) for b in bounds])
    axes.imshow(table.to_numpy(dtype=float), cmap=cmap, vmin=-0.5, vmax=len(bounds) - 0.5,
                aspect="auto", alpha=0.75)
    for (i, j), rate in np.ndenumerate(rates.to_numpy()):
        axes.text(j, i, f"{rate:.0f}", ha="center", va="center", fontsize=7)
    axes.set_xticks(range(len(values)), [_size_label(v) for v in values], fontsize=8)
    axes.set_yticks(range(len(gpus)), gpus, fontsize=8)
    label = _LABELS[axis]
    axes.set_xlabel(label)
    for bound in bounds:
        axes.scatter([], [], marker="s", s=60, color=bound_colour(bound), alpha=0.75, label=bound)
    axes.legend(title="bound by", fontsize=7, title_fontsize=7, loc="upper left",
                bbox_to_anchor=(1.01, 1.0), frameon=False)
    default = f"Binding resource vs {label.split(' (')[0]} (cell: achieved TFLOP/s)"
    axes.set_title(title or default, fontsize=9)
    figure.subplots_adjust(left=1.25 / width, right=1 - 1.05 / width, bottom=0.5 / height,
                           top=1 - 0.35 / height)
    return figure


_LABELS = {"seq_len": "sequence length (queries = keys, tokens)", "seq_kv": "KV length (tokens)",
           "head_dim": "head dim E = F"}


def _size_label(value: int) -> str:
    """1024 -> '1K', 131072 -> '128K', 96 -> '96'."""
    return f"{value // 1024}K" if value >= 1024 and value % 1024 == 0 else str(value)
