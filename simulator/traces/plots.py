"""The two validation figures: predicted vs measured, and error vs problem size.

Both colour points by kernel family; marker size grows with the launch count.
"""

from __future__ import annotations

import os
from typing import Any

from simulator.traces.validate import Validation

__all__ = ["error_vs_size", "predicted_vs_measured"]

_MARKERS = "osD^vP*X<>"


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6.4, 5.0), dpi=120)


def _by_family(validation: Validation) -> dict[str, list]:
    out: dict[str, list] = {}
    for row in validation.rows:
        out.setdefault(row.group.family, []).append(row)
    return out


def _size(count: int) -> float:
    return 25 + 10 * min(count, 40) ** 0.5


def _title(validation: Validation, what: str) -> str:
    traces = ", ".join(validation.traces)
    if len(traces) > 60:
        traces = f"{len(validation.traces)} traces"
    return f"{what}\n{traces} on {validation.hw}"


def predicted_vs_measured(validation: Validation, path: str | os.PathLike[str]) -> None:
    """Log-log scatter of predicted against measured time with the y = x line and a ±10% band."""
    import numpy as np

    fig, ax = _figure()
    rows = validation.rows
    times = [t for r in rows for t in (r.measured_s, r.predicted_s)] or [1e-6, 1e-3]
    lo, hi = min(times) * 1e6 / 1.6, max(times) * 1e6 * 1.6
    line = np.geomspace(lo, hi, 50)
    ax.fill_between(line, line * 0.9, line * 1.1, color="0.85", label="±10%")
    ax.plot(line, line, color="0.4", lw=1, label="predicted = measured")
    for index, (family, members) in enumerate(sorted(_by_family(validation).items())):
        ax.scatter([r.measured_s * 1e6 for r in members], [r.predicted_s * 1e6 for r in members],
                   s=[_size(r.group.count) for r in members], marker=_MARKERS[index % len(_MARKERS)],
                   label=family, zorder=3, edgecolor="black", linewidth=0.5)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured time (µs, median)",
           ylabel="predicted time (µs)")
    ax.set_title(_title(validation, f"Predicted vs measured attention kernel time "
                                    f"(MAPE {100 * validation.mape:.0f}%)"), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)


def error_vs_size(validation: Validation, path: str | os.PathLike[str]) -> None:
    """Signed error (%) against the problem's FLOPs, by kernel family."""
    fig, ax = _figure()
    ax.axhspan(-10, 10, color="0.85", label="±10%")
    ax.axhline(0, color="0.4", lw=1)
    for index, (family, members) in enumerate(sorted(_by_family(validation).items())):
        ax.scatter([r.flops for r in members], [100 * r.error for r in members],
                   s=[_size(r.group.count) for r in members], marker=_MARKERS[index % len(_MARKERS)],
                   label=family, zorder=3, edgecolor="black", linewidth=0.5)
    flops = [r.flops for r in validation.rows] or [1e9]
    errors = [100 * r.error for r in validation.rows] or [0.0]
    ax.set_xlim(min(flops) / 3, max(flops) * 3)
    ax.set_ylim(min(min(errors), -10) - 10, max(max(errors), 10) + 10)
    ax.set(xscale="log", xlabel="problem size (FLOP, model count)",
           ylabel="error: predicted / measured - 1 (%)")
    ax.set_title(_title(validation, "Prediction error vs problem size"), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
