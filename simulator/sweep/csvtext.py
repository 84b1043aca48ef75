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

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["csv_text"]

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
    lines = [",".join(_quote(str(c)) for c in frame.columns)] if header else []
    if len(frame):
        columns = [_column_text(frame[c]) for c in frame.columns]
        lines.append("\n".join(map(",".join, zip(*columns))))
    return "\n".join(lines) + "\n" if lines else ""


def _column_text(column: pd.Series) -> list[str]:
    """Cell texts of one column: per distinct value when few, else value by value."""
    values = column.to_numpy()
    if values.dtype.kind in "iub":
        return list(map(str, values.tolist()))  # bools give True/False, as in pandas
    if len(values) > 16:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        if len(uniques) * 4 <= len(values):
            texts = np.array([*(_cell(v) for v in uniques.tolist()), ""], dtype=object)
            return texts[codes].tolist()  # code -1 (missing) picks the trailing ""
    if values.dtype.kind == "f":
        texts = list(map(repr, values.tolist()))
        for i in np.flatnonzero(np.isnan(values)).tolist():
            texts[i] = ""
        return texts
    return [_cell(v) for v in values.tolist()]


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
