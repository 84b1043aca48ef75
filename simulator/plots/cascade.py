"""Pictures of a cascade: its graph (edges coloured by kind, barriers marked) and footprints.

Examples
--------
>>> import einsum
>>> figure = graph_figure(einsum.load("attention-3pass"))
>>> figure.axes[0].get_title()
'attention-3pass: 3 passes over M, 2 barriers'
>>> frame = footprint_frame(["attention-3pass", "attention-1pass"], [1024, 4096], {"E": 128, "F": 128})
>>> frame.pivot(index="seq_len", columns="cascade", values="elements_per_query").loc[4096].tolist()
[258.0, 4225.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import pandas as pd
from matplotlib.figure import Figure

import einsum
from einsum import Cascade
from simulator.plots._base import new_figure

__all__ = ["EDGE_COLOURS", "footprint_figure", "footprint_frame", "graph_figure", "graph_layout"]

#: Colour of each edge kind of :func:`einsum.cascade_graph`.
EDGE_COLOURS = {"pointwise": "#1f77b4", "prefix": "#2ca02c", "iterative": "#ff7f0e",
                "complete": "#d62728"}


def graph_layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Node positions: one column per topological generation, nodes spread in each column.

    Loop-carried edges (``RM -> RM``) are ignored, so every cascade graph has a layout.

    Examples
    --------
    >>> import einsum
    >>> layout = graph_layout(einsum.cascade_graph(einsum.load("attention-3pass")))
    >>> [layout[n][0] for n in ("QK", "GM", "SN")]
    [0.0, 1.0, 2.0]
    """
    dag = nx.DiGraph([(u, v) for u, v, d in graph.edges(data=True) if not d.get("loop_carried")])
    dag.add_nodes_from(graph.nodes)
    positions = {}
    for column, names in enumerate(nx.topological_generations(dag)):
        ordered = sorted(names, key=lambda n: graph.nodes[n].get("line", 0))
        for row, name in enumerate(ordered):
            positions[name] = (float(column), -(row - (len(ordered) - 1) / 2))
    return positions


def graph_figure(cascade: Cascade | str, rank: str | None = None) -> Figure:
    """Draw a cascade's graph: Einsums as nodes, producer → consumer edges coloured by kind.

    Barrier edges (complete edges that start a pass) are drawn thick; nodes are shaded
    by the pass (fusible group) they belong to.

    Parameters
    ----------
    cascade : Cascade or str
        A cascade or a built-in name / path.
    rank : str, optional
        The pass rank (default: the cascade's key rank).

    Returns
    -------
    matplotlib.figure.Figure
    """
    c = einsum.load(cascade) if isinstance(cascade, str) else cascade
    graph = einsum.cascade_graph(c)
    report = einsum.pass_analysis(c, rank) if rank else einsum.pass_analysis(c)
    layout = graph_layout(graph)
    barriers = {(b.source, b.target) for b in report.barriers}
    level = {name: i for i, group in enumerate(report.groups) for name in group}
    columns = max(x for x, _ in layout.values()) + 1
    rows = max(abs(y) for _, y in layout.values()) * 2 + 1
    figure, axes = new_figure(max(6.0, 1.25 * columns + 1), max(3.0, 0.9 * rows + 1.6))
    for u, v, data in graph.edges(data=True):
        _edge(axes, layout[u], layout[v], data, (u, v) in barriers)
    shades = ["#f0f0f0", "#dbe9f6", "#fde0c5", "#d9f0d3"]
    for name, (x, y) in layout.items():
        colour = shades[level.get(name, 0) % len(shades)] if name in level else "white"
        axes.text(x, y, name, ha="center", va="center", fontsize=8, zorder=3,
                  bbox={"boxstyle": "round,pad=0.3", "fc": colour, "ec": "0.4"})
    for kind, colour in EDGE_COLOURS.items():
        axes.plot([], [], color=colour, label=kind)
    axes.plot([], [], color="k", lw=3, label="barrier (starts a pass)")
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=5, frameon=False,
                title="edge kind (node shade = pass)", title_fontsize=7)
    axes.set_xlim(-0.7, columns - 0.3)
    axes.set_ylim(-rows / 2 - 0.2, rows / 2 + 0.2)
    axes.axis("off")
    n = len(report.barriers)
    axes.set_title(f"{c.name}: {report.passes} pass{'es' if report.passes != 1 else ''} over "
                   f"{report.rank}, {n} barrier{'s' if n != 1 else ''}")
    figure.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.18)
    return figure


def _edge(axes: Any, start: tuple[float, float], end: tuple[float, float], data: Mapping[str, Any],
          barrier: bool) -> None:
    """One arrow; a loop-carried edge bends back (a self-loop becomes a small arc)."""
    colour = EDGE_COLOURS.get(data.get("kind", ""), "0.5")
    bend = "arc3,rad=0.6" if data.get("loop_carried") else "arc3,rad=0.08"
    if start == end:
        end = (end[0] + 0.01, end[1])
        bend = "arc3,rad=-25"
    axes.annotate("", xy=end, xytext=start, zorder=2,
                  arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 3.0 if barrier else 1.1,
                              "connectionstyle": bend, "shrinkA": 14, "shrinkB": 14,
                              "linestyle": "--" if data.get("loop_carried") else "-"})


def footprint_frame(cascades: Sequence[Cascade | str], lengths: Sequence[int],
                    sizes: Mapping[str, int], bytes_per_element: float = 2.0) -> pd.DataFrame:
    """Live footprint per query of each cascade at each key length.

    Parameters
    ----------
    cascades : sequence of Cascade or str
    lengths : sequence of int
        Key lengths ``M``.
    sizes : mapping
        The other sizes (``E``, ``F``, tile sizes such as ``M0``).
    bytes_per_element : float
        For the ``bytes_per_query`` column.

    Returns
    -------
    pandas.DataFrame
        ``cascade, passes, seq_len, elements_per_query, bytes_per_query``.
    """
    rows = []
    for item in cascades:
        c = einsum.load(item) if isinstance(item, str) else item
        passes = einsum.pass_analysis(c).passes
        for m in lengths:
            value = float(einsum.footprint_value(c, {**sizes, "M": int(m)}))
            rows.append({"cascade": c.name, "passes": passes, "seq_len": int(m),
                         "elements_per_query": value, "bytes_per_query": value * bytes_per_element})
    return pd.DataFrame(rows)


def footprint_figure(frame: pd.DataFrame) -> Figure:
    """Bytes each query must keep live vs key length, one line per cascade (log-log)."""
    figure, axes = new_figure(6.5, 4)
    for name, part in frame.groupby("cascade", sort=False):
        passes = int(part["passes"].iloc[0])
        axes.plot(part["seq_len"], part["bytes_per_query"], marker="o", label=f"{name} ({passes}-pass)")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("key length M (tokens)")
    axes.set_ylabel("live footprint per query (bytes)")
    axes.set_title("On-chip state a fused execution must hold, per query")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.13, top=0.91)
    return figure


