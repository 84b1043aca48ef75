"""Benchmark the sweep engine on a synthetic sweep: prints points/s (no assertions).

Measures (1) grid expansion alone, (2) expansion + evaluation + Pareto in memory, and
(3) end-to-end ``run_sweep`` — chunk files, points.csv, Pareto tables, summary and plots —
in-process and with 2 worker processes, for the cheap synthetic model and for a heavier
stand-in model (where the evaluation, not the writing, dominates).

Usage: python benchmarks/bench_sweep.py [--units 50]   (points = 4 × units × 50 × 100)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from simulator.sweep.engine import evaluate_sweep, plan_sweep, run_sweep
from simulator.sweep.expand import chunk_ranges
from simulator.sweep.registry import register_evaluator
from simulator.sweep.spec import parse_spec
from simulator.sweep.synthetic import SYNTHETIC_DEFAULTS, evaluate_synthetic


def make_spec(units: int):
    return parse_spec(
        {
            "name": "bench",
            "evaluator": "synthetic",
            "axes": {
                "hardware": ["h1", "h2", "h3", "h4"],
                "peak_flops": [2.0e13, 5.0e13, 1.0e14, 2.0e14],
                "bandwidth": [2.0e11, 1.0e12, 2.0e12, 4.0e12],
                "units": list(range(1, units + 1)),
                "work": np.geomspace(1e10, 1e14, 50).tolist(),
                "traffic": np.geomspace(1e7, 1e11, 100).tolist(),
            },
            "zip": [["hardware", "peak_flops", "bandwidth"]],
            "filters": ["work >= traffic"],
            "objectives": [
                {"column": "latency", "sense": "min"},
                {"column": "energy", "sense": "min"},
                {"column": "area", "sense": "min"},
            ],
            "pareto_by": ["hardware", "work"],
            "constraints": ["area <= 4.0e-4"],
            "chunk_size": 65_536,
        },
        "bench.yaml",
    )


def heavy_synthetic(chunk):
    """The synthetic model plus extra numpy work per row, standing in for a costly model."""
    out = evaluate_synthetic(chunk)
    x = out["latency"].to_numpy()
    work = np.zeros_like(x)
    for _ in range(2000):
        work = np.sqrt(work + x)
    return out.assign(heavy=work)


register_evaluator("bench-heavy", heavy_synthetic, defaults=SYNTHETIC_DEFAULTS)


def timed(label: str, points: int, action) -> float:
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    print(f"  {label:<50} {elapsed:7.2f} s  {points / elapsed / 1e6:6.2f} M points/s")
    return elapsed


def end_to_end(plan, tmp: Path, label: str) -> float:
    """Run in-process and with 2 worker processes; print both and the speed-up."""
    size = plan.grid.size
    serial = timed(
        f"{label}: run_sweep, in-process", size, lambda: run_sweep(plan, tmp / "a", progress=False)
    )
    parallel = timed(
        f"{label}: run_sweep, 2 worker processes",
        size,
        lambda: run_sweep(plan, tmp / "b", executor="processes", workers=2, progress=False),
    )
    same = all(
        (tmp / "a" / n).read_bytes() == (tmp / "b" / n).read_bytes() for n in ("points.csv", "pareto.csv")
    )
    print(f"  {label}: speed-up with 2 workers {serial / parallel:.2f}x; identical tables: {same}")
    return serial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=50)
    args = parser.parse_args()
    plan = plan_sweep(make_spec(args.units))
    size = plan.grid.size
    print(f"synthetic sweep: {size:,} grid points, {plan.n_chunks} chunks, 3 objectives, one machine")

    def expand() -> None:
        for chunk in chunk_ranges(size, plan.spec.chunk_size):
            plan.grid.frame(np.arange(chunk.start, chunk.stop))

    timed("expansion only", size, expand)
    timed("expand + evaluate + Pareto, in memory", size, lambda: evaluate_sweep(plan))
    with tempfile.TemporaryDirectory() as tmp:
        end_to_end(plan, Path(tmp) / "cheap", "synthetic")
        csv_mb = (Path(tmp) / "cheap" / "a" / "points.csv").stat().st_size / 1e6
        heavy = plan_sweep(replace(plan.spec, evaluator="bench-heavy"))
        end_to_end(heavy, Path(tmp) / "heavy", "heavy model")
    print(f"  points.csv: {csv_mb:.0f} MB (writing included in every run_sweep figure)")


if __name__ == "__main__":
    main()
