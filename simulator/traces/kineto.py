"""PyTorch profiler (Kineto) Chrome-trace JSON, plain or ``.json.gz``.

Kernels are the ``cat == "kernel"`` complete events (``ts``/``dur`` in microseconds).
The attention shape comes from the CPU op that launched the kernel: the kernel's
``correlation`` names its runtime launch call (``cudaLaunchKernel``,
``hipModuleLaunchKernel``), and the attention ops (:data:`op_shapes.OP_NAMES`) open
on the same thread around that call are tried innermost first (reference
``gpus_peers_traces.md`` D.1; ``../shared/traces/README.md``). A launch with no such
call in the capture (launched before the CPU window, replayed from a CUDA graph) is
kept with ``shape_source = "unlinked"``.

The file is decompressed as a stream. With the optional ``ijson`` (``pip install
einsim[traces]``) events are parsed one at a time and only the few kinds the linker
needs are kept, so a 200 MB trace never sits in memory; without it the document is
parsed once with :mod:`json` (``benchmarks/bench_trace_import.py`` measures both).

Examples
--------
>>> import json, tempfile, os
>>> doc = {"deviceProperties": [{"id": 0, "name": "NVIDIA H100 80GB HBM3", "numSms": 132,
...                              "computeMajor": 9, "computeMinor": 0}],
...        "traceEvents": [
...          {"ph": "X", "cat": "cpu_op", "name": "aten::_scaled_dot_product_flash_attention",
...           "pid": 1, "tid": 1, "ts": 0.0, "dur": 50.0, "args": {
...             "Input Dims": [[2, 8, 1024, 64]] * 3, "Input type": ["c10::Half"] * 3,
...             "Concrete Inputs": ["", "", "", "0.", "True", "False", ""]}},
...          {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1,
...           "ts": 10.0, "dur": 5.0, "args": {"correlation": 7}},
...          {"ph": "X", "cat": "kernel", "name": "void flash::flash_fwd_kernel<T>(P)", "pid": 0,
...           "tid": 7, "ts": 20.0, "dur": 41.5, "args": {"correlation": 7, "grid": [8, 8, 2],
...           "block": [128, 1, 1], "stream": 7, "device": 0}}]}
>>> path = os.path.join(tempfile.mkdtemp(), "t.json")
>>> with open(path, "w") as f:
...     json.dump(doc, f)
>>> trace = read_kineto(path)
>>> launch = trace.launches[0]
>>> launch.family, launch.duration_s, launch.shape.seq_q, launch.shape.causal, launch.shape_source
('fa2', 4.15e-05, 1024, True, 'cpu_op:aten::_scaled_dot_product_flash_attention')
"""

from __future__ import annotations

import bisect
import gzip
import json
import os
import re
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from simulator.errors import TraceError
from simulator.traces.families import classify, is_attention
from simulator.traces.op_shapes import OP_NAMES, extract, refine_from_kernel
from simulator.traces.record import GpuInfo, KernelLaunch, Trace

__all__ = ["read_kineto", "load_json"]

_LAUNCH_CATEGORIES = frozenset({"cuda_runtime", "cuda_driver", "hip_runtime", "hip_driver"})
_ANNOTATIONS = frozenset({"user_annotation", "gpu_user_annotation"})
#: Attention ops nest a few deep (sdpa > _sdpa_flash > _flash_attention_forward); walking
#: back this many starts before a launch finds every open one.
_STACK_LOOKBACK = 16


def _open(name: str) -> Any:
    """A binary stream of the file, decompressed when it is gzip'ed."""
    with open(name, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(name, "rb") if gzipped else open(name, "rb")


def _errors(name: str) -> Any:
    """Context that turns decoding failures into one-line TraceErrors."""
    import contextlib

    ijson = _ijson()
    ijson_errors = (ijson.JSONError,) if ijson is not None else ()

    @contextlib.contextmanager
    def guard() -> Any:
        try:
            yield
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:
            raise TraceError(f"{name}: truncated or corrupt gzip stream ({err})") from None
        except json.JSONDecodeError as err:
            raise TraceError(f"{name}: not JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
        except UnicodeDecodeError:
            raise TraceError(f"{name}: not JSON (not UTF-8 text)") from None
        except (ValueError, *ijson_errors) as err:
            raise TraceError(f"{name}: not JSON or truncated ({' '.join(str(err).split())[:120]})") from None

    return guard()


def load_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON or gzip'ed JSON file once, as a stream; bad files are TraceErrors."""
    name = os.fspath(path)
    with _errors(name), _open(name) as stream:
        return json.load(stream)


def _ijson() -> Any:
    """The ijson module (optional extra ``einsim[traces]``), or None."""
    try:
        import ijson
    except ImportError:
        return None
    return ijson


def _stream_head(name: str, ijson: Any) -> Any:
    """The top-level members written before ``traceEvents`` (Kineto writes them first).

    Returns the head as a dict, or None when the document is not an object.
    """
    builder = ijson.ObjectBuilder()
    with _open(name) as stream:
        events = ijson.parse(stream)
        first = next(events, None)
        if first is None or first[1] != "start_map":
            return None
        builder.event("start_map", None)
        for prefix, event, value in events:
            if prefix == "" and (event == "end_map" or (event == "map_key" and value == "traceEvents")):
                break
            builder.event(event, value)
    return builder.value


class _TailRecorder:
    """A read-through stream that keeps the last bytes it returned.

    Kineto may write the small top-level members (``deviceProperties``,
    ``schemaVersion`` ...) after the large ``traceEvents`` array; the tail kept here
    lets :func:`_tail_members` read them without a second pass over the file.
    """

    def __init__(self, stream: Any, keep: int = 4 << 20) -> None:
        self.stream, self.keep, self.tail = stream, keep, bytearray()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.tail += data
        if len(self.tail) > 2 * self.keep:
            del self.tail[:-self.keep]
        return data


_MEMBER_BOUNDARY = re.compile(rb"\]\s*,\s*\"")
_MEMBER_BOUNDARY_TEXT = re.compile(r"\]\s*,\s*\"")


def _tail_members(tail: bytes) -> dict:
    """The top-level members after the events array, from the document's last bytes.

    The members start after the ``]`` that closes ``traceEvents``: the first
    ``], "`` boundary from which ``"key": value, …}`` parses to the end of the document (a
    boundary inside the last event leaves that event's closing brackets unbalanced, so it
    fails at once). The text is decoded once and each boundary parsed in place: copying
    the tail per boundary made this quadratic (20 s for a 5,000-event trace).
    """
    text = tail.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    for match in _MEMBER_BOUNDARY_TEXT.finditer(text):
        members = _members_at(text, match.end() - 1, decoder)
        if members is not None:
            return members
    return {}


def _members_at(text: str, start: int, decoder: json.JSONDecoder) -> dict | None:
    """``"key": value, …}`` parsed from ``start`` to the end of ``text``, or None."""
    members: dict = {}
    at = start
    try:
        while True:
            key, at = decoder.raw_decode(text, at)
            at = _skip(text, at)
            if not isinstance(key, str) or text[at : at + 1] != ":":
                return None
            value, at = decoder.raw_decode(text, _skip(text, at + 1))
            members[key] = value
            at = _skip(text, at)
            if text[at : at + 1] == ",":
                at = _skip(text, at + 1)
                continue
            if text[at : at + 1] == "}" and _skip(text, at + 1) == len(text):
                return members
            return None
    except ValueError:
        return None


def _skip(text: str, at: int) -> int:
    """The first non-whitespace position at or after ``at``."""
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _read_document(name: str) -> tuple[dict, Any]:
    """``(top-level members but the events, an iterable of events)``.

    With ijson the events are streamed one at a time (memory stays at the few events
    kept) and the members are filled in once the events are consumed; without it the
    whole document is parsed with :mod:`json`.
    """
    ijson = _ijson()
    if ijson is None:
        doc = load_json(name)
        if isinstance(doc, list):   # the Chrome trace "JSON array" form: events only
            return {}, doc
        if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
            raise _not_a_trace(name)
        return doc, doc["traceEvents"]
    with _errors(name):
        head = _stream_head(name, ijson)
    with _open(name) as probe:
        array = probe.read(64).lstrip()[:1] == b"["
    if head is None and not array:
        raise _not_a_trace(name)
    members = head or {}
    return members, _streamed_events(name, ijson, "item" if array else "traceEvents.item", members)


def _streamed_events(name: str, ijson: Any, prefix: str, members: dict) -> Any:
    """Events one by one from the file; at the end, ``members`` gains the tail members."""
    seen = False
    with _errors(name), _open(name) as raw:
        stream = _TailRecorder(raw)
        for event in ijson.items(stream, prefix, use_float=True):
            seen = True
            yield event
        if prefix != "item":
            for key, value in _tail_members(bytes(stream.tail)).items():
                members.setdefault(key, value)
    if not seen and prefix != "item" and "traceEvents" not in members:
        with _errors(name), _open(name) as raw:
            events = next(ijson.items(raw, "traceEvents"), None)
        if not isinstance(events, list):
            raise _not_a_trace(name)


def _not_a_trace(name: str) -> TraceError:
    return TraceError(f"{name}: not a PyTorch profiler trace (expected a JSON object with a "
                      "'traceEvents' list, or a list of events)")


def _triple(value: Any) -> tuple[int, int, int] | None:
    """A grid/block as a 3-tuple from ``[x, y, z]`` or the string ``"[x,y,z]"``."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, (int, float)) for v in value):
        return int(value[0]), int(value[1]), int(value[2])
    return None


def _int(value: Any) -> int | None:
    """An integer field, None when absent or not a number."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _gpu(doc: Mapping[str, Any], device: int | None) -> GpuInfo:
    """The device the attention kernels ran on, from ``deviceProperties``."""
    props = [p for p in doc.get("deviceProperties") or [] if isinstance(p, dict)]
    chosen = next((p for p in props if p.get("id") == device), props[0] if props else {})
    name = str(chosen.get("name", ""))
    vendor = "amd" if "AMD" in name or "roctracer_version" in doc else \
        "nvidia" if "NVIDIA" in name or "cupti_version" in doc else ""
    major, minor = chosen.get("computeMajor"), chosen.get("computeMinor")
    cc = f"{major}.{minor}" if major is not None and minor is not None else ""
    return GpuInfo(name=name, sm_count=_int(chosen.get("numSms")), compute_capability=cc, vendor=vendor)


class _Intervals:
    """Complete events on one thread, sorted by start, for 'which are open at t'."""

    def __init__(self, events: list[dict]) -> None:
        self.events = sorted(events, key=lambda e: e["ts"])
        self.starts = [e["ts"] for e in self.events]

    def open_at(self, t: float) -> list[dict]:
        """Events with ``ts <= t <= ts + dur``, innermost (latest start) first."""
        stop = bisect.bisect_right(self.starts, t)
        found = []
        for event in reversed(self.events[max(0, stop - _STACK_LOOKBACK):stop]):
            if t <= event["ts"] + event.get("dur", 0):
                found.append(event)
        return found


def _index(events: Iterable[Any]) -> tuple[list[dict], dict, dict, dict]:
    """One pass over the events: kernels, launch calls by correlation, ops and annotations."""
    kernels: list[dict] = []
    launches: dict[int, dict] = {}
    ops: dict[tuple, list[dict]] = defaultdict(list)
    annotations: dict[tuple, list[dict]] = defaultdict(list)
    for event in events:
        if not isinstance(event, dict) or event.get("ph") != "X" or "ts" not in event:
            continue
        cat = event.get("cat")
        if cat == "kernel":
            kernels.append(event)
        elif cat in _LAUNCH_CATEGORIES:
            corr = (event.get("args") or {}).get("correlation")
            if corr is not None:
                launches[corr] = event
        elif cat == "cpu_op" and event.get("name") in OP_NAMES:
            ops[(event.get("pid"), event.get("tid"))].append(event)
        elif cat in _ANNOTATIONS:
            annotations[(cat, event.get("pid"))].append(event)
    return kernels, launches, {k: _Intervals(v) for k, v in ops.items()}, \
        {k: _Intervals(v) for k, v in annotations.items()}


class _Linker:
    """Finds the shape and the annotation ranges of one attention kernel."""

    def __init__(self, launches: dict, ops: dict, annotations: dict) -> None:
        self.launches, self.ops, self.annotations = launches, ops, annotations

    def ranges(self, kernel: dict, call: dict | None) -> tuple[str, ...]:
        """Annotations around the kernel (GPU timeline) and its launch call (CPU)."""
        names: list[str] = []
        gpu = self.annotations.get(("gpu_user_annotation", kernel.get("pid")))
        if gpu is not None:
            names += [e["name"] for e in reversed(gpu.open_at(kernel["ts"]))]
        if call is not None:
            cpu = self.annotations.get(("user_annotation", call.get("pid")))
            if cpu is not None:
                names += [e["name"] for e in reversed(cpu.open_at(call["ts"]))]
        return tuple(dict.fromkeys(names))

    def link(self, kernel: dict) -> tuple[Any, str, tuple[str, ...], dict | None]:
        """``(shape or None, shape_source, ranges, launch call)`` of one kernel."""
        call = self.launches.get((kernel.get("args") or {}).get("correlation"))
        ranges = self.ranges(kernel, call)
        if call is None:
            return None, "unlinked", ranges, None
        stack = self.ops.get((call.get("pid"), call.get("tid")))
        for op in stack.open_at(call["ts"]) if stack is not None else []:
            shape = extract(op["name"], op.get("args") or {}, ranges)
            if shape is not None:
                return refine_from_kernel(shape, kernel.get("name", "")), f"cpu_op:{op['name']}", ranges, call
        return None, "unlinked", ranges, call


def _launch(kernel: dict, linker: _Linker) -> KernelLaunch:
    """The record of one kernel event."""
    args = kernel.get("args") or {}
    family, _ = classify(kernel.get("name", ""))
    shape, source, ranges, call = linker.link(kernel) if is_attention(family) else (None, "unlinked", (),
                                                                                    None)
    call_args = (call or {}).get("args") or {}
    return KernelLaunch(
        kernel=str(kernel.get("name", "")), family=family, duration_s=float(kernel.get("dur", 0)) * 1e-6,
        start_s=float(kernel["ts"]) * 1e-6, grid=_triple(args.get("grid", call_args.get("grid"))),
        block=_triple(args.get("block", call_args.get("block"))),
        registers=_int(args.get("registers per thread")),
        shared_memory=_int(args.get("shared memory", call_args.get("shared memory"))),
        stream=_int(args.get("stream", kernel.get("tid"))),
        device=_int(args.get("device", kernel.get("pid"))),
        correlation=_int(args.get("correlation")), shape=shape, shape_source=source, ranges=ranges)


def read_kineto(path: str | os.PathLike[str]) -> Trace:
    """Read a Kineto Chrome-trace JSON (``.json`` or ``.json.gz``) into a :class:`Trace`.

    Parameters
    ----------
    path : str or path-like
        The trace file.

    Returns
    -------
    Trace
        Every kernel launch (attention ones linked to their shapes where possible).

    Raises
    ------
    TraceError
        Truncated gzip, not JSON, no ``traceEvents`` list.
    """
    name = os.fspath(path)
    doc, events = _read_document(name)
    kernels, launches, ops, annotations = _index(events)
    linker = _Linker(launches, ops, annotations)
    records = tuple(_launch(k, linker) for k in kernels)
    attention = [r for r in records if is_attention(r.family)]
    device = next((r.device for r in attention), None)
    unlinked = sum(not r.has_shape for r in attention)
    notes = []
    if unlinked:
        notes.append(f"{unlinked} of {len(attention)} attention launches have no CPU op with a shape "
                     "(launched before the CPU capture window, replayed from a CUDA graph, or an op "
                     "einsim does not read); give a --manifest to price them")
    notes += sorted({r.shape.note for r in attention if r.has_shape and r.shape.note})
    version = str(doc.get("schemaVersion", ""))
    return Trace(path=name, tool="kineto", tool_version=f"schemaVersion {version}" if version else "",
                 gpu=_gpu(doc, device), launches=records, notes=tuple(notes))
