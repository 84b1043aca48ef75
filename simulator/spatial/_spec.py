"""YAML helpers shared by the architecture and design loaders: files, key paths, quantities.

Every number in a spatial-accelerator YAML file is a quantity ``{value, unit, source}``
(an optional ``note`` is kept with the source). :func:`quantity` converts it to base
units (Hz, bytes, bytes/s, joules, m², cycles, plain counts) and every error is a
one-line :class:`~simulator.errors.SpecError` naming the file and the key path.

Examples
--------
>>> quantity({"value": 940, "unit": "MHz", "source": "paper"}, "frequency", "a.yaml", "clock")
940000000.0
>>> quantity({"value": 1545, "unit": "um2", "source": "ERT"}, "area", "a.yaml", "units.mac")
1.545e-09
>>> quantity({"value": 3, "unit": "furlong", "source": "x"}, "area", "a.yaml", "units.mac")
Traceback (most recent call last):
...
simulator.errors.SpecError: a.yaml: key 'units.mac.unit': expected one of um2, mm2, m2; got 'furlong'
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from simulator.errors import SpecError
from simulator.yamlio import read_yaml as _read_yaml

__all__ = [
    "UNITS",
    "Quantity",
    "check_keys",
    "expect_list",
    "expect_mapping",
    "quantity",
    "quantity_with_source",
    "read_yaml",
    "resolve_yaml",
]

#: Accepted units per kind, as factors to the base unit.
UNITS: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "frequency": {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9},
    "bytes": {"B": 1.0, "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30,
              "KB": 1e3, "MB": 1e6, "GB": 1e9},
    "bits": {"bit": 1.0, "B": 8.0},
    "bandwidth": {"B/s": 1.0, "GB/s": 1e9, "GiB/s": 2.0**30, "TB/s": 1e12},
    "energy": {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "J": 1.0},
    "area": {"um2": 1e-12, "mm2": 1e-6, "m2": 1.0},
    "cycles": {"cycle": 1.0, "cycles": 1.0},
    "count": {"PE": 1.0, "word": 1.0, "entry": 1.0, "access": 1.0, "query": 1.0,
              "fraction": 1.0, "cycle/row": 1.0},
})

_QUANTITY_KEYS = frozenset({"value", "unit", "source", "note"})


class Quantity(NamedTuple):
    """A converted quantity and its citation."""

    value: float
    source: str


def resolve_yaml(name_or_path: str | os.PathLike[str], directories: Iterable[Path],
                 what: str, known: Iterable[str]) -> Path:
    """Find ``NAME.yaml`` in ``directories`` or accept a path to an existing YAML file.

    Raises
    ------
    SpecError
        If nothing matches; the message lists the known names.
    """
    text = os.fspath(name_or_path)
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise SpecError(f"{text}: {what} file not found")
        return path
    key = text.strip().lower().replace("_", "-")
    for directory in directories:
        candidate = directory / f"{key}.yaml"
        if candidate.is_file():
            return candidate
    raise SpecError(f"unknown {what} '{text}'; known: {', '.join(sorted(known))} "
                    "(or give a path to a YAML file)")


def read_yaml(path: Path) -> Mapping[str, Any]:
    """Parse a YAML mapping; syntax errors become one-line SpecErrors with the line."""
    return expect_mapping(_read_yaml(path, "accelerator spec"), path.name, "")


def expect_mapping(node: Any, label: str, path: str) -> Mapping[str, Any]:
    """Return ``node`` if it is a mapping, else raise a SpecError naming ``path``."""
    if not isinstance(node, Mapping):
        where = f"key '{path}'" if path else "document"
        raise SpecError(f"{label}: {where}: expected a mapping; got {_short(node)}")
    return node


def expect_list(node: Any, label: str, path: str) -> list[Any]:
    """Return ``node`` if it is a non-empty list, else raise a SpecError naming ``path``."""
    if not isinstance(node, list) or not node:
        raise SpecError(f"{label}: key '{path}': expected a non-empty list; got {_short(node)}")
    return node


def check_keys(node: Mapping[str, Any], label: str, path: str, required: Iterable[str],
               optional: Iterable[str] = ()) -> None:
    """Reject missing required keys and unknown keys of one mapping."""
    required = tuple(required)
    allowed = set(required) | set(optional)
    prefix = f"{path}." if path else ""
    for key in required:
        if key not in node:
            raise SpecError(f"{label}: missing key '{prefix}{key}'")
    unknown = sorted(str(k) for k in node if k not in allowed)
    if unknown:
        raise SpecError(f"{label}: unknown key '{prefix}{unknown[0]}'; expected one of "
                        f"{', '.join(sorted(allowed))}")


def quantity_with_source(node: Any, kind: str, label: str, path: str,
                         allow_zero: bool = False) -> Quantity:
    """Convert a ``{value, unit, source}`` node to base units; keep its citation.

    Parameters
    ----------
    node : mapping
        The YAML node.
    kind : str
        A key of :data:`UNITS`.
    label, path : str
        File name and key path, for error messages.
    allow_zero : bool
        Accept 0 (e.g. a stall of 0 cycles); negative values are always rejected.

    Raises
    ------
    SpecError
        On a missing key, an unknown unit, or a non-numeric, negative or non-finite value.
    """
    node = expect_mapping(node, label, path)
    check_keys(node, label, path, ("value", "unit", "source"), ("note",))
    units = UNITS[kind]
    if node["unit"] not in units:
        raise SpecError(f"{label}: key '{path}.unit': expected one of {', '.join(units)}; "
                        f"got {node['unit']!r}")
    value = node["value"]
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        expected = "a non-negative number" if allow_zero else "a positive number"
        raise SpecError(f"{label}: key '{path}.value': expected {expected}; got {value!r}")
    if value > 1e15:  # specs give ~1e5 in their unit; more overflows the model's products
        raise SpecError(f"{label}: key '{path}.value': expected a number at most 1e+15 in its "
                        f"unit; got {value!r}")
    source = node["source"]
    if not isinstance(source, str) or not source.strip():
        raise SpecError(f"{label}: key '{path}.source': expected a non-empty citation; "
                        f"got {source!r}")
    note = node.get("note")
    citation = source.strip() + (f" | note: {str(note).strip()}" if note else "")
    return Quantity(float(value) * units[node["unit"]], citation)


def quantity(node: Any, kind: str, label: str, path: str, allow_zero: bool = False) -> float:
    """Like :func:`quantity_with_source` but return only the value in base units."""
    return quantity_with_source(node, kind, label, path, allow_zero).value


def _short(node: Any) -> str:
    """A short repr for error messages."""
    text = repr(node)
    return text if len(text) <= 60 else text[:57] + "..."
