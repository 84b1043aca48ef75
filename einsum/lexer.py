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
# One-character folds keep columns aligned; the multi-character ones shift later columns,
# which only matters on lines that use them.
_TRANSLATE = str.maketrans(_FOLD)

_TOKEN = re.compile(
    r"""
    (?P<NUM>[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|[0-9]*\.[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+(?:[eE][-+]?[0-9]+)?)
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
    folded = line.translate(_TRANSLATE)
    tokens: list[Token] = []
    pos = 0
    for match in _TOKEN.finditer(folded):
        if match.start() != pos:
            break
        pos = match.end()
        kind = match.lastgroup
        if kind != "WS":
            text = match.group()
            tokens.append(Token("NAME" if text == "inf" else kind, text, match.start() + 1))
    if pos != len(folded):
        raise ParseError(f"unexpected character {line[pos]!r}", source, line_no, pos + 1)
    tokens.append(Token("END", "", len(line) + 1))
    return _rewrite_e_caret(tokens) if "^" in folded else tokens


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
