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

__all__ = ["library_names", "library_path"]


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
