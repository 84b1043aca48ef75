r"""Nsight Compute CSV importer: ``ncu --csv [--page details|raw] ... > out.csv`` → :class:`Trace`.

Two layouts (reference ``gpus_peers_traces.md`` D.2): the **details** page, one row per
metric (identity columns, then ``Section Name, Metric Name, Metric Unit, Metric Value``
and optional rule columns), and the **raw** page, one row per launch with one column
per metric and the units in the row under the header. Rows sharing an ``ID`` are one
launch (passes and replays share it); a repeated metric takes the median of its
values. A file may hold several reports (a header again): IDs restart in each.

Every numeric metric is kept in base units (:func:`~simulator.traces.csvtools.to_number`:
seconds, bytes, bytes/s, hertz, counts; percentages as fractions), keyed by metric name;
the same name in a second section is keyed ``"<section>: <name>"``. Text metrics
(``device__attribute_display_name``) only name the GPU. Decimal commas are detected
per file (:func:`~simulator.traces.csvtools.decimal_comma`).

Examples
--------
>>> header = '"ID","Kernel Name","Grid Size","CC","Metric Name","Metric Unit","Metric Value"'
>>> rows = ['"0","flash_fwd_kernel","(16, 16, 8)","9.0","gpu__time_duration.sum","us","412.25"',
...         '"0","flash_fwd_kernel","(16, 16, 8)","9.0","sm__throughput.avg.pct_of_peak_sus'
...         'tained_elapsed","%","71.40"']
>>> text = "\n".join(["==PROF== Connected to process 4242", header, *rows])
>>> trace = parse_ncu_text(text, "run.csv")
>>> launch = trace.launches[0]
>>> launch.family, round(launch.duration_s * 1e6, 2), launch.grid, trace.gpu.compute_capability
('fa2', 412.25, (16, 16, 8), '9.0')
>>> launch.metrics["sm__throughput.avg.pct_of_peak_sustained_elapsed"]
0.714
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from simulator.errors import TraceError
from simulator.traces.csvtools import (
    Row,
    Table,
    csv_rows,
    decimal_comma,
    display_name,
    ncu_header_kind,
    read_text,
    split_tables,
    to_number,
    triple,
)
from simulator.traces.families import classify
from simulator.traces.record import GpuInfo, KernelLaunch, Trace

__all__ = ["parse_ncu_text", "read_ncu_csv"]

#: Columns that say which launch a row is about (or carry rule advice), not a metric.
_IDENTITY = frozenset({"ID", "Process ID", "Process Name", "Host Name", "Kernel Name", "Kernel Time",
                       "Context", "Stream", "Block Size", "Grid Size", "Device", "CC", "Section Name",
                       "Metric Name", "Metric Unit", "Metric Value", "Rule Name", "Rule Type",
                       "Rule Description", "Estimated Speedup Type", "Estimated Speedup"})
#: Metric names, first found wins: ``--metrics`` names, then the section labels.
_DURATION = ("gpu__time_duration.sum", "gpu__time_duration.avg", "Duration")
_REGISTERS = ("launch__registers_per_thread", "Registers Per Thread")
_STATIC_SMEM = ("launch__shared_mem_per_block_static", "Static Shared Memory Per Block")
_DYNAMIC_SMEM = ("launch__shared_mem_per_block_dynamic", "Dynamic Shared Memory Per Block")
_SM_COUNT = ("device__attribute_multiprocessor_count", "# SMs")


@dataclass
class _Launch:
    """One launch ID's rows, gathered while reading."""

    kernel: str
    line: int
    stream: int | None = None
    device: int | None = None
    device_name: str = ""
    compute_capability: str = ""
    grid: tuple[int, int, int] | None = None
    block: tuple[int, int, int] | None = None
    values: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Reader:
    """What every row of a file is read with: its name and decimal mark."""

    name: str
    comma: bool

    def fail(self, row: Row, column: str, expected: str, cell: str) -> TraceError:
        """The one-line error for a malformed cell."""
        return TraceError(f"{self.name}: line {row.line}, column {column!r}: expected {expected}, "
                          f"got {cell!r}")

    def cell(self, table: Table, row: Row, column: str) -> str:
        """A cell by column name ("" when the report lacks the column)."""
        index = table.index(column)
        return row.cells[index].strip() if index is not None else ""

    def integer(self, table: Table, row: Row, column: str) -> int | None:
        """An integer identity cell (None when empty or ``n/a``)."""
        cell = self.cell(table, row, column)
        try:
            value = to_number(cell, self.comma)
            if value is not None and value != int(value):
                raise ValueError(cell)
        except ValueError:
            raise self.fail(row, column, "an integer", cell) from None
        return None if value is None else int(value)

    def geometry(self, table: Table, row: Row, column: str) -> tuple[int, int, int] | None:
        """A ``"(x, y, z)"`` cell."""
        cell = self.cell(table, row, column)
        try:
            return triple(cell)
        except ValueError:
            raise self.fail(row, column, 'three sizes like "(256, 1, 1)"', cell) from None

    def metric(self, launch: _Launch, row: Row, key: tuple[str, str], unit: str, cell: str) -> None:
        """Add one metric value (numbers scaled to base units; text kept aside)."""
        try:
            value = to_number(cell, self.comma, unit)
        except ValueError:
            if unit.strip():
                raise self.fail(row, key[1], f"a number in {unit.strip()!r}", cell) from None
            launch.texts.setdefault(key[1], cell.strip())
            return
        if value is not None:
            launch.values.setdefault(key, []).append(value)


def _identity(reader: _Reader, table: Table, row: Row) -> _Launch:
    """A launch from the identity columns of its first row."""
    device = reader.cell(table, row, "Device")
    launch = _Launch(kernel=reader.cell(table, row, "Kernel Name"), line=row.line,
                     stream=reader.integer(table, row, "Stream"),
                     compute_capability=reader.cell(table, row, "CC").replace(",", "."),
                     grid=reader.geometry(table, row, "Grid Size"),
                     block=reader.geometry(table, row, "Block Size"))
    # "Device" is usually the CUDA index; some builds print the device name instead.
    if device.isascii() and device.isdigit():
        launch.device = int(device)
    else:
        launch.device_name = device
    return launch


def _launch_for(reader: _Reader, table: Table, row: Row, launches: dict) -> _Launch:
    """The launch a row belongs to, created at its ID's first row."""
    launch_id = reader.integer(table, row, "ID")
    if launch_id is None:
        raise reader.fail(row, "ID", "a launch index", reader.cell(table, row, "ID"))
    if launch_id not in launches:
        launches[launch_id] = _identity(reader, table, row)
    return launches[launch_id]


def _read_details(reader: _Reader, table: Table) -> list[_Launch]:
    """The launches of a details-page table (one row per metric)."""
    launches: dict[int, _Launch] = {}
    columns = [table.index(name) for name in ("Section Name", "Metric Name", "Metric Unit", "Metric Value")]
    section, metric, unit, value = columns
    for row in table.rows:
        launch = _launch_for(reader, table, row, launches)
        name = row.cells[metric].strip()
        if not name:  # a rule's advice row, no metric
            continue
        key = (row.cells[section].strip() if section is not None else "", name)
        reader.metric(launch, row, key, row.cells[unit] if unit is not None else "", row.cells[value])
    return list(launches.values())


def _read_raw(reader: _Reader, table: Table) -> list[_Launch]:
    """The launches of a raw-page table (one column per metric, units in the first row)."""
    rows = list(table.rows)
    units = rows.pop(0).cells if rows and not rows[0].cells[0].strip() else ("",) * len(table.header)
    metrics = [(i, cell.strip()) for i, cell in enumerate(table.header) if cell.strip() not in _IDENTITY]
    launches: dict[int, _Launch] = {}
    for row in rows:
        launch = _launch_for(reader, table, row, launches)
        for index, name in metrics:
            reader.metric(launch, row, ("", name), units[index], row.cells[index])
    return list(launches.values())


def _metrics(launch: _Launch) -> dict[str, float]:
    """Median of each metric's values, keyed by name (``"<section>: <name>"`` if repeated)."""
    metrics: dict[str, float] = {}
    for (section, name), values in launch.values.items():
        key = name if name not in metrics else f"{section}: {name}"
        metrics[key] = statistics.median(values)
    return metrics


def _first(metrics: dict[str, float], names: tuple[str, ...]) -> float | None:
    """The first of ``names`` present in ``metrics``."""
    return next((metrics[name] for name in names if name in metrics), None)


def _kernel_launch(launch: _Launch, metrics: dict[str, float], duration: float) -> KernelLaunch:
    """The tidy record of one gathered launch."""
    registers = _first(metrics, _REGISTERS)
    smem = [value for value in (_first(metrics, _STATIC_SMEM), _first(metrics, _DYNAMIC_SMEM))
            if value is not None]
    return KernelLaunch(kernel=launch.kernel, family=classify(launch.kernel)[0], duration_s=duration,
                        grid=launch.grid, block=launch.block,
                        registers=None if registers is None else round(registers),
                        shared_memory=round(sum(smem)) if smem else None,
                        stream=launch.stream, device=launch.device, metrics=MappingProxyType(metrics))


def _gpu(launches: list[_Launch]) -> GpuInfo:
    """The device of the first launch that says anything about it."""
    for launch in launches:
        name = launch.device_name or launch.texts.get("device__attribute_display_name", "")
        sm_count = _first(_metrics(launch), _SM_COUNT)
        if name or sm_count is not None or launch.compute_capability:
            return GpuInfo(name=name, sm_count=None if sm_count is None else round(sm_count),
                           compute_capability=launch.compute_capability, vendor="nvidia")
    return GpuInfo(vendor="nvidia")


def _value_cells(tables: list[Table]) -> list[tuple[int, str]]:
    """The metric-value cells of every table: what the decimal mark is decided on."""
    cells = []
    for table in tables:
        value = table.index("Metric Value")
        columns = ([value] if value is not None else
                   [i for i, cell in enumerate(table.header) if cell.strip() not in _IDENTITY])
        cells.extend((row.line, row.cells[i]) for row in table.rows for i in columns)
    return cells


def parse_ncu_text(text: str, name: str = "<text>", path: str = "") -> Trace:
    r"""Parse the text of an Nsight Compute CSV export.

    Parameters
    ----------
    text : str
        The whole output of ``ncu --csv`` (preamble lines allowed).
    name : str
        The file name error messages start with.
    path : str
        Recorded as ``Trace.path`` (defaults to ``name``).

    Returns
    -------
    Trace
        ``tool="ncu"``; one launch per launch ID and report, in file order.

    Raises
    ------
    TraceError
        No header, a malformed cell (named by line and column), or no launch with a
        ``gpu__time_duration`` metric.

    Examples
    --------
    >>> text = ('ID,Kernel Name,Device,CC,gpu__time_duration.sum,dram__bytes_read.sum\n'
    ...         ',,,,msecond,Kbyte\n0,ampere_sgemm_128x64_nn,0,"8,0","1,5","2.048,5"\n')
    >>> launch = parse_ncu_text(text).launches[0]
    >>> launch.family, launch.duration_s, launch.metrics["dram__bytes_read.sum"]
    ('gemm', 0.0015, 2048500.0)
    """
    tables = split_tables(csv_rows(text, name), ncu_header_kind, name)
    if not tables:
        raise TraceError(f"{name}: no Nsight Compute header (a line starting with \"ID\" and naming "
                         f"\"Kernel Name\") found; expected `ncu --csv` output")
    reader = _Reader(name, decimal_comma(_value_cells(tables), name))
    gathered = [launch for table in tables
                for launch in (_read_details if table.kind == "ncu-details" else _read_raw)(reader, table)]
    if not gathered:
        raise TraceError(f"{name}: no launch rows under the header on line {tables[0].line}; expected "
                         f"rows starting with a launch ID")
    launches, skipped = [], 0
    for launch in gathered:
        metrics = _metrics(launch)
        duration = _first(metrics, _DURATION)
        if duration is None:
            skipped += 1
        else:
            launches.append(_kernel_launch(launch, metrics, duration))
    if not launches:
        raise TraceError(f"{name}: none of the {len(gathered)} launches has a gpu__time_duration metric; "
                         f"profile with --metrics gpu__time_duration.sum or --section SpeedOfLight")
    notes = [f"{skipped} launches without gpu__time_duration were skipped"] if skipped else []
    if reader.comma:
        notes.append("numbers read with decimal commas (a European locale)")
    return Trace(path=path or name, tool="ncu", tool_version="", gpu=_gpu(gathered),
                 launches=tuple(launches), notes=tuple(notes))


def read_ncu_csv(path: str | Path) -> Trace:
    r"""Read an Nsight Compute CSV export (``ncu --csv [--page details|raw]``).

    Parameters
    ----------
    path : str or Path
        The CSV file.

    Returns
    -------
    Trace
        See :func:`parse_ncu_text`.

    Raises
    ------
    TraceError
        An unreadable, empty or binary file, or any error of :func:`parse_ncu_text`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "ncu.csv"
    ...     _ = path.write_text('"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"\n'
    ...                         '"0","flash_fwd_kernel","gpu__time_duration.sum","nsecond","10,196,000"\n')
    ...     trace = read_ncu_csv(path)
    >>> trace.tool, trace.name, trace.launches[0].duration_s
    ('ncu', 'ncu', 0.010196)
    """
    return parse_ncu_text(read_text(path), display_name(path), str(path))
