"""The small real traces shipped in the package (``simulator/data/traces/``, MIT, TraceLens).

Examples
--------
>>> shipped_traces()
['h100_Falconsai_nsfw_image_detection__1016002.json.gz', 'h100_gaunernst_bert-small-uncased__1016001.json.gz']
>>> shipped_trace("h100_gaunernst_bert-small-uncased__1016001.json.gz").stat().st_size > 0
True
>>> shipped_trace("nope.json")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
simulator.errors.TraceError: no shipped trace 'nope.json'; shipped: h100_Falconsai...
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from simulator.errors import TraceError

__all__ = ["shipped_trace", "shipped_traces"]

_FOLDER = Path(str(files("simulator"))) / "data" / "traces"


def shipped_traces() -> list[str]:
    """Names of the shipped trace files, sorted."""
    return sorted(p.name for p in _FOLDER.glob("*.json.gz"))


def shipped_trace(name: str) -> Path:
    """The path of one shipped trace (its licence, ``LICENSE-TraceLens.txt``, lies beside it).

    Raises
    ------
    TraceError
        If no shipped trace has that name.
    """
    path = _FOLDER / name
    if name not in shipped_traces():
        raise TraceError(f"no shipped trace {name!r}; shipped: {', '.join(shipped_traces())}")
    return path
