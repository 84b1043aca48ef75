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
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, MaxNLocator

from simulator.pareto import Objective
from simulator.plots._base import bound_colour
from simulator.sweep.ceilings import RoofLine
from simulator.sweep.csvtext import to_output_frame
from simulator.sweep.figures import MAX_SERIES, roofline_groups, roofline_name
from simulator.sweep.report import format_value
from simulator.sweep.store import atomic_path
from simulator.sweep.winners import natural_key, natural_order

__all__ = [
    "MAX_PANELS",
    "MAX_SERIES",
    "best_hardware_png",
    "pareto_front_png",
    "plot_pareto_front",
    "plot_roofline_scatter",
    "roofline_png",
    "write_png",
]

#: Most workload panels in ``pareto_front.png`` (the rest are counted in its title).
MAX_PANELS = 8
_UNITS = {"s": "s", "w": "W", "j": "J", "bytes": "bytes", "m2": "m²", "flops": "FLOP"}


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
    """The PNG bytes of :func:`plot_pareto_front` (None when there is nothing to draw).

    Small multiples: one panel per workload (the ``by`` columns other than the series
    column), one front per value of the series column (the numeric ``by`` column with
    the most values, in numeric order, on a sequential colour scale) and one marker per
    hardware, over that workload's feasible points in grey.
    """
    if len(objectives) < 2 or len(pareto) == 0:
        return None
    x, y = objectives[0].column, objectives[1].column
    points, pareto = to_output_frame(points), to_output_frame(pareto)  # mappings as JSON text
    series, panels = _series_and_panels(pareto, by)
    shown = panels[:MAX_PANELS]
    ncols = min(4, len(shown))
    nrows = -(-len(shown) // ncols)
    figure = Figure(figsize=(3.3 * ncols + 2.2, 2.7 * nrows + 0.9), dpi=90)
    FigureCanvasAgg(figure)
    grid = figure.subplots(nrows, ncols, squeeze=False)
    values = natural_order(pareto[series].tolist()) if series else [None]
    colours = _sequential(len(values))
    markers = _markers(pareto)
    for axes, (label, key) in zip(grid.ravel(), shown):
        _front_panel(axes, points, pareto, (x, y), (by, key, series), (values, colours, markers))
        # A text, not set_title: title placement re-measures the tick labels (slow with 12 panels).
        axes.text(0.5, 1.03, label, transform=axes.transAxes, ha="center", fontsize=8)
    for axes in grid.ravel()[len(shown):]:
        axes.axis("off")
    for axes in grid[-1]:
        axes.set_xlabel(_axis_label(objectives[0]), fontsize=8)
    for axes in grid[:, 0]:
        axes.set_ylabel(_axis_label(objectives[1]), fontsize=8)
    handles = [Line2D([], [], color=c, lw=1.5, label=format_value(v)) for v, c in zip(values, colours)]
    handles += [Line2D([], [], ls="", marker=m, color="0.3", label=h) for h, m in markers.items()]
    figure.legend(handles=handles, loc="upper right", fontsize=7, frameon=False,
                  title=f"{series}  /  hardware" if series else "hardware", title_fontsize=7)
    extra = ""
    if len(panels) > len(shown):
        extra = f"; {len(shown)} of {len(panels)} workloads shown (all in pareto.csv)"
    figure.suptitle(f"{title}: Pareto fronts, {x} vs {y}, per {', '.join(by) or 'sweep'}{extra}", fontsize=9)
    width, height = figure.get_size_inches()
    figure.subplots_adjust(left=0.7 / width, right=1 - 2.0 / width, bottom=0.55 / height,
                           top=1 - 0.55 / height, wspace=0.3, hspace=0.45)
    return _png_raw(figure)


def best_hardware_png(winners: pd.DataFrame, by: Sequence[str], objective: Objective, *,
                      title: str = "") -> bytes | None:
    """Heatmap of the winning hardware per workload, the margin over the runner-up in each cell.

    Rows are the ``by`` combinations other than the series column (see
    :func:`pareto_front_png`), columns the series values in numeric order.
    """
    if winners is None or not len(winners) or "winner" not in winners:
        return None
    winners = to_output_frame(winners)
    series, panels = _series_and_panels(winners, by)
    columns = natural_order(winners[series].tolist()) if series else [None]
    hardware = natural_order(winners["winner"].tolist())
    palette = _qualitative(len(hardware))
    codes = np.full((len(panels), len(columns)), np.nan)
    label_width = max(len(label) for label, _ in panels) * 0.065 + 0.3
    # The legend's width: its longest entry ("no feasible point") after a marker.
    legend_width = max(len(h) for h in [*hardware, "no feasible point"]) * 0.065 + 0.55
    figure = Figure(figsize=(label_width + legend_width + 0.3 + 0.7 * len(columns), 1.2 + 0.3 * len(panels)),
                    dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rest = [c for c in by if c != series]
    row_of = {key: i for i, (_, key) in enumerate(panels)}
    keys = winners[rest].astype(object).itertuples(index=False) if rest else [()] * len(winners)
    for key, value, winner, margin in zip(keys, winners[series] if series else [None] * len(winners),
                                          winners["winner"], winners["margin"]):
        i, j = row_of[tuple(key)], columns.index(value)
        codes[i, j] = hardware.index(winner)
        text = "alone" if not np.isfinite(margin) else f"{margin:.2f}×"
        axes.text(j, i, text, ha="center", va="center", fontsize=6.5)
    cmap = ListedColormap(palette)
    axes.imshow(np.ma.masked_invalid(codes), cmap=cmap, vmin=-0.5, vmax=len(hardware) - 0.5,
                aspect="auto", alpha=0.7, interpolation="nearest")
    axes.set_xticks(range(len(columns)), [format_value(v) for v in columns], fontsize=7)
    axes.set_yticks(range(len(panels)), [label for label, _ in panels], fontsize=7)
    axes.set_xlabel(series or "", fontsize=8)
    handles = [Line2D([], [], ls="", marker="s", ms=8, color=c, alpha=0.7, label=h)
               for h, c in zip(hardware, palette)]
    if np.isnan(codes).any():
        handles.append(Line2D([], [], ls="", marker="s", ms=8, color="white", markeredgecolor="0.6",
                              label="no feasible point"))
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
                frameon=False, title="winner", title_fontsize=7)
    better = "lowest" if objective.sense == "min" else "highest"
    _title(axes, f"{title}: hardware with the {better} {objective.column} per workload\n"
                 f"(cell: its margin over the runner-up hardware)", fontsize=8)
    width, height = figure.get_size_inches()
    figure.subplots_adjust(left=label_width / width, right=1 - legend_width / width, bottom=0.5 / height,
                           top=1 - 0.5 / height)
    return _png_raw(figure)


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


def roofline_png(label: str, group: pd.DataFrame, ceilings: Sequence[RoofLine] = ()) -> bytes:
    """The PNG bytes of one hardware's roofline scatter, over its ceilings when known."""
    figure = Figure(figsize=(6.4, 4.6), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x = group["arithmetic_intensity"].to_numpy(dtype=float)
    y = group["tflops_per_s"].to_numpy(dtype=float) * 1e12
    finite = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lo, hi = (x[finite].min() / 3, x[finite].max() * 3) if finite.any() else (0.1, 1e4)
    _draw_ceilings(axes, ceilings, lo, hi)
    bounds = ["all points"] if "bound" not in group else natural_order(group["bound"].astype(str).tolist())
    for name in bounds:
        part = finite if name == "all points" else finite & (group["bound"].astype(str).to_numpy() == name)
        axes.scatter(x[part], y[part], s=9, color=bound_colour(name), label=f"{name} ({int(part.sum())})",
                     rasterized=True, zorder=3)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.minorticks_off()  # minor log ticks would double the drawing time
    axes.set_xlim(lo, hi)
    if finite.any():
        top = max([y[finite].max(), *(c.value for c in ceilings if c.kind == "flat")])
        axes.set_ylim(min(y[finite].min() / 2, top / 1e3), top * 2.5)
    axes.set_xlabel("arithmetic intensity (FLOP per DRAM byte)")
    axes.set_ylabel("attention FLOP/s (FlashAttention convention)")
    if ceilings:
        _title(axes, f"{label}: every design point under the roofline", fontsize=9)
        axes.legend(fontsize=7, title="bound (points)  /  ceilings", title_fontsize=7, loc="lower right")
    else:
        _title(axes, f"{label}: every design point (no ceilings drawn: not a catalogue GPU)", fontsize=9)
        axes.legend(fontsize=7, title="bound (points)", title_fontsize=7, loc="best")
    axes.grid(True, alpha=0.3)
    return _png(figure, right=0.96)


def _draw_ceilings(axes: Any, ceilings: Sequence[RoofLine], lo: float, hi: float) -> None:
    """Flat compute ceilings and DRAM slopes, and the roof (their minimum) in grey."""
    if not ceilings:
        return
    grid = np.logspace(np.log10(lo), np.log10(hi), 64)
    roof = np.full_like(grid, np.inf)
    for ceiling in ceilings:
        line = np.full_like(grid, ceiling.value) if ceiling.kind == "flat" else ceiling.value * grid
        unit = "FLOP/s" if ceiling.kind == "flat" else "B/s"
        axes.plot(grid, line, color=bound_colour(ceiling.resource), lw=1.0, ls="--", zorder=2,
                  label=f"{ceiling.label}: {ceiling.value:.3g} {unit}")
        roof = np.minimum(roof, line)
    axes.plot(grid, roof, color="0.3", lw=3, alpha=0.25, zorder=1, label="roof")


def _title(axes: Any, text: str, fontsize: float) -> None:
    """A title just above the axes, placed once.

    ``set_title`` re-measures every tick label at draw time to dodge them (a fifth of a
    roofline's drawing time).
    """
    axes.text(0.5, 1.02, text, transform=axes.transAxes, ha="center", va="bottom", fontsize=fontsize)


def write_png(path: Path, data: bytes) -> None:
    """Write PNG bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _series_and_panels(frame: pd.DataFrame, by: Sequence[str]) -> tuple[str | None, list[tuple[str, tuple]]]:
    """The series column (numeric ``by`` column with most values) and the panels' keys."""
    numeric = [c for c in by
               if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    series = max(numeric, key=lambda c: (frame[c].nunique(), -list(by).index(c))) if numeric else None
    rest = [c for c in by if c != series]
    if not rest:
        return series, [("all points", ())]
    keys = sorted({tuple(row) for row in frame[rest].astype(object).itertuples(index=False)},
                  key=lambda key: tuple(natural_key(v) for v in key))
    return series, [(", ".join(format_value(v) for v in key), key) for key in keys]


def _front_panel(axes: Any, points: pd.DataFrame, pareto: pd.DataFrame, xy: tuple[str, str],
                 spec: tuple, style: tuple) -> None:
    """One workload: its feasible points in grey, a front per series value."""
    x, y = xy
    by, key, series = spec
    values, colours, markers = style
    rest = [c for c in by if c != series]
    chosen = np.ones(len(points), dtype=bool)
    front = np.ones(len(pareto), dtype=bool)
    for column, value in zip(rest, key):
        chosen &= (points[column] == value).to_numpy()
        front &= (pareto[column] == value).to_numpy()
    axes.scatter(points[x][chosen], points[y][chosen], s=4, c="0.82", rasterized=True, zorder=1)
    part = pareto[front].sort_values([x, y], kind="stable")
    # Few artists: one line collection for every front, one scatter per hardware marker.
    segments, segment_colours = [], []
    point_colours = np.zeros((len(part), 4))
    for value, colour in zip(values, colours):
        mine = np.ones(len(part), dtype=bool) if series is None else (part[series] == value).to_numpy()
        if mine.any():
            segments.append(np.column_stack([part[x].to_numpy(float)[mine], part[y].to_numpy(float)[mine]]))
            segment_colours.append(colour)
            point_colours[mine] = colour
    axes.add_collection(LineCollection(segments, colors=segment_colours, linewidths=1.0, zorder=2))
    names = part["hardware"].astype(str).to_numpy() if "hardware" in part else None
    for hardware, marker in markers.items():
        mine = np.ones(len(part), dtype=bool) if names is None else names == hardware
        if mine.any():
            axes.scatter(part[x][mine], part[y][mine], s=16, c=point_colours[mine], marker=marker, zorder=3)
    _log_scale_if_wide(axes, points[x][chosen], points[y][chosen])
    for axis in (axes.xaxis, axes.yaxis):  # few ticks: tick layout dominates the drawing time
        if axis.get_scale() == "log":
            axis.set_major_locator(LogLocator(numticks=5))
        else:
            axis.set_major_locator(MaxNLocator(4))
    axes.tick_params(labelsize=7)
    axes.grid(True, alpha=0.3)


def _markers(frame: pd.DataFrame) -> dict[str, str]:
    """One marker per hardware (the only series when there is no hardware column)."""
    names = natural_order(frame["hardware"].astype(str).tolist()) if "hardware" in frame else ["points"]
    shapes = "osD^vP*Xh<>p"
    return {name: shapes[i % len(shapes)] for i, name in enumerate(names)}


def _sequential(n: int) -> list[Any]:
    """``n`` colours in order on a sequential scale (dark = small, yellow = large)."""
    cmap = colormaps["viridis"]
    return [cmap(0.05 + 0.85 * i / max(1, n - 1)) for i in range(n)]


def _qualitative(n: int) -> list[Any]:
    """``n`` distinct colours (tab10, then tab20, then a sampled hsv for more)."""
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["hsv"](i / n) for i in range(n)]


def _axis_label(objective: Objective) -> str:
    """``time_s`` -> 'time (s), lower is better'."""
    name, _, unit = objective.column.rpartition("_")
    unit_text = _UNITS.get(unit)
    text = f"{name.replace('_', ' ')} ({unit_text})" if name and unit_text else objective.column
    return f"{text}, {'lower' if objective.sense == 'min' else 'higher'} is better"


def _log_scale_if_wide(axes: Any, x: pd.Series, y: pd.Series) -> None:
    """Use log axes for positive data spanning more than two decades."""
    for values, setter in ((x, axes.set_xscale), (y, axes.set_yscale)):
        data = np.asarray(values, dtype=float)
        data = data[np.isfinite(data)]
        if len(data) and data.min() > 0 and data.max() / data.min() > 100:
            setter("log")
            axes.minorticks_off()


_SI = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
       (1e-6, "µ"), (1e-9, "n"))


def si_tick(value: float, _position: Any = None) -> str:
    """A log-axis tick as a number with an SI prefix: ``1e14`` -> ``'100 T'``.

    Plain text rather than matplotlib's ``10^{14}`` mathtext, which costs a third of a
    sweep figure's drawing time.

    >>> si_tick(1e14), si_tick(3e-5), si_tick(20.0)
    ('100 T', '30 µ', '20')
    """
    for scale, prefix in _SI:
        if abs(value) >= scale * (1 - 1e-9):
            return f"{value / scale:.3g} {prefix}".rstrip()
    return f"{value:.3g}"


def _plain_log_ticks(figure: Figure) -> None:
    """SI-prefixed labels on every log axis of the figure."""
    from matplotlib.ticker import FuncFormatter

    for axes in figure.axes:
        for axis, scale in ((axes.xaxis, axes.get_xscale()), (axes.yaxis, axes.get_yscale())):
            if scale == "log":
                axis.set_major_formatter(FuncFormatter(si_tick))


def _png_raw(figure: Figure) -> bytes:
    """A figure (margins already set) as PNG bytes, without a timestamp in its metadata."""
    _plain_log_ticks(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _png(figure: Figure, right: float = 0.97) -> bytes:
    """A figure as PNG bytes, without a timestamp in its metadata."""
    # Fixed margins: tight_layout would double the drawing time of log-scaled axes.
    figure.subplots_adjust(left=0.12, right=right, bottom=0.12, top=0.92)
    _plain_log_ticks(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
