r"""Markdown reports of a sweep: number formatting, tables, ``pareto.md`` and ``summary.md``.

All functions are pure (text in, text out), so reports are deterministic and testable.

Examples
--------
>>> import pandas as pd
>>> print(markdown_table(pd.DataFrame({"hw": ["a|b"], "latency": [0.000123456], "n": [3]})))
| hw | latency | n |
| :-- | --: | --: |
| a\|b | 0.0001235 | 3 |
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulator.sweep.spec import SweepSpec

__all__ = [
    "SummaryFacts",
    "display_columns",
    "format_bytes",
    "format_value",
    "markdown_table",
    "pareto_markdown",
    "summary_markdown",
]

_MAX_LIST = 8  # axis values listed in the summary before "…"


@dataclass(frozen=True)
class SummaryFacts:
    """What a finished sweep found, for :func:`summary_markdown`.

    ``best`` maps each objective column to its best feasible row (None if there is no
    feasible row); ``winners`` is :func:`simulator.sweep.winners.winners_table` (from a
    sample of the rows when ``sampled``); ``bound_counts`` is a hardware × bound table of
    point counts, or None when the table has no ``hardware`` and ``bound`` columns.
    """

    grid_points: int
    points: int
    feasible: int
    pareto: int
    spec_hash: str
    files: tuple[str, ...]
    best: Mapping[str, pd.Series | None] = field(default_factory=dict)
    bound_counts: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()
    winners: pd.DataFrame | None = None
    sampled: bool = False


def format_value(value: Any) -> str:
    """Readable text for one table cell (4 significant digits for floats).

    Examples
    --------
    >>> [format_value(v) for v in (3, 2.5e-06, 1234567.0, float("nan"), True, {"a": 1})]
    ['3', '2.5e-06', '1.235e+06', '–', 'yes', '{"a":1}']
    """
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "–" if math.isnan(value) else f"{float(value):.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if value is None:
        return "–"
    return str(value)


def format_bytes(value: Any) -> str:
    """A byte count in binary units, 3 significant digits (``–`` for NaN).

    Examples
    --------
    >>> [format_bytes(v) for v in (512, 147456.0, 20971520.0, 8.592e9, float("nan"))]
    ['512 B', '144 KiB', '20.0 MiB', '8.00 GiB', '–']
    """
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "–"
    number = float(value)
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(number) >= scale:
            scaled = number / scale
            return f"{scaled:.3g} {unit}" if scaled >= 100 else f"{scaled:.3g} {unit}".replace(
                f"{scaled:.3g}", f"{scaled:#.3g}".rstrip("."))
    return f"{number:.0f} B"


def markdown_table(frame: pd.DataFrame, *, max_rows: int | None = None) -> str:
    """A GitHub-flavoured Markdown table; numeric columns are right-aligned.

    Parameters
    ----------
    frame : pandas.DataFrame
    max_rows : int, optional
        Show at most this many rows, then a line saying how many were left out.

    Returns
    -------
    str
        The table, without a trailing newline.
    """
    shown = frame if max_rows is None else frame.head(max_rows)
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    align = [
        "--:" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        else ":--"
        for c in frame.columns
    ]  # fmt: skip
    lines = [header, "| " + " | ".join(align) + " |"]
    byte_columns = [str(c).endswith("_bytes") for c in frame.columns]
    for row in shown.itertuples(index=False):
        cells = ((format_bytes(v) if is_bytes else format_value(v)).replace("|", "\\|")
                 for v, is_bytes in zip(row, byte_columns))
        lines.append("| " + " | ".join(cells) + " |")
    if len(shown) < len(frame):
        lines.append(f"\n… {len(frame) - len(shown)} more rows in the CSV file.")
    return "\n".join(lines)


def display_columns(spec: SweepSpec, columns: Sequence[str], varying: Sequence[str]) -> list[str]:
    """Columns worth showing in Markdown: point, groups, varying parameters, objectives, metrics.

    Examples
    --------
    >>> from simulator.sweep.spec import parse_spec
    >>> spec = parse_spec({"name": "x", "evaluator": "e", "axes": {"a": [1, 2], "b": [3]},
    ...                    "objectives": ["t"]})
    >>> display_columns(spec, ["point", "a", "b", "c", "t", "u", "feasible", "pareto"],
    ...                 varying=["point", "a", "t", "u", "feasible"])
    ['point', 'a', 't', 'u']
    """
    objectives = [o.column for o in spec.objectives]
    first = ["point", *spec.pareto_by, *(a for a in spec.axis_names if a in varying)]
    chosen = [c for c in dict.fromkeys(first) if c in columns]
    chosen += [c for c in objectives if c in columns and c not in chosen]
    rest = [c for c in columns if c in varying and c not in ("feasible", "pareto")]
    if spec.show:  # the spec picks the metric columns worth reading
        rest = [c for c in spec.show if c in columns]
    return chosen + [c for c in rest if c not in chosen]


def pareto_markdown(spec: SweepSpec, pareto: pd.DataFrame, columns: Sequence[str]) -> str:
    """The ``pareto.md`` document: the non-dominated feasible points as a table."""
    senses = ", ".join(f"{o.column} ({o.sense})" for o in spec.objectives)
    groups = ", ".join(spec.pareto_by) if spec.pareto_by else "all points together"
    lines = [
        f"# Pareto front of sweep `{spec.name}`",
        "",
        f"Objectives: {senses}. Compared within: {groups}. "
        f"{len(pareto)} non-dominated feasible points; parameters that never vary are omitted.",
        "",
        markdown_table(pareto[list(columns)], max_rows=500) if len(pareto) else "(no feasible points)",
    ]
    return "\n".join(lines) + "\n"


def summary_markdown(spec: SweepSpec, facts: SummaryFacts) -> str:
    """The ``summary.md`` document: what was swept, how many points, the best ones."""
    lines = [f"# Sweep `{spec.name}`", "", *_overview(spec, facts), "", "## Axes", ""]
    lines.append(markdown_table(_axes_table(spec)))
    for title, items in (("Filters", spec.filters), ("Constraints", spec.constraints)):
        if items:
            lines += ["", f"## {title}", "", *(f"- `{item}`" for item in items)]
    if facts.winners is not None and len(facts.winners) and spec.pareto_by:
        lines += ["", "## Winner per workload", "", *_winner_lines(spec, facts)]
    else:
        lines += ["", "## Best point per objective", "", *_best_lines(spec, facts)]
    if facts.bound_counts is not None:
        lines += ["", "## Where each hardware is bound", "", "Points per `bound` value.", ""]
        lines.append(markdown_table(facts.bound_counts.reset_index()))
    return "\n".join(lines) + "\n"


def _overview(spec: SweepSpec, facts: SummaryFacts) -> list[str]:
    """The bullet list at the top of the summary."""
    senses = ", ".join(f"`{o.column}` ({o.sense})" for o in spec.objectives)
    groups = ", ".join(f"`{c}`" for c in spec.pareto_by) or "all points together"
    return [
        f"- evaluator: `{spec.evaluator}`; spec hash `{facts.spec_hash[:12]}`",
        f"- grid points: {facts.grid_points:,}; after filters: {facts.points:,}; "
        f"feasible: {facts.feasible:,}; on the Pareto front: {facts.pareto:,}",
        f"- objectives: {senses}; compared within: {groups}",
        f"- files: {', '.join(f'`{name}`' for name in facts.files)}",
        *(f"- note: {note}" for note in facts.notes),
    ]


def _axes_table(spec: SweepSpec) -> pd.DataFrame:
    """One row per axis: its name, number of values, the values and its zip group."""
    zipped = {name: " + ".join(group) for group in spec.zip_groups for name in group}
    rows = []
    for axis in spec.axes:
        shown = [format_value(v) for v in axis.values[:_MAX_LIST]]
        more = ", …" if len(axis.values) > _MAX_LIST else ""
        rows.append({
            "axis": axis.name,
            "values": len(axis.values),
            "list": ", ".join(shown) + more,
            "zipped with": zipped.get(axis.name, ""),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["axis", "values", "list", "zipped with"])


def _winner_lines(spec: SweepSpec, facts: SummaryFacts) -> list[str]:
    """Per comparison group: the winner, why (its bound), the runner-up and the margin."""
    objective = spec.objectives[0]
    table = facts.winners
    column = objective.column
    shown = pd.DataFrame({
        **{c: table[c] for c in spec.pareto_by},
        "winner": table["winner"], column: table[column], "bound by": table["winner_bound"],
        "runner-up": table["runner_up"].fillna("–"), f"runner-up {column}": table[f"runner_up_{column}"],
        "margin": [("–" if not np.isfinite(m) else f"{m:.2f}×") for m in table["margin"]],
    })  # fmt: skip
    sense = "lowest" if objective.sense == "min" else "highest"
    lines = [f"Per comparison group, the hardware with the {sense} `{column}`, the resource that "
             f"binds it, the best other hardware and the ratio of their `{column}`."]
    if facts.sampled:
        lines.append("(From an even sample of the points plus the Pareto fronts: the sweep is large.)")
    counts = table["winner"].value_counts()
    lines += ["", "Wins: " + ", ".join(f"{name} {int(n)}" for name, n in counts.items()) + ".", ""]
    return [*lines, markdown_table(shown, max_rows=200)]


def _best_lines(spec: SweepSpec, facts: SummaryFacts) -> list[str]:
    """A table of the best feasible value of each objective and the point achieving it."""
    rows = []
    for objective in spec.objectives:
        best = facts.best.get(objective.column)
        if best is None:
            continue
        params = ", ".join(f"{a}={format_value(best[a])}" for a in spec.axis_names if a in best)
        rows.append({
            "objective": objective.column,
            "sense": objective.sense,
            "best": best[objective.column],
            "point": best["point"],
            "parameters": params,
        })  # fmt: skip
    if not rows:
        return ["No feasible point."]
    return [markdown_table(pd.DataFrame(rows))]
