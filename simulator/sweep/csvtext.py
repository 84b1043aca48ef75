r"""Fast, deterministic CSV text for sweep tables (the same bytes as ``DataFrame.to_csv``).

pandas formats every float through numpy's shortest-repr conversion, about 2 µs a value;
a 10⁶-point sweep then spends most of its time writing ``points.csv``. Here each column
is formatted once per *distinct* value when it has few of them (parameters usually do),
and with Python's float ``repr`` (the same shortest round-trip text) otherwise.

Rules, as pandas' defaults with ``index=False``: floats use the shortest text that reads
back to the same number; NaN and None are empty; booleans are ``True``/``False``; text
containing a comma, a double quote or a line break is quoted with doubled quotes.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"hw": ["a", "b,c"], "x": [0.1, float("nan")], "ok": [True, False]})
>>> print(csv_text(frame), end="")
hw,x,ok
a,0.1,True
"b,c",,False
>>> csv_text(frame) == frame.to_csv(index=False, lineterminator="\n")
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["csv_header", "csv_lines", "csv_text", "json_column", "to_output_frame"]

_SPECIAL = (",", '"', "\n", "\r")


def csv_text(frame: pd.DataFrame, *, header: bool = True) -> str:
    """The CSV text of a frame (no index, one line per row, Unix line endings).

    Parameters
    ----------
    frame : pandas.DataFrame
    header : bool, optional
        Start with the line of column names (default True).

    Returns
    -------
    str
        Ends with a newline unless it is empty.
    """
    lines = [csv_header(frame.columns)] if header else []
    lines += csv_lines(frame)
    return "\n".join(lines) + "\n" if lines else ""


def csv_header(columns: Iterable[Any]) -> str:
    """The header line of a table with these columns (no line end).

    Examples
    --------
    >>> csv_header(["a", "b,c"])
    'a,"b,c"'
    """
    return ",".join(_quote(str(c)) for c in columns)


def csv_lines(frame: pd.DataFrame) -> list[str]:
    """The CSV text of each row of a frame, without the header or line ends.

    Examples
    --------
    >>> csv_lines(pd.DataFrame({"a": [1, 2], "b": ["x", "y,z"]}))
    ['1,x', '2,"y,z"']
    """
    if not len(frame):
        return []
    return list(map(",".join, zip(*(_column_text(frame[c]) for c in frame.columns))))


def to_output_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace mapping/list cells by canonical JSON text (for CSV and parquet).

    Examples
    --------
    >>> to_output_frame(pd.DataFrame({"s": [{"b": 1, "a": [2]}, None]}))["s"].tolist()
    ['{"a":[2],"b":1}', None]
    """
    objects = [c for c in frame.columns if frame[c].dtype == object]
    if not objects:
        return frame
    return frame.assign(**{c: json_column(frame[c]) for c in objects})


def json_column(column: pd.Series) -> pd.Series:
    """An object column with mapping/list cells replaced by JSON text (None kept)."""
    return pd.Series([_json_cell(v) for v in column], index=column.index, dtype=object)


def _json_cell(value: Any) -> Any:
    """Canonical JSON text for mapping/list cells; other values unchanged."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return value


def _column_text(column: pd.Series) -> list[str]:
    """Cell texts of one column: per distinct value when few, else value by value."""
    if isinstance(column.dtype, pd.CategoricalDtype):  # text per category, picked by code
        texts = np.array([*(_cell(v) for v in column.cat.categories.tolist()), ""], dtype=object)
        return texts[column.cat.codes.to_numpy()].tolist()  # code -1 (missing) picks ""
    values = column.to_numpy()
    if values.dtype.kind in "iub":
        return list(map(str, values.tolist()))  # bools give True/False, as in pandas
    if len(values) > 16:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        if len(uniques) * 4 <= len(values):
            texts = np.array([*(_cell(v) for v in uniques.tolist()), ""], dtype=object)
            return texts[codes].tolist()  # code -1 (missing) picks the trailing ""
    if values.dtype.kind == "f":
        return _float_texts(values.astype(np.float64, copy=False))
    return [_cell(v) for v in values.tolist()]


def _float_texts(values: np.ndarray) -> list[str]:
    """``repr`` of each float ("" for NaN), whole numbers through the faster int path.

    Below 10¹⁶ (where ``repr`` switches to an exponent) a whole float's ``repr`` is its
    integer's text plus ``.0``; byte counts and FLOP counts are mostly such numbers.
    """
    whole = (np.abs(values) < 1e16) & (values == np.trunc(values)) & ~np.signbit(values)
    if not whole.any():
        texts = list(map(repr, values.tolist()))
    else:
        out = np.empty(len(values), dtype=object)
        out[whole] = [f"{v}.0" for v in values[whole].astype(np.int64).tolist()]
        out[~whole] = list(map(repr, values[~whole].tolist()))
        texts = out.tolist()
    for i in np.flatnonzero(np.isnan(values)).tolist():
        texts[i] = ""
    return texts


def _cell(value: Any) -> str:
    """Text of one value."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return repr(value)
    return _quote(str(value))


def _quote(text: str) -> str:
    """Quote text that would break a CSV field."""
    if any(mark in text for mark in _SPECIAL):
        return '"' + text.replace('"', '""') + '"'
    return text
