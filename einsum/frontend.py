"""Entry points that turn text or a name into a :class:`~einsum.model.Cascade`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from einsum.errors import EinsumError
from einsum.library import library_names, library_path
from einsum.model import Cascade
from einsum.parser import parse_text
from einsum.semantics import build_cascade
from einsum.textfile import read_text_file

__all__ = ["parse", "load"]


@lru_cache(maxsize=256)
def parse(text: str, name: str = "cascade", source: str = "<string>") -> Cascade:
    r"""Parse cascade text into a checked, frozen :class:`Cascade`.

    Parameters
    ----------
    text : str
        One Einsum per line, as in the FuseMax paper.
    name : str
        Name to give the cascade if its header has no ``# name:``.
    source : str
        Where the text came from, used in error messages.

    Returns
    -------
    Cascade

    Raises
    ------
    ParseError
        With ``source:line:column`` and what was expected.

    Examples
    --------
    >>> c = parse("Y = A[k] * B[k]\nZ = Y * A[k]")
    >>> [e.label for e in c.einsums], c.inputs, c.outputs
    (['Y', 'Z'], ('A', 'B'), ('Z',))
    """
    raw = parse_text(text, source)
    return build_cascade(raw, raw.metadata.get("name", name))


def load(name_or_path: str | Path) -> Cascade:
    """Load a built-in cascade by name, or a cascade file by path.

    Examples
    --------
    >>> load("attention-3pass").meta("passes")
    '3'
    """
    text_name = str(name_or_path)
    if text_name in library_names():
        path = library_path(text_name)
    else:
        path = Path(text_name)
        if not path.is_file():
            known = ", ".join(library_names())
            raise EinsumError(f"no built-in cascade or file named {text_name!r} "
                              f"(built-ins: {known})")
    text = read_text_file(path, "cascade")
    source = text_name if text_name in library_names() else str(path)
    return parse(text, path.stem, source)
