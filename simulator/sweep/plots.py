"""PNG plots of a sweep, drawn with matplotlib's Agg canvas (no pyplot, no global state).

* :func:`plot_pareto_front` — the first two objectives: feasible points in grey and one
  series per ``pareto_by`` group for the front (up to :data:`MAX_SERIES` groups).
* :func:`plot_roofline_scatter` — a generic roofline-style scatter of
  ``arithmetic_intensity`` vs ``tflops_per_s``, one PNG per ``hardware``. It is the
  default plot hook; an evaluator entry's ``plot_hooks`` replace it.

Every file is written to a temporary name and moved into place. The ``*_png`` functions
return the bytes instead, so that a worker process can draw and the parent write.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> points = pd.DataFrame({"hardware": ["a", "a", "b"], "arithmetic_intensity": [1.0, 10, 100],
...                        "tflops_per_s": [1.0, 5, 9], "bound": ["memory"] * 3})
>>> [p.name for p in plot_roofline_scatter(points, Path(tempfile.mkdtemp()))]
['roofline_a.png', 'roofline_b.png']
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from simulator.pareto import Objective
from simulator.sweep.figures import MAX_SERIES, roofline_groups, roofline_name, series_groups
from simulator.sweep.store import atomic_path

__all__ = [
    "MAX_SERIES",
    "pareto_front_png",
    "plot_pareto_front",
    "plot_roofline_scatter",
    "roofline_png",
    "write_png",
]



def plot_pareto_front(
    points: pd.DataFrame,
    pareto: pd.DataFrame,
    objectives: Sequence[Objective],
    by: Sequence[str],
    path: Path,
    *,
    title: str = "",
) -> Path | None:
    """Draw the front of the first two objectives.

    Parameters
    ----------
    points : pandas.DataFrame
        Feasible points drawn as the grey background (may be a sample).
    pareto : pandas.DataFrame
        The non-dominated points.
    objectives : sequence of Objective
        At least two; the first two are the axes.
    by : sequence of str
        Group columns: one series per group.
    path : Path
        The PNG to write.
    title : str, optional

    Returns
    -------
    Path or None
        ``path``, or None when there are fewer than two objectives or no front.
    """
    data = pareto_front_png(points, pareto, objectives, by, title=title)
    if data is None:
        return None
    write_png(path, data)
    return path


def pareto_front_png(
    points: pd.DataFrame,
    pareto: pd.DataFrame,
    objectives: Sequence[Objective],
    by: Sequence[str],
    *,
    title: str = "",
) -> bytes | None:
    """The PNG bytes of :func:`plot_pareto_front` (None when there is nothing to draw)."""
    if len(objectives) < 2 or len(pareto) == 0:
        return None
    x, y = objectives[0].column, objectives[1].column
    figure = Figure(figsize=(9.5, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(points[x], points[y], s=6, c="0.8", label="feasible points", rasterized=True)
    groups = series_groups(pareto, by)
    _draw_fronts(axes, groups[:MAX_SERIES], objectives)
    axes.set_xlabel(f"{x} ({objectives[0].sense})")
    axes.set_ylabel(f"{y} ({objectives[1].sense})")
    _log_scale_if_wide(axes, pareto[x], pareto[y])
    extra = f" ({MAX_SERIES} of {len(groups)} groups)" if len(groups) > MAX_SERIES else ""
    axes.set_title(f"{title}{extra}")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), title=", ".join(by) or None)
    axes.grid(True, alpha=0.3)
    return _png(figure, right=0.7)


def plot_roofline_scatter(points: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Scatter achieved FLOP rate against arithmetic intensity, one PNG per hardware.

    Parameters
    ----------
    points : pandas.DataFrame
        Needs ``hardware``, ``arithmetic_intensity`` and ``tflops_per_s`` columns (else
        nothing is drawn); a ``bound`` column, if any, colours the points.
    out_dir : Path

    Returns
    -------
    list of Path
        The files written, ``roofline_<hardware>.png``.
    """
    written = []
    for label, group in roofline_groups(points):
        path = Path(out_dir) / roofline_name(label)
        write_png(path, roofline_png(label, group))
        written.append(path)
    return written


def roofline_png(label: str, group: pd.DataFrame) -> bytes:
    """The PNG bytes of one hardware's roofline scatter."""
    figure = Figure(figsize=(6, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colour_by = [("all points", group)] if "bound" not in group else series_groups(group, ["bound"])
    for name, part in colour_by:
        axes.scatter(part["arithmetic_intensity"], part["tflops_per_s"], s=8, label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.minorticks_off()  # minor log ticks would double the drawing time
    axes.set_xlabel("arithmetic intensity (FLOP/byte)")
    axes.set_ylabel("achieved TFLOP/s")
    axes.set_title(f"{label}: roofline scatter")
    axes.legend(fontsize="small", title="bound" if "bound" in group else None)
    axes.grid(True, alpha=0.3)
    return _png(figure)


def write_png(path: Path, data: bytes) -> None:
    """Write PNG bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _draw_fronts(axes: Any, groups: list[tuple[str, pd.DataFrame]], objectives: Sequence[Objective]) -> None:
    """One series per group; lines only for two objectives (else the projection zigzags)."""
    x, y = objectives[0].column, objectives[1].column
    width = 1.0 if len(objectives) == 2 else 0.0
    for label, group in groups:
        group = group.sort_values([x, y], ascending=objectives[0].sense == "min", kind="stable")
        axes.plot(group[x], group[y], marker="o", markersize=4, linewidth=width, label=label)


def _log_scale_if_wide(axes: Any, x: pd.Series, y: pd.Series) -> None:
    """Use log axes for positive data spanning more than two decades."""
    for values, setter in ((x, axes.set_xscale), (y, axes.set_yscale)):
        data = np.asarray(values, dtype=float)
        data = data[np.isfinite(data)]
        if len(data) and data.min() > 0 and data.max() / data.min() > 100:
            setter("log")
            axes.minorticks_off()


def _png(figure: Figure, right: float = 0.97) -> bytes:
    """A figure as PNG bytes, without a timestamp in its metadata."""
    # Fixed margins: tight_layout would double the drawing time of log-scaled axes.
    figure.subplots_adjust(left=0.12, right=right, bottom=0.12, top=0.92)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
