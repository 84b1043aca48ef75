"""Benchmark the sweep engine against issue 5's targets; prints figures, asserts nothing.

The workload is a dense-attention GPU sweep through the ``attention`` evaluator (the one
the default sweep uses): 5 GPUs × 4 LLM shapes × 200 batch sizes × 250 sequence lengths
= 10⁶ design points, objectives latency (min) and TFLOP/s (max), one front per
(model, sequence length).

1. Expansion + evaluation + Pareto in memory (``evaluate_sweep``), on one core:
   points per second, the first run in this process and the median of the next ones.
2. End to end (``run_sweep``: chunk files, points.csv, Pareto tables, summary, PNGs),
   in-process and with 2 worker processes, alternated; medians, the speed-up and
   whether the two runs wrote identical tables.

The process drops numpy's transparent-huge-page advice first, as the ``einsim`` command
does (:func:`simulator.memory.no_huge_page_stalls`); ``--numpy-huge-pages`` keeps it, to
see what the kernel's on-demand compaction costs a first run.

Usage: python benchmarks/bench_sweep.py [--batches 200] [--repeats 3] [--numpy-huge-pages]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from simulator.memory import no_huge_page_stalls
from simulator.sweep.engine import evaluate_sweep, plan_sweep, run_sweep
from simulator.sweep.spec import parse_spec

GPUS = ["a100", "l40s", "h100", "h200", "b200"]
MODELS = ["llama-3-8b", "llama-3-70b", "qwen1.5-72b", "mistral-7b"]
TABLES = ("points.csv", "pareto.csv", "pareto.md")


def make_spec(batches: int, chunk_size: int):
    """The dense GPU sweep: 5 GPUs × 4 models × ``batches`` × 250 sequence lengths."""
    seq = [int(x) for x in np.unique(np.geomspace(256, 131072, 250).astype(int))]
    return parse_spec(
        {
            "name": "bench-gpu-dense",
            "evaluator": "attention",
            "axes": {"hardware": GPUS, "model": MODELS, "batch": list(range(1, batches + 1)), "seq_len": seq},
            "objectives": [
                {"column": "time_s", "sense": "min"},
                {"column": "tflops_per_s", "sense": "max"},
            ],
            "pareto_by": ["model", "seq_len"],
            "chunk_size": chunk_size,
        },
        "bench_sweep.py",
    )


def timed(action) -> float:
    gc.collect()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def in_memory(batches: int, repeats: int) -> None:
    plan = plan_sweep(make_spec(batches, 262_144))
    size = plan.grid.size
    times = [timed(lambda: evaluate_sweep(plan)) for _ in range(repeats + 1)]
    steady = statistics.median(times[1:])
    print(f"in memory, one core: {size:,} points ({plan.n_chunks} chunks of 262,144)")
    print(f"  first run   {times[0]:6.2f} s  {size / times[0] / 1e6:5.2f} M points/s")
    print(f"  median next {steady:6.2f} s  {size / steady / 1e6:5.2f} M points/s  (runs: "
          + ", ".join(f"{t:.2f}" for t in times[1:]) + ")")


def end_to_end(batches: int, repeats: int) -> None:
    plan = plan_sweep(make_spec(batches, 65_536))
    size = plan.grid.size
    print(f"end to end (run_sweep, all outputs): {size:,} points, {plan.n_chunks} chunks of 65,536")
    serial, parallel = [], []
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "inprocess", Path(tmp) / "processes"
        for _ in range(repeats):
            serial.append(timed(lambda: run_sweep(plan, a, progress=False)))
            parallel.append(
                timed(lambda: run_sweep(plan, b, executor="processes", workers=2, progress=False))
            )
        same = all((a / name).read_bytes() == (b / name).read_bytes() for name in TABLES)
        csv_mb = (a / "points.csv").stat().st_size / 1e6
    one, two = statistics.median(serial), statistics.median(parallel)
    print(f"  in-process    median {one:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in serial)})")
    print(f"  2 processes   median {two:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in parallel)})")
    print(f"  speed-up {one / two:.2f}x; identical tables: {same}; points.csv {csv_mb:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=200, help="batch sizes 1..N (200 gives 10^6 points)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--numpy-huge-pages", action="store_true",
                        help="keep numpy's huge-page advice (einsim turns it off)")
    args = parser.parse_args()
    if not args.numpy_huge_pages:
        no_huge_page_stalls()
    print(f"numpy huge-page advice: {'kept' if args.numpy_huge_pages else 'off, as in einsim'}")
    in_memory(args.batches, args.repeats)
    end_to_end(args.batches, args.repeats)


if __name__ == "__main__":
    main()
