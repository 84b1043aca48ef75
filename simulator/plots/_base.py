"""Figures without pyplot: an Agg canvas per figure, PNG bytes without a timestamp."""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["BOUND_COLOURS", "bound_colour", "new_figure", "png_bytes"]

#: One colour per binding resource, the same in every einsim picture.
BOUND_COLOURS = {
    "tensor": "#d62728", "exp": "#9467bd", "fp32": "#ff7f0e", "dram": "#1f77b4",
    "smem": "#2ca02c", "l2": "#17becf", "latency": "#7f7f7f", "launch": "#bcbd22", "array_2d": "#8c564b",
    "array_1d": "#e377c2", "memory": "#1f77b4", "compute": "#d62728",
}


def bound_colour(bound: str) -> str:
    """The colour of a binding resource (grey for one not in :data:`BOUND_COLOURS`).

    Examples
    --------
    >>> bound_colour("dram"), bound_colour("something-else")
    ('#1f77b4', '#c7c7c7')
    """
    return BOUND_COLOURS.get(str(bound), "#c7c7c7")


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Figure, Any]:
    """A figure on its own Agg canvas and its axes (an array when there are several).

    Examples
    --------
    >>> figure, axes = new_figure(4, 3, 1, 2)
    >>> axes.shape
    (2,)
    """
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows, ncols, squeeze=True, **kw)
    return figure, axes


def png_bytes(figure: Figure) -> bytes:
    r"""The figure as PNG bytes (no timestamp, so identical inputs give identical files).

    Examples
    --------
    >>> figure, _ = new_figure(2, 2)
    >>> png_bytes(figure)[:4]
    b'\x89PNG'
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
