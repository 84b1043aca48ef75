r"""CSV helpers shared by the Nsight importers: text, tables after a preamble, numbers, units.

Nsight Compute and Nsight Systems both print CSV mixed with other text (``==PROF==``
lines, the application's stdout, ``Processing [report.sqlite] ...``) and may hold
several reports in one file (reference ``gpus_peers_traces.md`` D.2, D.3, D.6).
:func:`csv_rows` parses each line on its own with the stdlib :mod:`csv` module, so an
unbalanced quote in a preamble line cannot swallow the lines after it (kernel names
never hold line breaks); :func:`split_tables` cuts the rows into :class:`Table` s at
each header it recognises.

Numbers are locale-formatted. :func:`decimal_comma` decides once per file: a cell that
only reads with a decimal comma ("412,25", "1.215.000,00") votes for commas, one that
only reads with a decimal point ("412.25", "1,215,000.00", "10,196,000") votes for
points; cells that read either way ("412", "1,234") do not vote. Any comma vote and no
point vote means decimal commas; votes both ways is an error (one format per file);
otherwise decimal points, the C/English locale the tools print by default.

Units scale to base units (:func:`unit_factor`): seconds, bytes, hertz, bytes per
second, counts; ``%`` to a fraction. Byte prefixes are decimal ("Kbyte" = 1000 bytes:
Nsight Compute prints a 65536-byte shared-memory configuration as 65.54 Kbyte), and so
are ``KB``/``MB``/``GB``; only ``KiB``/``MiB``/``GiB`` are binary.

Examples
--------
>>> text = "==PROF== Disconnected\nID,Kernel Name,dram__bytes.sum\n,,Mbyte\n0,k,\"1,5\"\n"
>>> [(t.kind, t.line, len(t.rows)) for t in split_tables(csv_rows(text, "x.csv"), ncu_header_kind, "x.csv")]
[('ncu-raw', 2, 2)]
>>> decimal_comma([(3, "1,5"), (4, "12")], "x.csv"), to_number("1.215.000,00", True)
(True, 1215000.0)
>>> unit_factor("Gbyte/second"), unit_factor("usecond"), unit_factor("%")
(1000000000.0, 1e-06, 0.01)
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

from simulator.errors import TraceError

__all__ = ["Row", "Table", "csv_rows", "decimal_comma", "display_name", "ncu_header_kind",
           "nsys_header_kind", "number_cell", "read_text", "sniff_csv", "sniff_text",
           "split_header_unit", "split_tables", "to_number", "triple", "unit_factor"]

#: Cells that mean "no value" rather than a malformed number.
_ABSENT = frozenset({"", "n/a", "na", "-", "nan", "inf", "+inf", "-inf"})
_EXP = r"(?:[eE][+-]?\d+)?"
_POINT_GROUPED = re.compile(rf"[+-]?\d{{1,3}}(?:,\d{{3}})+(?:\.\d*)?{_EXP}")
_POINT_PLAIN = re.compile(rf"[+-]?(?:\d+(?:\.\d*)?|\.\d+){_EXP}")
_COMMA_GROUPED = re.compile(rf"[+-]?\d{{1,3}}(?:\.\d{{3}})+(?:,\d*)?{_EXP}")
_COMMA_PLAIN = re.compile(rf"[+-]?(?:\d+(?:,\d*)?|,\d+){_EXP}")
_NUMBERLIKE = re.compile(rf"[+-]?[\d.,]*\d[\d.,]*{_EXP}")
_HEADER_UNIT = re.compile(r"(.*?)\s*\(([^()]*)\)")
#: Lines :func:`sniff_csv` reads before giving up.
_SNIFF_LINES = 200


class Row(NamedTuple):
    """One CSV line: its 1-based line number in the file and its cells."""

    line: int
    cells: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """One report in a file: its kind, header (line ``line``) and data rows."""

    kind: str
    header: tuple[str, ...]
    line: int
    rows: tuple[Row, ...]

    def index(self, *names: str) -> int | None:
        """Position of the first header cell equal to one of ``names`` (or None)."""
        return next((self._positions[name] for name in names if name in self._positions), None)

    @functools.cached_property
    def _positions(self) -> dict[str, int]:
        """Header cell (stripped) → its first position; computed once, rows look up per cell."""
        positions: dict[str, int] = {}
        for index, cell in enumerate(self.header):
            positions.setdefault(cell.strip(), index)
        return positions


def display_name(path: str | Path) -> str:
    """The file name error messages start with."""
    return Path(path).name or str(path)


def _decode(data: bytes, name: str) -> str:
    """Text of a file's bytes; PowerShell redirection writes UTF-16 with a BOM."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise TraceError(f"{name}: not a text file (bad UTF-16); expected a CSV export") from None
    if b"\x00" in data[:65536]:
        raise TraceError(f"{name}: not a text file (binary data); expected a CSV export")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Windows tools write the ANSI code page; Latin-1 reads every byte, and a file
        # that is not CSV still fails at the header search with a clear message.
        return data.decode("latin-1")


def read_text(path: str | Path, limit: int | None = None) -> str:
    """The text of a CSV export (at most ``limit`` bytes); TraceError if unreadable or empty."""
    name = display_name(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read() if limit is None else handle.read(limit)
    except OSError as exc:
        raise TraceError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    text = _decode(data, name)
    if not text.strip():
        raise TraceError(f"{name}: the file is empty; expected a CSV export")
    return text


def csv_rows(text: str, name: str, max_lines: int | None = None) -> list[Row]:
    """The non-blank lines of ``text`` as :class:`Row` s, each line parsed on its own."""
    rows = []
    for number, line in enumerate(text.splitlines()[:max_lines], start=1):
        if not line.strip():
            continue
        try:
            cells = next(csv.reader([line]), [])
        except csv.Error as exc:
            raise TraceError(f"{name}: line {number}: not CSV ({exc})") from None
        rows.append(Row(number, tuple(cells)))
    return rows


def split_header_unit(cell: str) -> tuple[str, str]:
    """``"Total Time (ns)"`` → ``("Total Time", "ns")``; no parentheses → unit ``""``."""
    match = _HEADER_UNIT.fullmatch(cell.strip())
    return (match.group(1), match.group(2).strip()) if match else (cell.strip(), "")


def ncu_header_kind(cells: Sequence[str]) -> str | None:
    """``"ncu-details"``/``"ncu-raw"`` for an Nsight Compute header line, else None."""
    names = [cell.strip() for cell in cells]
    if len(names) < 2 or names[0] != "ID" or "Kernel Name" not in names:
        return None
    return "ncu-details" if {"Metric Name", "Metric Value"} <= set(names) else "ncu-raw"


#: Column names only Nsight Systems' sibling summaries (API, memory, OS runtime) carry.
_NSYS_OTHER = frozenset({"Total Time", "Num Calls", "Operation", "Operations", "Count", "Start"})


def nsys_header_kind(cells: Sequence[str]) -> str | None:
    """``"nsys-kern-sum"``, ``"nsys-gpu-trace"``, ``"nsys-other"`` (a sibling report) or None."""
    names = {split_header_unit(cell)[0] for cell in cells}
    if len(cells) < 3 or ncu_header_kind(cells):
        return None
    if {"Name", "Instances", "Total Time"} <= names:
        return "nsys-kern-sum"
    if {"Start", "Duration", "Name"} <= names:
        return "nsys-gpu-trace"
    first = split_header_unit(cells[0])[0]
    return "nsys-other" if names & _NSYS_OTHER or first in ("Time", "Total") else None


def _is_data(row: Row, builder: list) -> bool:
    """Whether ``row`` continues the table: a number first, or a units row under a raw header."""
    first = row.cells[0].strip() if row.cells else ""
    if _NUMBERLIKE.fullmatch(first):
        return True
    # Nsight Compute's raw page puts units in the row after the header, blank under IDs.
    return builder[0] == "ncu-raw" and not builder[3] and first == ""


def split_tables(rows: Iterable[Row], kind_of: Callable[[Sequence[str]], str | None],
                 name: str) -> list[Table]:
    """The tables in ``rows``: each starts at a header ``kind_of`` names.

    A data row starts with a number; any other line (app output, another report's
    header) ends the table. A data row whose cell count differs from its header's is
    an error (a truncated or mixed file), named by line.
    """
    builders: list[list] = []
    current: list | None = None
    for row in rows:
        first = row.cells[0].strip() if row.cells else ""
        # No header starts with a number, so data rows skip the header test (the hot path).
        kind = None if _NUMBERLIKE.fullmatch(first) else kind_of(row.cells)
        if kind is not None:
            current = [kind, row.cells, row.line, []]
            builders.append(current)
        elif current is not None and _is_data(row, current):
            if len(row.cells) != len(current[1]):
                raise TraceError(f"{name}: line {row.line}: expected {len(current[1])} cells as in the "
                                 f"header on line {current[2]}, got {len(row.cells)} (truncated file?)")
            current[3].append(row)
        else:
            current = None
    return [Table(kind, tuple(header), line, tuple(found)) for kind, header, line, found in builders]


#: Digits → "9": cells of one shape ("9,999.9") vote alike, so each shape is matched once.
_SHAPE = str.maketrans("0123456789", "9999999999")


def _vote(cell: str) -> str | None:
    """``"point"``/``"comma"`` when a cell reads only with that decimal mark, else None."""
    text = cell.strip()
    return None if text.isascii() and text.isdigit() else _shape_vote(text.translate(_SHAPE))


@functools.lru_cache(maxsize=4096)
def _shape_vote(text: str) -> str | None:
    """:func:`_vote` of a cell whose digits are all 9."""
    point = bool(_POINT_GROUPED.fullmatch(text) or _POINT_PLAIN.fullmatch(text))
    comma = bool(_COMMA_GROUPED.fullmatch(text) or _COMMA_PLAIN.fullmatch(text))
    return None if point == comma else ("point" if point else "comma")


def decimal_comma(cells: Iterable[tuple[int, str]], name: str) -> bool:
    """Whether a file's numbers use decimal commas, from its ``(line, cell)`` value cells.

    Raises
    ------
    TraceError
        When some cells read only with a decimal point and others only with a comma.
    """
    first: dict[str, tuple[int, str]] = {}
    for line, cell in cells:
        vote = _vote(cell)
        if vote and vote not in first:
            first[vote] = (line, cell.strip())
    if len(first) == 2:
        (pline, pcell), (cline, ccell) = first["point"], first["comma"]
        raise TraceError(f"{name}: line {pline}: {pcell!r} reads only with a decimal point but line "
                         f"{cline}: {ccell!r} only with a decimal comma; expected one number format per file")
    return "comma" in first


def to_number(cell: str, comma: bool = False, unit: str = "") -> float | None:
    """The number in a cell, in base units of ``unit`` (None for ``n/a``/empty).

    The digits are scaled as a decimal, so ``"71.40"`` % is exactly ``0.714``.

    Raises
    ------
    ValueError
        When the cell is not a number in the file's format.

    Examples
    --------
    >>> to_number("1,215,000,000.00"), to_number("412,25", comma=True), to_number("n/a")
    (1215000000.0, 412.25, None)
    >>> to_number("71.40", unit="%"), to_number("412.25", unit="usecond")
    (0.714, 0.00041225)
    """
    text = cell.strip().replace("\u00a0", "").replace("\u202f", "")
    if text.lower() in _ABSENT:
        return None
    grouped, plain, group, mark = ((_COMMA_GROUPED, _COMMA_PLAIN, ".", ",") if comma
                                   else (_POINT_GROUPED, _POINT_PLAIN, ",", "."))
    if text.isascii() and text.isdigit():  # the common case: no sign, separator or decimal mark
        pass
    elif grouped.fullmatch(text):
        text = text.replace(group, "")
    elif not plain.fullmatch(text):
        raise ValueError(f"not a number: {cell!r}")
    text = text.replace(mark, ".") if comma else text
    factor = _factor(unit) if unit else 1
    if factor == 1:
        return float(text)
    return float(Decimal(text) * factor.numerator / factor.denominator)


def number_cell(table: Table, row: Row, index: int, comma: bool, name: str) -> float | None:
    """:func:`to_number` of one cell, with a TraceError naming line and column."""
    try:
        return to_number(row.cells[index], comma)
    except ValueError:
        raise TraceError(f"{name}: line {row.line}, column {table.header[index].strip()!r}: "
                         f"expected a number, got {row.cells[index]!r}") from None


def triple(cell: str) -> tuple[int, int, int] | None:
    """``"(16, 16, 8)"`` → ``(16, 16, 8)``; None when the cell is empty; ValueError if malformed."""
    text = cell.strip().strip("()[]").strip()
    if not text:
        return None
    # ", " separates the entries, so a bare "," is a thousands separator unless the
    # cell has no spaces at all ("16,16,8").
    parts = [part for part in re.split(r"[;\s]+|,\s+", text) if part]
    if len(parts) == 1:
        parts = text.split(",")
    numbers = [to_number(part.replace(",", "")) for part in parts]
    if len(numbers) != 3 or any(n is None or n != int(n) or n < 0 for n in numbers):
        raise ValueError(f"not three sizes: {cell!r}")
    return int(numbers[0]), int(numbers[1]), int(numbers[2])


#: Spelled-out unit abbreviations, in base units (exact, so that 1/ns is exactly 1e9).
_ABBREVIATIONS = {"s": Fraction(1), "ms": Fraction(1, 10**3), "us": Fraction(1, 10**6),
                  "µs": Fraction(1, 10**6), "ns": Fraction(1, 10**9), "B": Fraction(1),
                  "KB": Fraction(10**3), "MB": Fraction(10**6), "GB": Fraction(10**9),
                  "TB": Fraction(10**12), "KiB": Fraction(2**10), "MiB": Fraction(2**20),
                  "GiB": Fraction(2**30), "TiB": Fraction(2**40), "%": Fraction(1, 100)}
_PREFIXES = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "µ": Fraction(1, 10**6),
             "m": Fraction(1, 10**3), "K": Fraction(10**3), "k": Fraction(10**3), "M": Fraction(10**6),
             "G": Fraction(10**9), "T": Fraction(10**12), "P": Fraction(10**15)}
#: Unit words Nsight Compute prefixes with SI letters ("Kbyte", "msecond", "Ghz", "Mcycle").
_WORDS = frozenset({"second", "byte", "hz", "cycle", "inst", "sector", "request", "warp", "thread",
                    "block", "register", "wavefront", "transaction", "flop", "bit"})


def _term_factor(term: str) -> Fraction:
    """Factor of one side of a unit ("Kbyte", "usecond"); unknown words count 1."""
    text = term.strip()
    if text in _ABBREVIATIONS:
        return _ABBREVIATIONS[text]
    if not text or text.lower() in _WORDS:
        return Fraction(1)
    prefix, rest = text[0], text[1:].lower()
    if prefix in _PREFIXES and rest in _WORDS:
        # Nobody means millihertz: "mhz" is a lower-cased "Mhz".
        return _PREFIXES["M"] if (prefix, rest) == ("m", "hz") else _PREFIXES[prefix]
    return Fraction(1)


def unit_factor(unit: str) -> float:
    """What to multiply a value in ``unit`` by to get base units (s, B, Hz, B/s; % → fraction).

    Examples
    --------
    >>> unit_factor("Kbyte"), unit_factor("Mhz"), unit_factor("cycle/nsecond"), unit_factor("inst")
    (1000.0, 1000000.0, 1000000000.0, 1.0)
    """
    return float(_factor(unit))


@functools.lru_cache(maxsize=1024)
def _factor(unit: str) -> Fraction:
    """The exact factor of :func:`unit_factor`."""
    numerator, _, denominator = unit.strip().partition("/")
    return _term_factor(numerator) / (_term_factor(denominator) if denominator else 1)



def sniff_text(text: str, name: str, max_lines: int | None = _SNIFF_LINES) -> str:
    """``"ncu"`` or ``"nsys"``: the tool whose header comes first in ``text``."""
    for row in csv_rows(text, name, max_lines):
        if ncu_header_kind(row.cells):
            return "ncu"
        if nsys_header_kind(row.cells):
            return "nsys"
    within = f" in the first {max_lines} lines" if max_lines else ""
    raise TraceError(f"{name}: no Nsight Compute header (a line starting with \"ID\") or Nsight Systems "
                     f"header (cuda_gpu_kern_sum or cuda_gpu_trace) found{within}")


def sniff_csv(path: str | Path) -> str:
    r"""Which Nsight tool wrote a CSV file, from its first 200 lines.

    Parameters
    ----------
    path : str or Path
        A ``ncu --csv`` or ``nsys stats --format csv`` output.

    Returns
    -------
    str
        ``"ncu"`` or ``"nsys"``.

    Raises
    ------
    TraceError
        When the file cannot be read or no known header is found.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "kern.csv"
    ...     _ = path.write_text('"Time (%)","Total Time (ns)","Instances","Avg (ns)","Name"\n')
    ...     sniff_csv(path)
    'nsys'
    """
    # A line is at most a few kilobytes even with long template names.
    text = read_text(path, limit=4 * 1024 * 1024)
    return sniff_text(text, display_name(path))
