"""Built-in cascades, one ``.cas`` text file each.

Each file starts with header comments: ``name``, ``title``, ``source`` (where the
cascade comes from), ``passes`` (the expected pass count, checked by the tests),
``reference`` (the direct definition ``einsim check`` compares against) and ``sizes``
(default small shapes for the check).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["INDEX", "build_index", "library_names", "library_path", "library_row", "library_table",
           "write_index"]


@lru_cache(maxsize=1)
def library_names() -> tuple[str, ...]:
    """Names of the built-in cascades, sorted.

    Examples
    --------
    >>> "attention-1pass" in library_names()
    True
    """
    folder = resources.files(__name__)
    return tuple(sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".cas")))


def library_path(name: str) -> Path:
    """Path of a built-in cascade file."""
    return Path(str(resources.files(__name__) / f"{name}.cas"))


#: The shipped table of the built-ins (``python -m einsum.library`` rewrites it), so that
#: ``einsim cascades`` can list them without parsing and analysing each one; an entry is
#: used only while its file's SHA-256 matches (tests/einsum/test_library.py checks the table).
INDEX = Path(__file__).with_name("index.json")


def _digest(name: str) -> str:
    import hashlib

    return hashlib.sha256(library_path(name).read_bytes()).hexdigest()


def library_row(name: str) -> dict:
    """``{name, passes, rank, expected_passes, title}`` of a built-in, computed from its file.

    Examples
    --------
    >>> library_row("attention-3pass")["passes"]
    3
    """
    from einsum.frontend import load
    from einsum.passes import pass_analysis

    cascade = load(name)
    report = pass_analysis(cascade)
    return {"name": name, "passes": report.passes, "rank": report.rank,
            "expected_passes": int(cascade.meta("passes") or -1), "title": cascade.meta("title") or ""}


def build_index() -> dict:
    """The index of every built-in: its row and the SHA-256 of its file."""
    return {name: {**library_row(name), "sha256": _digest(name)} for name in library_names()}


def library_table() -> list[dict]:
    """Rows of every built-in: from the shipped index where the file is unchanged, else computed.

    Examples
    --------
    >>> rows = library_table()
    >>> [r["passes"] for r in rows if r["name"] == "attention-1pass"]
    [1]
    """
    import json

    try:
        index = json.loads(INDEX.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}
    rows = []
    for name in library_names():
        entry = index.get(name)
        if isinstance(entry, dict) and entry.get("sha256") == _digest(name):
            rows.append({k: v for k, v in entry.items() if k != "sha256"})
        else:
            rows.append(library_row(name))
    return rows


def write_index() -> None:
    """Rewrite the shipped index from the files (``python -m einsum.library``)."""
    import json

    INDEX.write_text(json.dumps(build_index(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
