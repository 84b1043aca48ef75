"""Device names in traces -> GPU catalogue names, and the vendor of a device.

Traces name the GPU the way the driver does (``"NVIDIA H100 80GB HBM3"``,
``"AMD Instinct MI300X VF"``); the cost model needs a catalogue name (``h100-sxm5``,
``mi300x``). The mapping lives in ``simulator/data/device_names.yaml``: regular
expressions, each with the catalogue GPU it stands for, the SM/CU count of that device (which
picks between devices sharing a name, e.g. a bare ``"H100"`` with 132 SMs (SXM5) or 114
(PCIe)), a ``note`` when the mapping is approximate and a ``source``.

Examples
--------
>>> catalogue_name("NVIDIA H100 80GB HBM3", 132)
('h100-sxm5', '')
>>> catalogue_name("AMD Instinct MI300X VF", 304)
('mi300x', 'virtualised MI300X (VF): same silicon, priced as mi300x')
>>> vendor_of("AMD Instinct MI300X"), vendor_of("NVIDIA B200"), vendor_of("TPU v5e")
('amd', 'nvidia', '')
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from simulator.errors import SpecError
from simulator.hardware import list_gpus, load_gpu
from simulator.yamlio import read_yaml

__all__ = ["DeviceEntry", "catalogue_name", "device_entries", "vendor_of"]

_ENTRY_KEYS = frozenset({"pattern", "gpu", "sm_count", "note", "about", "source"})


@dataclass(frozen=True)
class DeviceEntry:
    """One device-name rule: a regex, the catalogue GPU, its SM count, a note, a source.

    ``note`` is returned with a match (why the mapping is approximate); ``about`` describes a
    device the catalogue has no spec file for and is quoted only in the error.
    """

    pattern: re.Pattern[str]
    gpu: str
    sm_count: int | None
    note: str
    source: str
    about: str = ""


def _path() -> Path:
    """The built-in mapping file."""
    return Path(str(files("simulator") / "data" / "device_names.yaml"))


def _regex(label: str, key: str, text: Any) -> re.Pattern[str]:
    """Compile a case-insensitive pattern (one-line SpecError when it is not a valid regex)."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{label}: key '{key}': expected a regular expression; got {text!r}")
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as err:
        raise SpecError(f"{label}: key '{key}': invalid regular expression {text!r}: {err}") from None


def _entry(label: str, index: int, node: Any) -> DeviceEntry:
    """Validate one ``devices`` entry."""
    where = f"devices[{index}]"
    if not isinstance(node, Mapping):
        raise SpecError(f"{label}: key '{where}': expected a mapping; got {node!r}")
    unknown = sorted(set(node) - _ENTRY_KEYS)
    if unknown:
        raise SpecError(f"{label}: unknown key '{where}.{unknown[0]}'; expected one of "
                        f"{', '.join(sorted(_ENTRY_KEYS))}")
    for key in ("gpu", "source"):
        if not isinstance(node.get(key), str) or not node[key].strip():
            raise SpecError(f"{label}: key '{where}.{key}': expected a non-empty string; "
                            f"got {node.get(key)!r}")
    sm_count = node.get("sm_count")
    if sm_count is not None and (isinstance(sm_count, bool) or not isinstance(sm_count, int)
                                 or sm_count <= 0):
        raise SpecError(f"{label}: key '{where}.sm_count': expected a positive integer; "
                        f"got {sm_count!r}")
    return DeviceEntry(_regex(label, f"{where}.pattern", node.get("pattern")), node["gpu"].strip(),
                       sm_count, str(node.get("note") or "").strip(), node["source"].strip(),
                       str(node.get("about") or "").strip())


@functools.lru_cache(maxsize=1)
def _table() -> tuple[tuple[DeviceEntry, ...], tuple[tuple[str, re.Pattern[str]], ...]]:
    """The parsed mapping file: device entries in order and vendor patterns."""
    path = _path()
    doc = read_yaml(path, "device-name table")
    label = path.name
    if not isinstance(doc, Mapping) or not isinstance(doc.get("devices"), list):
        raise SpecError(f"{label}: expected a mapping with a 'devices' list")
    entries = tuple(_entry(label, i, node) for i, node in enumerate(doc["devices"]))
    vendors = []
    for vendor, node in (doc.get("vendors") or {}).items():
        text = node.get("pattern") if isinstance(node, Mapping) else node
        vendors.append((str(vendor), _regex(label, f"vendors.{vendor}.pattern", text)))
    return entries, tuple(vendors)


def device_entries() -> tuple[DeviceEntry, ...]:
    """All device-name rules, in file order.

    Examples
    --------
    >>> all(entry.source for entry in device_entries())
    True
    """
    return _table()[0]


def _not_in_catalogue(device_name: str, why: str = "") -> SpecError:
    """The one-line error for a device the catalogue cannot price."""
    detail = f" ({why})" if why else ""
    return SpecError(f"device '{device_name}' is not in the GPU catalogue{detail}; known: "
                     f"{', '.join(list_gpus())} (pass --hw NAME)")


def _pick(device_name: str, sm_count: int | None) -> DeviceEntry | None:
    """The first entry matching the name whose SM count equals ``sm_count``, else the first match."""
    matches = [entry for entry in device_entries() if entry.pattern.search(device_name)]
    if not matches:
        return None
    if sm_count is not None:
        for entry in matches:
            if entry.sm_count == sm_count:
                return entry
    return matches[0]


def catalogue_name(device_name: str, sm_count: int | None = None) -> tuple[str, str]:
    """The catalogue GPU a trace's device name stands for, with a note.

    Parameters
    ----------
    device_name : str
        The device name as the trace reports it (CUDA/HIP ``deviceProperties.name``).
    sm_count : int, optional
        The SM (CU) count the trace reports; it picks between devices that share a name and
        is checked against the catalogue.

    Returns
    -------
    (str, str)
        The canonical catalogue name (``load_gpu`` accepts it) and a note: empty for an exact
        match, else why the mapping is approximate, plus ``"trace reports N SMs, catalogue M"``
        when the counts differ (a MIG slice, a CU-masked or unknown variant).

    Raises
    ------
    SpecError
        One line, ``"device 'X' is not in the GPU catalogue; known: ... (pass --hw NAME)"``,
        when no rule matches the name, or when the matching device has no spec file (the
        message then says which device it is).

    Examples
    --------
    >>> catalogue_name("NVIDIA H800")
    ('h800', 'H800: H100 SXM5 compute and memory, reduced NVLink')
    >>> catalogue_name("NVIDIA H100", 114)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: device 'NVIDIA H100' is not in the GPU catalogue (no spec file for 'h1...
    >>> catalogue_name("NVIDIA H100 80GB HBM3 MIG 3g.40gb", 60)
    ('h100-sxm5', 'trace reports 60 SMs, catalogue 132')
    >>> catalogue_name("Intel GPU Max 1550")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: device 'Intel GPU Max 1550' is not in the GPU catalogue; known: a100-...
    """
    name = str(device_name).strip()
    sm_count = None if sm_count is None else int(sm_count)
    entry = _pick(name, sm_count)
    if entry is None:
        try:  # a user spec (EINSIM_HW_PATH) may list the driver's name as an alias
            gpu = load_gpu(name) if name and "/" not in name and not name.endswith(
                (".yaml", ".yml")) else None
        except SpecError:
            gpu = None
        if gpu is None:
            raise _not_in_catalogue(name)
        notes = []
    else:
        try:
            gpu = load_gpu(entry.gpu)
        except SpecError:
            about = entry.about or entry.note
            raise _not_in_catalogue(name, f"no spec file for '{entry.gpu}'" + (
                f": {about}" if about else "")) from None
        notes = [entry.note] if entry.note else []
    if sm_count is not None and sm_count != gpu.sm_count:
        notes.append(f"trace reports {sm_count} SMs, catalogue {gpu.sm_count}")
    return gpu.name, "; ".join(notes)


def vendor_of(device_name: str) -> str:
    """``"nvidia"``, ``"amd"`` or ``""`` (unknown) for a device name.

    Examples
    --------
    >>> vendor_of("NVIDIA H100 80GB HBM3"), vendor_of("AMD Instinct MI300X VF"), vendor_of("")
    ('nvidia', 'amd', '')
    """
    name = str(device_name)
    for vendor, pattern in _table()[1]:
        if pattern.search(name):
            return vendor
    return ""
