"""Helpers shared by the CLI modules: error conversion and JSON output."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from einsum.errors import EinsumError
from simulator.errors import SimulatorError

__all__ = ["USER_ERRORS", "fail", "handle_errors", "emit_json", "text_table", "to_jsonable"]

#: Exceptions that mean "the user's input is wrong" (exit 2, one line, no traceback).
USER_ERRORS = (EinsumError, SimulatorError, FileNotFoundError, IsADirectoryError)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> None:
    """Print a one-line error on stderr and exit with code 2."""
    typer.echo(f"einsim: error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(2)


def handle_errors(func: F) -> F:
    """Wrap a command so library errors become :func:`fail` calls."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as err:
            fail(str(err))

    return wrapper  # type: ignore[return-value]


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats into JSON values.

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"a": np.float64(1.5), "b": (1, 2), "c": float("inf")})
    {'a': 1.5, 'b': [1, 2], 'c': None}
    """
    import numpy as np  # here, not at start-up: `einsim --help` should not load numpy

    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout (and nothing else)."""
    typer.echo(json.dumps(to_jsonable(document), indent=2, sort_keys=False))


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: first and last columns left-aligned, the numbers between right-aligned.

    Examples
    --------
    >>> print(text_table(["name", "n", "note"], [["a", "1", "x"], ["bb", "22", "y"]]))
    name   n  note
    a      1  x
    bb    22  y
    """
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [c.rjust(w) for c, w in zip(row, widths, strict=True)]
        cells[0], cells[-1] = row[0].ljust(widths[0]), row[-1]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
