"""One entry point for every trace format: ``load_trace(path, manifest=None)``.

The format is told by content, not by suffix: gzip, ``{`` or ``[`` → Kineto JSON, the SQLite
magic → Nsight Systems SQLite, text → an Nsight Compute or Nsight Systems CSV (by its
header).

Examples
--------
>>> load_trace("no/such/file.json")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
simulator.errors.TraceError: no/such/file.json: trace file not found
"""

from __future__ import annotations

import os
from pathlib import Path

from simulator.errors import TraceError
from simulator.traces.record import Trace

__all__ = ["load_trace", "trace_format"]

_SQLITE_MAGIC = b"SQLite format 3\x00"


def trace_format(path: str | os.PathLike[str]) -> str:
    """``"kineto"``, ``"nsys-sqlite"`` or ``"csv"`` from a file's first bytes."""
    name = os.fspath(path)
    file = Path(name)
    if not file.exists():
        raise TraceError(f"{name}: trace file not found")
    if not file.is_file():
        raise TraceError(f"{name}: not a file (give a trace file, not a folder)")
    with open(name, "rb") as stream:
        head = stream.read(64)
    if not head.strip():
        raise TraceError(f"{name}: empty file")
    if head.startswith(b"\x1f\x8b") or head.lstrip()[:1] in (b"{", b"["):
        return "kineto"
    if head.startswith(_SQLITE_MAGIC):
        return "nsys-sqlite"
    return "csv"


def load_trace(path: str | os.PathLike[str], manifest: str | os.PathLike[str] | None = None) -> Trace:
    """Read a trace of any supported format; apply a workload manifest if given.

    Parameters
    ----------
    path : str or path-like
        Kineto JSON (``.json``/``.json.gz``), Nsight Compute CSV, Nsight Systems CSV
        (``cuda_gpu_kern_sum``, ``cuda_gpu_trace``) or Nsight Systems SQLite export.
    manifest : str or path-like, optional
        A workload manifest (:mod:`simulator.traces.manifest`).

    Returns
    -------
    Trace

    Raises
    ------
    TraceError
        Missing file, unknown format, or a malformed file (one line naming it).
    """
    kind = trace_format(path)
    if kind == "kineto":
        from simulator.traces.kineto import read_kineto

        trace = read_kineto(path)
    elif kind == "nsys-sqlite":
        from simulator.traces.nsys import read_nsys_sqlite

        trace = read_nsys_sqlite(path)
    else:
        from simulator.traces.csvtools import sniff_csv

        if sniff_csv(path) == "ncu":
            from simulator.traces.ncu import read_ncu_csv

            trace = read_ncu_csv(path)
        else:
            from simulator.traces.nsys import read_nsys_csv

            trace = read_nsys_csv(path)
    if manifest is not None:
        from simulator.traces.manifest import apply_manifest, load_manifest

        trace = apply_manifest(trace, load_manifest(manifest))
    return trace
