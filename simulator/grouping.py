"""Fast grouping of table rows by the value combinations of a few columns.

Sweep tables carry their text axes (hardware, model, mask, …) as pandas Categoricals, so a
column's integer codes come for free; other columns are factorised once. The codes of
several columns are mixed into one integer label per row, which is then renumbered in
order of first appearance. Everything is integer arithmetic on numpy arrays: grouping 10⁶
rows by seven columns takes milliseconds, where ``DataFrame.groupby`` on strings takes a
large fraction of a second.

Mapping and list cells (sparsity configurations, say) are grouped by their canonical JSON
text; missing values (None, NaN) form one group of their own.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"hw": ["a", "b", "a", "b"], "n": [1, 1, 1, 2]})
>>> group_labels(frame, ["hw", "n"]).tolist()
[0, 1, 0, 2]
>>> [(key, index.tolist()) for key, index in group_rows(frame, ["hw", "n"])]
[(('a', 1), [0, 2]), (('b', 1), [1]), (('b', 2), [3])]
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["column_codes", "group_keys", "group_labels", "group_rows", "stable_argsort"]


def column_codes(column: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Integer codes of a column and the value of each code.

    Parameters
    ----------
    column : pandas.Series

    Returns
    -------
    codes : numpy.ndarray of int64
        ``0 .. len(values) - 1``; missing values get the last code, whose value is None.
    values : list
        The value of each code (mappings and lists as their JSON text).

    Examples
    --------
    >>> codes, values = column_codes(pd.Series(["x", None, "y", "x"]))
    >>> codes.tolist(), values
    ([0, 2, 1, 0], ['x', 'y', None])
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.int64)
        values = column.cat.categories.tolist()
    else:
        raw, uniques = pd.factorize(_hashable(column))
        codes, values = raw.astype(np.int64), uniques.tolist()
    codes[codes < 0] = len(values)
    return codes, [*values, None]


def group_labels(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One integer label per row for its combination of ``columns`` values.

    Labels are ``0, 1, 2, …`` in the order of the columns' codes (for a Categorical its
    categories' order, else the order of first appearance); with no columns every row is
    in group 0.

    Examples
    --------
    >>> group_labels(pd.DataFrame({"a": [5, 3, 5]}), ["a"]).tolist()
    [0, 1, 0]
    """
    return _mixed(frame, columns)[0]


def group_keys(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, list[tuple]]:
    """:func:`group_labels` and the key (tuple of column values) of each label.

    Examples
    --------
    >>> labels, keys = group_keys(pd.DataFrame({"a": ["x", "y", "x"], "b": [1.0, None, 1.0]}), ["a", "b"])
    >>> labels.tolist(), keys
    ([0, 1, 0], [('x', 1.0), ('y', None)])
    """
    labels, parts = _mixed(frame, columns)
    firsts = np.unique(labels, return_index=True)[1] if len(labels) else labels
    keys = [tuple(values[codes[first]] for codes, values in parts) for first in firsts.tolist()]
    return labels, keys


def group_rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[tuple[tuple, np.ndarray]]:
    """Yield ``(key, row positions)`` per value combination, in the order of their labels.

    ``key`` holds the group's value of each column (JSON text for mappings and lists).
    """
    labels, parts = _mixed(frame, columns)
    if not len(labels):
        return
    order = stable_argsort(labels)
    bounds = np.cumsum(np.bincount(labels))[:-1]  # labels are 0 .. G - 1, all present
    for block in np.split(order, bounds):
        first = int(block[0])
        yield tuple(values[codes[first]] for codes, values in parts), block


def stable_argsort(labels: np.ndarray) -> np.ndarray:
    """Stable argsort of integer labels (a radix sort when their range fits in 16 bits).

    Examples
    --------
    >>> stable_argsort(np.array([3, 1, 3, 0])).tolist()
    [3, 1, 0, 2]
    """
    if not len(labels):
        return np.zeros(0, dtype=np.int64)
    low, high = int(labels.min()), int(labels.max())
    if high - low < 1 << 16:
        return np.argsort((labels - low).astype(np.uint16), kind="stable")
    return np.argsort(labels, kind="stable")


def _mixed(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, list]:
    """Compact labels and each column's (codes, values)."""
    label = np.zeros(len(frame), dtype=np.int64)
    count = 1
    parts = []
    for column in columns:
        codes, values = column_codes(frame[column])
        if count * len(values) >= 1 << 62:  # renumber to keep the mixed label in int64
            label, count = _compact(label, count)
        label = label * len(values) + codes
        count *= len(values)
        parts.append((codes, values))
    return _compact(label, count)[0], parts


def _compact(label: np.ndarray, count: int) -> tuple[np.ndarray, int]:
    """Renumber labels ``0 .. count - 1`` to ``0, 1, 2, …`` keeping their order.

    With few possible labels a presence table does it in two linear passes; otherwise the
    labels are sorted (``numpy.unique``).
    """
    if count <= 4 * len(label) + 1024:
        present = np.bincount(label, minlength=count) > 0
        remap = np.cumsum(present) - 1
        return remap[label], int(present.sum())
    uniques, inverse = np.unique(label, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), len(uniques)


def _hashable(column: pd.Series) -> np.ndarray:
    """The column's values, with mapping and list cells replaced by canonical JSON text."""
    values = column.to_numpy()
    if values.dtype != object or not any(isinstance(v, (dict, list)) for v in values):
        return values
    return np.array([json.dumps(v, sort_keys=True, separators=(",", ":"))
                     if isinstance(v, (dict, list)) else v for v in values], dtype=object)
