"""Exceptions raised by the cascade language.

One base class, :class:`EinsumError`; subclasses exist only where a caller reacts
differently (networkx's ``NetworkXException`` hierarchy is the model).
"""

from __future__ import annotations

__all__ = ["EinsumError", "InputFileError", "ParseError", "ShapeError"]


class EinsumError(Exception):
    """Base class of every error the ``einsum`` package raises on bad input.

    The message is always a single line that names the offending place (file, line,
    column, tensor or rank) and what was expected, so a CLI can print it verbatim.
    """


class ParseError(EinsumError):
    """A cascade text is malformed or inconsistent.

    Raised for unparsable lines, unknown tensors, cycles, iterative ranks without a
    stop condition and other structural problems. ``source``, ``line`` and ``column``
    locate the problem (1-based; 0 when unknown).

    Examples
    --------
    >>> err = ParseError("expected ']'", source="x.cas", line=3, column=7)
    >>> str(err)
    "x.cas:3:7: expected ']'"
    """

    def __init__(self, message: str, source: str = "<cascade>", line: int = 0, column: int = 0):
        self.source = source
        self.line = line
        self.column = column
        self.reason = message
        super().__init__(f"{source}:{line}:{column}: {message}")


class ShapeError(EinsumError):
    """Rank sizes are missing, inconsistent, or do not match the arrays given."""


class InputFileError(EinsumError):
    """A user's file cannot be read as text: missing, a folder, too large, or not UTF-8.

    Examples
    --------
    >>> str(InputFileError("x.cas: line 1, column 3: invalid UTF-8 byte 0xe9"))
    'x.cas: line 1, column 3: invalid UTF-8 byte 0xe9'
    """
