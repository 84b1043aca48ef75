"""PNG figures of the FuseMax reproduction (matplotlib, Agg backend, deterministic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["draw_figures"]

_LABELS = {"unfused": "Unfused", "flat": "FLAT", "cascade": "+Cascade",
           "architecture": "+Architecture", "fusemax": "FuseMax (+Binding)"}


def _pyplot() -> Any:
    """Import pyplot on the non-interactive backend, with PNG metadata fixed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _length(tokens: int) -> str:
    """1048576 → '1M', 4096 → '4K'."""
    return f"{tokens // 2**20}M" if tokens % 2**20 == 0 else f"{tokens // 2**10}K"


def _bars(ax: Any, frame: pd.DataFrame, designs: list[str], value: str, lengths: list[int]) -> None:
    """Grouped bars: one group per sequence length, one bar per design."""
    width = 0.8 / len(designs)
    x = np.arange(len(lengths))
    for i, design in enumerate(designs):
        part = frame[frame["design"] == design].set_index("seq_len").reindex(lengths)
        ax.bar(x + (i - (len(designs) - 1) / 2) * width, part[value], width,
               label=_LABELS.get(design, design))
    ax.set_xticks(x, [_length(n) for n in lengths])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)


def _legend_below(fig: Any, ax: Any) -> None:
    """One legend for the whole figure, in a row under the panels."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)


def _speedup_figure(rep: Any, scope: str, path: Path) -> Path:
    """Speedup over FLAT per model and length (one panel per model)."""
    plt = _pyplot()
    rows = rep.rows[rep.rows["scope"] == scope]
    designs = [d for d in rep.config.designs if d != "flat"]
    models = list(rep.config.models)
    fig, axes = plt.subplots(2, (len(models) + 1) // 2, figsize=(12, 7), squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.1, top=0.91, hspace=0.3, wspace=0.15)
    for ax, model in zip(axes.ravel(), models):
        _bars(ax, rows[rows["model"] == model], designs, "speedup_vs_flat",
              list(rep.config.seq_lens))
        ax.set_title(model)
        ax.set_ylabel("speedup over FLAT")
    _legend_below(fig, axes.ravel()[0])
    title = "Attention" if scope == "attention" else "End-to-end (attention + linear layers)"
    fig.suptitle(f"{title}: speedup over FLAT (einsim model), batch {rep.config.batch}")
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def _utilization_figure(rep: Any, path: Path) -> Path:
    """2-D and 1-D utilisation per design vs length (mean over models), attention only."""
    plt = _pyplot()
    rows = rep.rows[rep.rows["scope"] == "attention"]
    mean = rows.groupby(["design", "seq_len"], sort=False)[["util_2d", "util_1d"]].mean()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.17, top=0.9, wspace=0.15)
    lengths = list(rep.config.seq_lens)
    for ax, column, title in zip(axes, ("util_2d", "util_1d"), ("2-D array", "1-D array")):
        for design in rep.config.designs:
            ax.plot(range(len(lengths)), mean.loc[design][column].reindex(lengths), marker="o",
                    label=_LABELS.get(design, design))
        ax.set_xticks(range(len(lengths)), [_length(n) for n in lengths])
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{title} utilisation (mean over models)")
        ax.grid(alpha=0.3)
    _legend_below(fig, axes[0])
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def _energy_figure(rep: Any, path: Path) -> Path:
    """Energy relative to FLAT per design and length (mean over models), both scopes."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.17, top=0.9, wspace=0.15)
    designs = [d for d in rep.config.designs if d != "flat"]
    for ax, scope in zip(axes, ("attention", "end_to_end")):
        rows = rep.rows[rep.rows["scope"] == scope]
        mean = rows.groupby(["design", "seq_len"], sort=False)["energy_vs_flat"].mean()
        _bars(ax, mean.reset_index(), designs, "energy_vs_flat", list(rep.config.seq_lens))
        ax.set_title(f"{scope.replace('_', '-')}: energy / FLAT's (mean over models)")
    _legend_below(fig, axes[0])
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def _pareto_figure(rep: Any, path: Path) -> Path:
    """Area vs latency of the swept array shapes, Pareto front highlighted."""
    plt = _pyplot()
    sweep = rep.sweep
    models = list(dict.fromkeys(sweep["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.5), squeeze=False)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=0.86, wspace=0.25)
    for ax, model in zip(axes.ravel(), models):
        part = sweep[sweep["model"] == model]
        front = part[part["pareto"]].sort_values("area_m2")
        ax.scatter(part["area_m2"] * 1e6, part["latency_s"], s=12, color="grey",
                   label="array shapes")
        ax.plot(front["area_m2"] * 1e6, front["latency_s"], marker="o", color="C3",
                label="Pareto front")
        for _, row in front.iterrows():
            if row["rows"] == row["cols"]:
                ax.annotate(f"{row['rows']}x{row['cols']}", (row["area_m2"] * 1e6,
                            row["latency_s"]), fontsize=7, xytext=(4, 4),
                            textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.minorticks_off()
        ax.margins(x=0.15, y=0.1)
        ax.set_xlabel("area (mm², arrays + global buffer)")
        ax.set_ylabel("attention latency (s)")
        ax.set_title(f"{model}, {_length(int(part['seq_len'].iloc[0]))} tokens")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{rep.config.sweep_design}: area vs latency, 2-D array "
                 f"{min(rep.config.sweep_sizes)}..{max(rep.config.sweep_sizes)} per side")
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def draw_figures(rep: Any, out: Path) -> list[Path]:
    """Draw every figure into ``out``; return the PNG paths."""
    return [_speedup_figure(rep, "attention", out / "attention_speedup.png"),
            _speedup_figure(rep, "end_to_end", out / "end_to_end_speedup.png"),
            _utilization_figure(rep, out / "utilization.png"),
            _energy_figure(rep, out / "energy.png"),
            _pareto_figure(rep, out / "area_latency_pareto.png")]
