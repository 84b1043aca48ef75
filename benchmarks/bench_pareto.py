"""Benchmark exact Pareto extraction: prints seconds and points/s (no assertions).

Usage: python benchmarks/bench_pareto.py [--points 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simulator.pareto import pareto_mask


def _cases(n: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, list[str]]]:
    plane = rng.random((n, 2))
    return {
        "uniform k=2": (rng.random((n, 2)), ["min", "min"]),
        "uniform k=3": (rng.random((n, 3)), ["min", "min", "min"]),
        "uniform k=3 min/max/min": (rng.random((n, 3)), ["min", "max", "min"]),
        "uniform k=4": (rng.random((n, 4)), ["min"] * 4),
        "coarse ties k=3": (rng.integers(0, 50, (n, 3)).astype(float), ["min"] * 3),
        "all on the front k=3": (np.column_stack([plane, 3 - plane.sum(axis=1)]), ["min"] * 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"pareto_mask on {args.points:,} points (best of {args.repeat}, one core)")
    for name, (values, senses) in _cases(args.points, rng).items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            mask = pareto_mask(values, senses)
            times.append(time.perf_counter() - start)
        best = min(times)
        print(f"  {name:<26} {best:7.3f} s  {args.points / best / 1e6:6.2f} M points/s  front {mask.sum():,}")


if __name__ == "__main__":
    main()
