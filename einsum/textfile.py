"""Open a user's text file (cascade, YAML spec, ``config.json``) the one way einsim does.

Every file reader of both packages goes through :func:`read_text_file`, so a binary file, a
UTF-16 export or a stray Latin-1 byte gives the same one-line error wherever it is read:
the file, the line and column of the first bad byte, and what was expected (UTF-8 text).
``simulator`` passes its own exception class so that its callers keep catching
``SpecError``; ``einsum`` raises :class:`~einsum.errors.InputFileError`.
"""

from __future__ import annotations

import os

from einsum.errors import InputFileError

__all__ = ["MAX_TEXT_BYTES", "decode_text", "read_text_file"]

#: The largest text file read (64 MiB): a cascade or spec is kilobytes, and a bigger file
#: is almost always the wrong file (a trace, an archive), better refused than read.
MAX_TEXT_BYTES = 64 * 1024 * 1024

_BOMS = {b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16", b"\x00\x00\xfe\xff": "UTF-32"}


def _position(data: bytes, offset: int) -> str:
    """``line L, column C`` (1-based) of byte ``offset``."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def decode_text(data: bytes, name: str, what: str = "text file",
                error: type[Exception] = InputFileError) -> str:
    r"""Decode the bytes of a user's file as UTF-8 (a UTF-8 BOM is allowed).

    Parameters
    ----------
    data : bytes
    name : str
        The file, as the message should name it.
    what : str
        What the file should be (``"cascade"``, ``"sweep spec"``).
    error : type
        The exception class raised (its constructor takes one message).

    Raises
    ------
    error
        One line: the file, where the first bad byte is, and that UTF-8 text was expected.

    Examples
    --------
    >>> decode_text(b"Y = A[k]\n", "y.cas")
    'Y = A[k]\n'
    >>> decode_text(b"Y = A[k] \xe9\n", "y.cas", "cascade")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    einsum.errors.InputFileError: y.cas: line 1, column 10: invalid UTF-8 byte 0xe9; expected the cascade ...
    """
    for bom, encoding in _BOMS.items():
        if data.startswith(bom):
            raise error(f"{name}: the file is {encoding} text; expected the {what} as UTF-8 text "
                        "(re-save it as UTF-8)")
    nul = data.find(b"\x00", 0, 1 << 16)
    if nul >= 0:
        raise error(f"{name}: {_position(data, nul)}: binary data (a NUL byte); "
                    f"expected the {what} as UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        bad = data[err.start]
        raise error(f"{name}: {_position(data, err.start)}: invalid UTF-8 byte 0x{bad:02x}; "
                    f"expected the {what} as UTF-8 text") from None


def read_text_file(path: str | os.PathLike[str], what: str = "text file",
                   error: type[Exception] = InputFileError,
                   max_bytes: int = MAX_TEXT_BYTES) -> str:
    r"""The text of a user's file, or one located error saying why it cannot be read.

    Parameters
    ----------
    path : str or PathLike
    what : str
        What the file should be, for the message.
    error : type
        The exception class raised.
    max_bytes : int
        Larger files are refused before they are read.

    Returns
    -------
    str
        The decoded text (a UTF-8 BOM removed; line ends as in the file).

    Raises
    ------
    error
        The file is missing, a folder, unreadable, too large, or not UTF-8 text.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "u16.cas").write_bytes("Y = A[k]".encode("utf-16"))
    >>> read_text_file(folder / "u16.cas", "cascade")
    Traceback (most recent call last):
    ...
    einsum.errors.InputFileError: ...u16.cas: the file is UTF-16 text; expected the cascade ...
    >>> read_text_file(folder / "missing.yaml", "sweep spec")
    Traceback (most recent call last):
    ...
    einsum.errors.InputFileError: ...missing.yaml: cannot read the sweep spec (No such file or directory)
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as err:
        raise error(f"{name}: cannot read the {what} ({err.strerror or err})") from None
    if len(data) > max_bytes:
        raise error(f"{name}: larger than {max_bytes // (1024 * 1024)} MiB; expected the {what}")
    return decode_text(data, name, what, error)

