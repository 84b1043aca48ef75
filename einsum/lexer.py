"""Tokenizer for the cascade language.

Unicode spellings from the FuseMax paper are folded into ASCII so a cascade can be
pasted from the paper: ``×``→``*``, ``÷``→``/``, ``−``→``-``, ``≤``→``<=``,
``≥``→``>=``, ``≠``→``!=``, ``∞``→``inf``, ``e^(`` → ``exp(``; ``⋄`` starts a stop
condition; ``∨`` and ``∪`` are accepted in reductions (``:: ∨m max(∪)``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from einsum.errors import ParseError

__all__ = ["Token", "tokenize"]

_FOLD = {"×": "*", "·": "*", "÷": "/", "−": "-", "≤": "<=", "≥": ">=", "≠": "!=", "∞": "inf"}

_TOKEN = re.compile(
    r"""
    (?P<NUM>\d+\.\d*(?:[eE][-+]?\d+)?|\d*\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)
  | (?P<NAME>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<OP>::|<=|>=|==|!=|//|\*\*|[-+*/%^()\[\],:=<>⋄∨∪&|!])
  | (?P<WS>\s+)
    """,
    re.VERBOSE,
)


class Token(NamedTuple):
    """One token: its kind (``NUM``, ``NAME``, ``OP``, ``END``), text and 1-based column."""

    kind: str
    text: str
    column: int


def tokenize(line: str, source: str = "<cascade>", line_no: int = 0) -> list[Token]:
    """Split one line of cascade text into tokens, ending with an ``END`` token.

    Parameters
    ----------
    line : str
        The text, without its comment.
    source, line_no : str, int
        Where the line came from, for error messages.

    Returns
    -------
    list of Token

    Raises
    ------
    ParseError
        On a character that cannot start any token.

    Examples
    --------
    >>> [t.text for t in tokenize("GM[p] = QK[m,p] :: max(m)")]
    ['GM', '[', 'p', ']', '=', 'QK', '[', 'm', ',', 'p', ']', '::', 'max', '(', 'm', ')', '']
    >>> [t.text for t in tokenize("SN = e^(A − B)")]
    ['SN', '=', 'exp', '(', 'A', '-', 'B', ')', '']
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(line):
        char = line[pos]
        if char in _FOLD:
            tokens.append(_folded(_FOLD[char], pos))
            pos += 1
            continue
        match = _TOKEN.match(line, pos)
        if match is None:
            raise ParseError(f"unexpected character {char!r}", source, line_no, pos + 1)
        kind = match.lastgroup or "WS"
        if kind != "WS":
            tokens.append(Token(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(Token("END", "", len(line) + 1))
    return _rewrite_e_caret(tokens)


def _folded(text: str, pos: int) -> Token:
    return Token("NAME" if text == "inf" else "OP", text, pos + 1)


def _rewrite_e_caret(tokens: list[Token]) -> list[Token]:
    """Turn the paper's ``e^(x)`` into ``exp(x)``."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.text == "e" and i + 1 < len(tokens) and tokens[i + 1].text == "^":
            out.append(Token("NAME", "exp", tok.column))
            i += 2
            continue
        out.append(tok)
        i += 1
    return out
