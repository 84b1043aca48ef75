"""Benchmark the Kineto importer on a ~200 MB trace (issue 10: streamed, not loaded twice).

Builds a synthetic trace by repeating the events of a real H100 capture (TraceLens,
tests/data/traces/kineto, MIT) with shifted timestamps and correlation ids until the
JSON text is about ``--mb`` megabytes, writes it gzip'ed to a temporary folder, then
times ``load_trace`` and reports peak resident memory growth.

Run: python benchmarks/bench_trace_import.py [--mb 200]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import tempfile
import time
from pathlib import Path

from simulator.traces.groups import group_launches
from simulator.traces.load import load_trace

SOURCE = Path(__file__).parents[1] / "tests" / "data" / "traces" / "kineto" / \
    "h100_Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz"


def _shifted(event: dict, copy: int, span: float) -> dict:
    out = dict(event)
    if "ts" in out:
        out["ts"] = out["ts"] + copy * span
    args = out.get("args")
    if isinstance(args, dict):
        args = dict(args)
        for key in ("correlation", "External id"):
            if isinstance(args.get(key), int):
                args[key] += copy * 10_000_000
        out["args"] = args
    if isinstance(out.get("id"), int):
        out["id"] += copy * 10_000_000
    return out


def build(path: Path, megabytes: float) -> tuple[int, int]:
    """Write the synthetic trace; returns (uncompressed bytes, events)."""
    doc = json.load(gzip.open(SOURCE))
    events = doc.pop("traceEvents")
    times = [e["ts"] for e in events if "ts" in e]
    span = max(times) - min(times) + 1000.0
    one = len(json.dumps(events))
    copies = max(1, int(megabytes * 1e6 / one))
    written, count = 0, 0
    with gzip.open(path, "wt", compresslevel=1) as out:
        head = json.dumps(doc)[:-1]
        out.write(head + ', "traceEvents": [')
        written += len(head)
        for copy in range(copies):
            for index, event in enumerate(events):
                text = json.dumps(_shifted(event, copy, span))
                out.write(("," if count else "") + text)
                written += len(text) + 1
                count += 1
                del index
        out.write("]}")
    return written, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="uncompressed size to build (MB)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.json.gz"
        size, events = build(path, options.mb)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        trace = load_trace(path)
        seconds = time.perf_counter() - start
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        groups = group_launches(trace.launches)
        packed = path.stat().st_size / 1e6
        print(f"trace: {size / 1e6:.0f} MB JSON ({packed:.0f} MB gzip), {events:,} events, "
              f"{len(trace.launches):,} kernels, {sum(g.count for g in groups):,} attention launches")
        print(f"import: {seconds:.2f} s ({size / 1e6 / seconds:.0f} MB/s); peak RSS grew by "
              f"{(rss_after - rss_before) / 1024:.0f} MB")


if __name__ == "__main__":
    main()
