"""Which hardware wins each workload of a sweep, the runner-up, and by how much.

For each comparison group (``pareto_by``), the winner is the hardware of the feasible row
with the best first objective; the runner-up is the best row of any *other* hardware;
the margin is the runner-up's value over the winner's (a speedup, for time). The rows
come from the sweep's plot rows (every row of sweeps up to
:data:`simulator.sweep.digest.PLOT_ROWS` points, else an even sample plus the front), so
the answer does not depend on chunking or executor.

Examples
--------
>>> rows = pd.DataFrame({"seq_len": [1024, 1024, 1024, 2048], "hardware": ["a", "b", "b", "a"],
...                      "time_s": [2.0, 1.0, 1.5, 3.0], "bound": ["dram", "exp", "exp", "dram"],
...                      "feasible": [True, True, True, True]})
>>> table = winners_table(rows, Objective("time_s"), ["seq_len"])
>>> table[["seq_len", "winner", "winner_bound", "runner_up", "margin"]].values.tolist()
[[1024, 'b', 'exp', 'a', 2.0], [2048, 'a', 'dram', nan, nan]]
>>> natural_key("llama-3-8b") < natural_key("llama-3-70b")
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator.pareto import Objective
from simulator.sweep.csvtext import json_column

__all__ = ["natural_key", "natural_order", "winners_table"]

_DIGITS = re.compile(r"(\d+)")


def natural_key(value: Any) -> tuple:
    """A sort key: numbers by value, text with its digit runs compared as numbers."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (0, float(value), ())
    parts = _DIGITS.split(str(value))
    return (1, 0.0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))


def natural_order(values: Sequence[Any]) -> list[Any]:
    """Distinct values in natural order (:func:`natural_key`)."""
    return sorted(dict.fromkeys(values), key=natural_key)


def winners_table(rows: pd.DataFrame, objective: Objective, by: Sequence[str],
                  hardware: str = "hardware") -> pd.DataFrame:
    """Winner, runner-up and margin per group (see the module docstring).

    Parameters
    ----------
    rows : pandas.DataFrame
        Needs ``hardware``, the objective's column and the ``by`` columns; ``feasible``
        and ``bound`` are used when present.
    objective : Objective
        The objective that ranks the hardware (the spec's first).
    by : sequence of str
        The comparison-group columns.

    Returns
    -------
    pandas.DataFrame
        ``*by, winner, <column>, winner_bound, runner_up, runner_up_<column>, margin``,
        groups in natural order; empty without a ``hardware`` column or when ``hardware``
        is itself a group column.
    """
    column = objective.column
    if hardware not in rows or hardware in by or column not in rows or not len(rows):
        return pd.DataFrame()  # no hardware to compare within a group
    usable = rows
    if "feasible" in rows:
        usable = rows[rows["feasible"].to_numpy(dtype=bool)]
    usable = usable[np.isfinite(usable[column].to_numpy(dtype=float))]
    sign = 1.0 if objective.sense == "min" else -1.0
    order = np.lexsort((usable["point"].to_numpy() if "point" in usable else np.arange(len(usable)),
                        sign * usable[column].to_numpy(dtype=float)))
    ranked = usable.iloc[order]
    keys = list(by)
    # Mapping/list cells (a sparsity axis) compare as their JSON text.
    hashed = pd.DataFrame({c: json_column(ranked[c]) if ranked[c].dtype == object else ranked[c]
                           for c in [*keys, hardware]}, index=ranked.index)
    per_hw = ~hashed.duplicated([*keys, hardware])  # best row of each hardware per group
    is_first = per_hw & ~hashed.duplicated(keys) if keys else per_hw & (np.arange(len(ranked)) == 0)
    rest = per_hw & ~is_first
    others = hashed[rest.to_numpy()]
    chosen = others.index[~others.duplicated(keys)] if keys else others.index
    is_second = pd.Series(hashed.index.isin(chosen), index=hashed.index)
    first, second = ranked[is_first.to_numpy()], ranked[is_second.to_numpy()]
    hashed_second = hashed[is_second.to_numpy()]
    second_keys = hashed_second[keys].astype(object).itertuples(index=False)
    seconds = {tuple(row): i for i, row in enumerate(second_keys)}
    hashed_first = hashed[is_first.to_numpy()]
    # Plain arrays: a row as a Series (``iloc[i]``) costs more than the whole comparison.
    best_hw, best_value = first[hardware].astype(str).to_numpy(), first[column].to_numpy(dtype=float)
    best_bound = first["bound"].astype(str).to_numpy() if "bound" in first else [None] * len(first)
    second_hw, second_value = second[hardware].astype(str).to_numpy(), second[column].to_numpy(dtype=float)
    out = []
    hashed_keys = hashed_first[keys].astype(object).itertuples(index=False)
    for index, (key, hkey) in enumerate(zip(first[keys].astype(object).itertuples(index=False), hashed_keys)):
        other = seconds.get(tuple(hkey))
        entry = dict(zip(keys, key))
        entry.update({"winner": best_hw[index], column: float(best_value[index]),
                      "winner_bound": best_bound[index],
                      "runner_up": None if other is None else second_hw[other],
                      f"runner_up_{column}": np.nan if other is None else float(second_value[other])})
        ratio = np.nan if other is None else float(second_value[other]) / float(best_value[index])
        entry["margin"] = ratio if objective.sense == "min" or np.isnan(ratio) else 1.0 / ratio
        out.append(entry)
    table = pd.DataFrame(out)
    if by and len(table):
        order = sorted(range(len(table)), key=lambda i: tuple(natural_key(table[c].iloc[i]) for c in by))
        table = table.iloc[order].reset_index(drop=True)
    return table
