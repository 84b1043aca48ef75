r"""Nsight Systems importers: ``nsys stats --format csv`` reports and ``nsys export --type sqlite``.

CSV (reference ``gpus_peers_traces.md`` D.3): ``cuda_gpu_kern_sum`` (``gpukernsum`` in
old builds; with or without Med/StdDev) gives one record per kernel name, whose
``instances`` are its launches and ``duration_s`` their median (the mean when no median
is printed); ``cuda_gpu_trace`` gives one record per launch and its memcpy/memset rows
(no grid) are skipped. Several reports may share a file; sibling reports
(``cuda_api_sum``, ``cuda_gpu_mem_time_sum`` ...) are ignored. When a file lists a
kernel both ways, its per-launch rows are kept and its summary row dropped.
Column units come from the header (``(ns)``, ``(us)``, ``(MB)``); Nsight Systems' MB is
taken as 10**6 bytes (decimal, as its ``MB/s`` throughput column is), so shared memory
``0.098304`` MB is 98304 bytes; a ``(MiB)`` header would be read as 2**20.

SQLite: ``CUPTI_ACTIVITY_KIND_KERNEL`` joined with ``StringIds``, the GPU from
``TARGET_INFO_GPU``/``TARGET_INFO_CUDA_DEVICE``, the export schema version from
``META_DATA_EXPORT``, and NVTX ranges around each launch call (see
:func:`read_nsys_sqlite`). The file is opened read-only and only SELECTs run.

Examples
--------
>>> text = '''Processing [report.sqlite] with [cuda_gpu_kern_sum.py]...
...
... ** CUDA GPU Kernel Summary (cuda_gpu_kern_sum):
...
... Time (%),Total Time (ns),Instances,Avg (ns),Med (ns),Min (ns),Max (ns),StdDev (ns),Name
... 61.5,"4,122,500",10,"412,250.0","412,000.0","410,000","416,000","1,800.5",flash_fwd_kernel
... '''
>>> launch = parse_nsys_text(text, "kern.csv").launches[0]
>>> launch.instances, launch.duration_s, launch.metrics["total_s"], launch.family
(10, 0.000412, 0.0041225, 'fa2')
"""

from __future__ import annotations

import functools
import heapq
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from simulator.errors import TraceError
from simulator.traces.csvtools import (
    Row,
    Table,
    csv_rows,
    decimal_comma,
    display_name,
    nsys_header_kind,
    read_text,
    split_header_unit,
    split_tables,
    to_number,
)
from simulator.traces.families import classify
from simulator.traces.record import GpuInfo, KernelLaunch, Trace

__all__ = ["parse_nsys_text", "read_nsys_csv", "read_nsys_sqlite"]

_KERN_SUM, _GPU_TRACE = "nsys-kern-sum", "nsys-gpu-trace"
#: Columns that hold text, not numbers (not used to decide the decimal mark).
_TEXT_COLUMNS = frozenset({"Name", "Device", "SrcMemKd", "DstMemKd", "GridXYZ", "BlockXYZ"})
#: cuda_gpu_trace's Device cell: "NVIDIA H100 80GB HBM3 (0)".
_DEVICE = re.compile(r"(.*?)\s*\((\d+)\)")
_MEMORY_ROW = re.compile(r"\[CUDA (memcpy|memset)", re.IGNORECASE)


@dataclass(frozen=True)
class _Cells:
    """Reads one table's cells by column base name, in base units, with one-line errors."""

    table: Table
    name: str
    comma: bool

    def column(self, *bases: str) -> int | None:
        """Position of the first column whose name (without its unit) is one of ``bases``."""
        if bases not in self._found:
            self._found[bases] = next((self._bases[base] for base in bases if base in self._bases), None)
        return self._found[bases]

    @functools.cached_property
    def _found(self) -> dict[tuple[str, ...], int | None]:
        """Memo of :meth:`column`: every row asks for the same columns."""
        return {}

    @functools.cached_property
    def _units(self) -> list[str]:
        """Each column's unit from its header ("" when it names none)."""
        return [split_header_unit(cell)[1] for cell in self.table.header]

    @functools.cached_property
    def _bases(self) -> dict[str, int]:
        """Column name without unit → position, computed once per table."""
        bases: dict[str, int] = {}
        for index, cell in enumerate(self.table.header):
            bases.setdefault(split_header_unit(cell)[0], index)
        return bases

    def number(self, row: Row, bases: Sequence[str], default_unit: str = "",
               required: bool = False) -> float | None:
        """A numeric cell in base units (None when absent and not required)."""
        index = self.column(*bases)
        if index is None:
            if required:
                raise TraceError(f"{self.name}: header on line {self.table.line}: no {bases[0]!r} column")
            return None
        unit = self._units[index] or default_unit
        cell = row.cells[index]
        try:
            value = to_number(cell, self.comma, unit)
        except ValueError:
            value, required = None, True
        if value is None and required:
            raise TraceError(f"{self.name}: line {row.line}, column {self.table.header[index].strip()!r}: "
                             f"expected a number, got {cell!r}")
        return value

    def integer(self, row: Row, *bases: str) -> int | None:
        """An integer cell, or None."""
        value = self.number(row, bases)
        return None if value is None else round(value)

    def text(self, row: Row, *bases: str) -> str:
        """A text cell ("" when the column is missing)."""
        index = self.column(*bases)
        return row.cells[index].strip() if index is not None else ""


def _summary(cells: _Cells, row: Row) -> KernelLaunch:
    """One ``cuda_gpu_kern_sum`` row: a kernel name and the statistics of its launches."""
    name = cells.text(row, "Name")
    # Old gpukernsum printed "Average"/"Minimum"/"Maximum" in ns with no unit in the header.
    stats = {"total_s": cells.number(row, ("Total Time",), "ns", required=True),
             "avg_s": cells.number(row, ("Avg", "Average"), "ns", required=True),
             "min_s": cells.number(row, ("Min", "Minimum"), "ns"),
             "max_s": cells.number(row, ("Max", "Maximum"), "ns")}
    median = cells.number(row, ("Med", "Median"), "ns")
    instances = cells.number(row, ("Instances",), required=True)
    return KernelLaunch(kernel=name, family=classify(name)[0],
                        duration_s=median if median is not None else stats["avg_s"],
                        instances=round(instances),
                        metrics=MappingProxyType({k: v for k, v in stats.items() if v is not None}))


def _geometry(cells: _Cells, row: Row, bases: Sequence[str]) -> tuple[int, int, int] | None:
    """Three integer columns (GrdX, GrdY, GrdZ) as a tuple, None when any is empty."""
    values = [cells.integer(row, base) for base in bases]
    return None if any(value is None for value in values) else tuple(values)  # type: ignore[return-value]


def _per_launch(cells: _Cells, row: Row) -> tuple[KernelLaunch | None, str]:
    """One ``cuda_gpu_trace`` kernel row (None for a memcpy/memset row) and its device name."""
    name = cells.text(row, "Name")
    grid = _geometry(cells, row, ("GrdX", "GrdY", "GrdZ"))
    if grid is None or _MEMORY_ROW.match(name):
        return None, ""
    smem = [v for v in (cells.number(row, ("StcSMem",), "B"), cells.number(row, ("DymSMem",), "B"))
            if v is not None]
    device_cell = cells.text(row, "Device")
    match = _DEVICE.fullmatch(device_cell)
    device_name, device = ((match.group(1), int(match.group(2))) if match else
                           ("", int(device_cell)) if device_cell.isascii() and device_cell.isdigit()
                           else (device_cell, None))
    launch = KernelLaunch(kernel=name, family=classify(name)[0],
                          duration_s=cells.number(row, ("Duration",), "ns", required=True),
                          start_s=cells.number(row, ("Start",), "ns"), grid=grid,
                          block=_geometry(cells, row, ("BlkX", "BlkY", "BlkZ")),
                          registers=cells.integer(row, "Reg/Trd"),
                          shared_memory=round(sum(smem)) if smem else None,
                          stream=cells.integer(row, "Strm", "Stream"), device=device,
                          correlation=cells.integer(row, "CorrId"))
    return launch, device_name


def _value_cells(tables: Iterable[Table]) -> list[tuple[int, str]]:
    """The numeric cells of the kernel tables: what the decimal mark is decided on."""
    cells = []
    for table in tables:
        numeric = [i for i, cell in enumerate(table.header)
                   if split_header_unit(cell)[0] not in _TEXT_COLUMNS]
        cells.extend((row.line, row.cells[i]) for row in table.rows for i in numeric)
    return cells


def _no_kernel_report(name: str, tables: Sequence[Table]) -> TraceError:
    """The error for a file without cuda_gpu_kern_sum / cuda_gpu_trace rows."""
    if tables:
        return TraceError(f"{name}: line {tables[0].line}: only other Nsight Systems reports found "
                          f"(header {','.join(tables[0].header)[:60]!r}...); expected cuda_gpu_kern_sum "
                          f"or cuda_gpu_trace")
    return TraceError(f"{name}: no Nsight Systems header (cuda_gpu_kern_sum or cuda_gpu_trace) or Nsight "
                      f"Compute header (a line starting with \"ID\") found")


def parse_nsys_text(text: str, name: str = "<text>", path: str = "") -> Trace:
    r"""Parse the text of ``nsys stats --format csv`` output.

    Parameters
    ----------
    text : str
        One or more ``cuda_gpu_kern_sum`` / ``cuda_gpu_trace`` reports, preamble allowed.
    name : str
        The file name error messages start with.
    path : str
        Recorded as ``Trace.path`` (defaults to ``name``).

    Returns
    -------
    Trace
        ``tool="nsys"``: per-launch rows, then summary rows of kernels they do not list.

    Raises
    ------
    TraceError
        No kernel report, a malformed number (named by line and column), no kernel rows.

    Examples
    --------
    >>> text = ('Start (ns),Duration (ns),CorrId,GrdX,GrdY,GrdZ,BlkX,BlkY,BlkZ,Reg/Trd,StcSMem (MB),'
    ...         'DymSMem (MB),Bytes (MB),Throughput (MB/s),SrcMemKd,DstMemKd,Device,Ctx,GreenCtx,Strm,Name\n'
    ...         '1000,412250,41,16,16,8,128,1,1,255,0.000,0.098304,,,,,NVIDIA H100 80GB HBM3 (0),1,,7,'
    ...         '"void flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 4, false>>(Params)"\n')
    >>> trace = parse_nsys_text(text)
    >>> launch = trace.launches[0]
    >>> launch.duration_s, launch.grid, launch.shared_memory, launch.stream, trace.gpu.name
    (0.00041225, (16, 16, 8), 98304, 7, 'NVIDIA H100 80GB HBM3')
    """
    tables = split_tables(csv_rows(text, name), nsys_header_kind, name)
    kernel_tables = [table for table in tables if table.kind in (_KERN_SUM, _GPU_TRACE)]
    if not kernel_tables:
        raise _no_kernel_report(name, tables)
    comma = decimal_comma(_value_cells(kernel_tables), name)
    launches, summaries, device_names, memory_rows = [], [], [], 0
    for table in kernel_tables:
        cells = _Cells(table, name, comma)
        for row in table.rows:
            if table.kind == _KERN_SUM:
                summaries.append(_summary(cells, row))
                continue
            launch, device_name = _per_launch(cells, row)
            memory_rows += launch is None
            launches += [launch] if launch else []
            device_names += [device_name] if device_name else []
    listed = {launch.kernel for launch in launches}
    kept = [summary for summary in summaries if summary.kernel not in listed]
    if not launches and not kept:
        raise TraceError(f"{name}: no kernel rows under the header on line {kernel_tables[0].line}")
    notes = []
    if len(kept) < len(summaries):
        notes.append(f"{len(summaries) - len(kept)} cuda_gpu_kern_sum rows were dropped: cuda_gpu_trace "
                     f"lists those kernels launch by launch")
    if memory_rows:
        notes.append(f"{memory_rows} memcpy/memset rows of cuda_gpu_trace were skipped")
    return Trace(path=path or name, tool="nsys", tool_version="",
                 gpu=GpuInfo(name=device_names[0] if device_names else "", vendor="nvidia"),
                 launches=tuple(launches + kept), notes=tuple(notes))


def read_nsys_csv(path: str | Path) -> Trace:
    r"""Read ``nsys stats --report cuda_gpu_kern_sum|cuda_gpu_trace --format csv`` output.

    Parameters
    ----------
    path : str or Path
        The CSV file.

    Returns
    -------
    Trace
        See :func:`parse_nsys_text`.

    Raises
    ------
    TraceError
        An unreadable, empty or binary file, or any error of :func:`parse_nsys_text`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "old.csv"
    ...     _ = path.write_text('"Time(%)","Total Time (ns)","Instances","Average","Minimum","Maximum",'
    ...                         '"Name"\n"100.0","9000","3","3000.0","2000","4000","ampere_sgemm_64x32_nn"\n')
    ...     trace = read_nsys_csv(path)
    >>> launch = trace.launches[0]
    >>> trace.tool, launch.kernel, launch.instances, launch.duration_s, launch.metrics["max_s"]
    ('nsys', 'ampere_sgemm_64x32_nn', 3, 3e-06, 4e-06)
    """
    return parse_nsys_text(read_text(path), display_name(path), str(path))


# --- SQLite -------------------------------------------------------------------------------

_KERNEL_TABLE = "CUPTI_ACTIVITY_KIND_KERNEL"
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: Authorizer actions a read needs (SQLite C API codes): READ, SELECT, FUNCTION; the rest,
#: PRAGMA and ATTACH included, are denied.
_READ, _SELECT, _FUNCTION = 20, 21, 31
#: Optional kernel columns, as (column, KernelLaunch field).
_KERNEL_FIELDS = (("deviceId", "device"), ("streamId", "stream"), ("correlationId", "correlation"),
                  ("registersPerThread", "registers"))
_GEOMETRY = (("gridX", "gridY", "gridZ"), ("blockX", "blockY", "blockZ"))
_SMEM = ("staticSharedMemory", "dynamicSharedMemory")
_NAMES = ("demangledName", "shortName", "mangledName")


def _select_only(action: int, *_: Any) -> int:
    """sqlite3 authorizer: allow reads, deny anything that could write, attach or configure."""
    return sqlite3.SQLITE_OK if action in (_READ, _SELECT, _FUNCTION) else sqlite3.SQLITE_DENY


def _quote(identifier: str) -> str:
    """An SQL identifier in double quotes (``end`` is a keyword)."""
    return '"' + identifier.replace('"', '""') + '"'


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The column names of ``table`` (from a SELECT's description: no PRAGMA needed)."""
    return [column[0] for column in conn.execute(f"SELECT * FROM {_quote(table)} LIMIT 0").description]


def _kernel_query(columns: Sequence[str], strings: bool) -> tuple[str, list[str]]:
    """The SELECT over the kernel table and the names of the values it returns, in order."""
    wanted = ["start", "end", *(c for c, _ in _KERNEL_FIELDS), *(c for g in _GEOMETRY for c in g),
              *_SMEM, "globalPid"]
    present = [c for c in wanted if c in columns]
    parts = [f"k.{_quote(c)}" for c in present]
    joins = []
    for number, column in enumerate(c for c in _NAMES if c in columns):
        parts.append(f"k.{_quote(column)}")
        present.append(column)
        if strings:
            parts.append(f"s{number}.value")
            present.append(f"{column}:text")
            joins.append(f"LEFT JOIN StringIds AS s{number} ON s{number}.id = k.{_quote(column)}")
    sql = f"SELECT {', '.join(parts)} FROM {_KERNEL_TABLE} AS k {' '.join(joins)} ORDER BY k.\"start\""
    return sql, present


def _kernel_name(record: dict[str, Any]) -> str:
    """The best name a kernel row has: demangled, short, mangled; text or via StringIds."""
    for column in _NAMES:
        text = record.get(f"{column}:text")
        raw = record.get(column)
        if text:
            return str(text)
        if isinstance(raw, str) and raw:
            return raw
    return "<unnamed kernel>"


def _as_launch(record: dict[str, Any]) -> KernelLaunch:
    """One kernel-table row as a record (times in ns on the GPU timeline)."""
    name = _kernel_name(record)
    geometry = [tuple(record[c] for c in group) if all(record.get(c) is not None for c in group) else None
                for group in _GEOMETRY]
    smem = [record[c] for c in _SMEM if record.get(c) is not None]
    fields = {attr: record.get(column) for column, attr in _KERNEL_FIELDS}
    return KernelLaunch(kernel=name, family=classify(name)[0],
                        duration_s=(record["end"] - record["start"]) / 1e9, start_s=record["start"] / 1e9,
                        grid=geometry[0], block=geometry[1], shared_memory=sum(smem) if smem else None,
                        **fields)


def _kernels(conn: sqlite3.Connection, name: str, tables: set[str]) -> tuple[list[KernelLaunch],
                                                                               list[int | None], int]:
    """The kernel launches, each one's process part of ``globalPid``, and rows without an end."""
    columns = _columns(conn, _KERNEL_TABLE)
    missing = [c for c in ("start", "end") if c not in columns]
    if missing or not any(c in columns for c in _NAMES):
        lacks = ", ".join(missing or ["demangledName/shortName"])
        raise TraceError(f"{name}: table {_KERNEL_TABLE} lacks column(s) {lacks}; expected an "
                         f"`nsys export --type sqlite` file")
    sql, keys = _kernel_query(columns, "StringIds" in tables)
    launches, processes, open_rows = [], [], 0
    for values in conn.execute(sql):
        record = dict(zip(keys, values))
        start, end = record["start"], record["end"]
        if not isinstance(start, (int, float)) or not isinstance(end, (int, float)) or end < start:
            open_rows += 1
            continue
        launches.append(_as_launch(record))
        pid = record.get("globalPid")
        processes.append(None if pid is None else pid >> 24)
    return launches, processes, open_rows


def _first_row(conn: sqlite3.Connection, table: str, wanted: Sequence[str],
               device: int | None) -> dict[str, Any]:
    """The row of a device table for ``device`` (else its first row), as a dict of ``wanted``."""
    columns = _columns(conn, table)
    present = [c for c in wanted if c in columns]
    if not present:
        return {}
    rows = [dict(zip(present, values)) for values in
            conn.execute(f"SELECT {', '.join(map(_quote, present))} FROM {_quote(table)}")]
    ids = [c for c in ("id", "gpuId", "cudaId") if c in present]
    match = [row for row in rows for c in ids if device is not None and row[c] == device]
    return (match or rows or [{}])[0]


def _gpu(conn: sqlite3.Connection, tables: set[str], device: int | None) -> GpuInfo:
    """The GPU the kernels ran on, from the target-info tables that exist."""
    info: dict[str, Any] = {}
    for table in ("TARGET_INFO_GPU", "TARGET_INFO_CUDA_DEVICE"):
        if table in tables:
            row = _first_row(conn, table, ("id", "gpuId", "cudaId", "name", "smCount", "numMultiprocessors",
                                           "computeMajor", "computeMinor"), device)
            for key, value in row.items():
                info.setdefault(key, value)
    sm_count = info.get("smCount", info.get("numMultiprocessors"))
    major, minor = info.get("computeMajor"), info.get("computeMinor")
    return GpuInfo(name=str(info.get("name") or ""), sm_count=None if sm_count is None else int(sm_count),
                   compute_capability=f"{major}.{minor}" if major is not None and minor is not None else "",
                   vendor="nvidia")


def _schema_version(conn: sqlite3.Connection, tables: set[str]) -> str:
    """``META_DATA_EXPORT``'s EXPORT_SCHEMA_VERSION, or ""."""
    if "META_DATA_EXPORT" not in tables or not {"name", "value"} <= set(_columns(conn, "META_DATA_EXPORT")):
        return ""
    row = conn.execute("SELECT value FROM META_DATA_EXPORT WHERE name = 'EXPORT_SCHEMA_VERSION'").fetchone()
    return "" if row is None or row[0] is None else str(row[0])


def _containing(ranges: list[tuple[int, int, str]], queries: list[tuple[int, int]]) -> dict[int, tuple]:
    """For each ``(time, key)`` query, the texts of the ranges ``(start, end, text)`` holding it.

    One sweep in time order; ranges sorted by (start, -end) put enclosing ranges first.
    """
    ranges = sorted(ranges, key=lambda r: (r[0], -r[1]))
    found: dict[int, tuple] = {}
    ends: list[tuple[int, int]] = []
    active: dict[int, str] = {}
    next_range = 0
    for time, key in sorted(queries):
        while next_range < len(ranges) and ranges[next_range][0] <= time:
            start, end, text = ranges[next_range]
            heapq.heappush(ends, (end, next_range))
            active[next_range] = text
            next_range += 1
        while ends and ends[0][0] < time:
            active.pop(heapq.heappop(ends)[1])
        found[key] = tuple(active[i] for i in sorted(active))
    return found


def _nvtx_rows(conn: sqlite3.Connection, tables: set[str]) -> list[tuple[int, int, str, Any]]:
    """Closed NVTX ranges as (start, end, text, globalTid or None)."""
    columns = _columns(conn, "NVTX_EVENTS")
    if not {"start", "end"} <= set(columns) or not {"text", "textId"} & set(columns):
        return []
    text = 'n."text"' if "text" in columns else "NULL"
    joined = "textId" in columns and "StringIds" in tables
    label = f"COALESCE({text}, s.value)" if joined else text
    thread = 'n."globalTid"' if "globalTid" in columns else "NULL"
    join = 'LEFT JOIN StringIds AS s ON s.id = n."textId"' if joined else ""
    sql = (f'SELECT n."start", n."end", {label}, {thread} FROM NVTX_EVENTS AS n {join} '
           f'WHERE n."end" IS NOT NULL AND n."start" IS NOT NULL')
    return [row for row in conn.execute(sql) if row[2]]


def _launch_calls(conn: sqlite3.Connection) -> dict[int, list[tuple[Any, int, Any]]]:
    """Runtime launch calls by correlation id: (process or None, start, globalTid or None)."""
    columns = _columns(conn, "CUPTI_ACTIVITY_KIND_RUNTIME")
    if not {"start", "correlationId"} <= set(columns):
        return {}
    thread = '"globalTid"' if "globalTid" in columns else "NULL"
    calls: dict[int, list[tuple[Any, int, Any]]] = {}
    sql = (f'SELECT "start", "correlationId", {thread} FROM CUPTI_ACTIVITY_KIND_RUNTIME WHERE '
           f'"correlationId" IN (SELECT "correlationId" FROM {_KERNEL_TABLE})')
    for start, correlation, tid in conn.execute(sql):
        calls.setdefault(correlation, []).append((None if tid is None else tid >> 24, start, tid))
    return calls


def _call_of(calls: dict[int, list[tuple[Any, int, Any]]], correlation: int | None,
             process: int | None) -> tuple[Any, int, Any] | None:
    """The launch call of a kernel: same correlation id, same process when ids repeat across processes."""
    entries = calls.get(correlation, []) if correlation is not None else []
    same = [entry for entry in entries if entry[0] == process]
    return (same or (entries if len(entries) == 1 else [None]))[0]


def _ranges(conn: sqlite3.Connection, tables: set[str], launches: list[KernelLaunch],
            processes: list[int | None]) -> list[KernelLaunch]:
    """The launches with ``ranges``: NVTX ranges (on the launching thread) around the launch call."""
    if not {"NVTX_EVENTS", "CUPTI_ACTIVITY_KIND_RUNTIME"} <= tables:
        return launches
    nvtx, calls = _nvtx_rows(conn, tables), _launch_calls(conn)
    if not nvtx or not calls:
        return launches
    # A push/pop range belongs to one thread: match on it when both tables record threads.
    by_thread = (all(row[3] is not None for row in nvtx)
                 and all(entry[2] is not None for entries in calls.values() for entry in entries))
    groups: dict[Any, tuple[list, list]] = {}
    for start, end, text, tid in nvtx:
        groups.setdefault(tid if by_thread else None, ([], []))[0].append((start, end, text))
    for index, (launch, process) in enumerate(zip(launches, processes)):
        call = _call_of(calls, launch.correlation, process)
        if call is not None:
            groups.setdefault(call[2] if by_thread else None, ([], []))[1].append((call[1], index))
    found: dict[int, tuple] = {}
    for spans, queries in groups.values():
        found.update(_containing(spans, queries))
    return [replace(launch, ranges=found[i]) if found.get(i) else launch for i, launch in enumerate(launches)]


def _read_database(conn: sqlite3.Connection, name: str, path: str) -> Trace:
    """The Trace of an open Nsight Systems database."""
    tables = {table for (table,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    if _KERNEL_TABLE not in tables:
        raise TraceError(f"{name}: SQLite file has no {_KERNEL_TABLE} table (export with "
                         f"`nsys export --type sqlite`)")
    launches, processes, open_rows = _kernels(conn, name, tables)
    if not launches:
        raise TraceError(f"{name}: table {_KERNEL_TABLE} has no kernel with a start and an end")
    launches = _ranges(conn, tables, launches, processes)
    notes = (f"{open_rows} kernel rows without a valid end were skipped",) if open_rows else ()
    return Trace(path=path, tool="nsys", tool_version=_schema_version(conn, tables),
                 gpu=_gpu(conn, tables, launches[0].device), launches=tuple(launches), notes=notes)


def read_nsys_sqlite(path: str | Path) -> Trace:
    """Read an Nsight Systems SQLite export (``nsys export --type sqlite``).

    Kernels come from ``CUPTI_ACTIVITY_KIND_KERNEL`` (duration ``end - start`` ns; name
    ``demangledName``, else ``shortName``, through ``StringIds``); columns missing from
    an older schema stay None. With ``NVTX_EVENTS`` and ``CUPTI_ACTIVITY_KIND_RUNTIME``,
    each launch's ``ranges`` are the closed NVTX ranges that hold the start of its
    launch call (joined on the correlation id), on the calling thread, outermost first.

    Parameters
    ----------
    path : str or Path
        The ``.sqlite`` file; it is opened read-only and only read with SELECTs.

    Returns
    -------
    Trace
        ``tool="nsys"``, ``tool_version`` the export schema version when recorded.

    Raises
    ------
    TraceError
        Not an SQLite file, no kernel table or columns, or a database error.

    Examples
    --------
    >>> import sqlite3, tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "run.sqlite"
    ...     db = sqlite3.connect(path)
    ...     _ = db.executescript('''CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT);
    ...         INSERT INTO StringIds VALUES (1, 'void flash::flash_fwd_kernel<T>(P)');
    ...         CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL ("start" INT, "end" INT, demangledName INT,
    ...                                                  gridX INT, gridY INT, gridZ INT);
    ...         INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (1000, 413250, 1, 16, 16, 8);''')
    ...     db.commit(); db.close()
    ...     trace = read_nsys_sqlite(path)
    >>> launch = trace.launches[0]
    >>> launch.family, round(launch.duration_s * 1e6, 2), launch.grid
    ('fa2', 412.25, (16, 16, 8))
    """
    name = display_name(path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise TraceError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    if magic != _SQLITE_MAGIC:
        raise TraceError(f"{name}: not an SQLite file (no 'SQLite format 3' header); expected "
                         f"`nsys export --type sqlite` output")
    try:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise TraceError(f"{name}: cannot open the SQLite file ({exc})") from None
    try:
        conn.set_authorizer(_select_only)
        # A damaged file may hold bytes that are not UTF-8 where text belongs.
        conn.text_factory = lambda data: data.decode("utf-8", "replace")
        return _read_database(conn, name, str(path))
    except sqlite3.Error as exc:
        raise TraceError(f"{name}: cannot read the SQLite file ({exc})") from None
    except (TypeError, ValueError) as exc:
        # Columns of the wrong type (SQLite does not enforce declared types).
        raise TraceError(f"{name}: unexpected values in the SQLite file ({exc})") from None
    finally:
        conn.close()
