"""Values written in a measurement row's free-text ``notes`` (``kv_heads=8; …``).

Examples
--------
>>> note_int("paged KV page_size=8, nheads_kv=32, CUDA graph", "page_size")
8
>>> note_int("kv_heads=8; clock drops", "kv_heads"), note_int("no such thing", "kv_heads")
(8, None)
"""

from __future__ import annotations

__all__ = ["note_int"]


def note_int(notes: object, key: str) -> int | None:
    """The integer after ``key=`` in ``notes`` (the last word before ``=`` must be ``key``)."""
    for part in str(notes).replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name.split()[-1:] == [key] and value.strip().isdigit():
            return int(value)
    return None
