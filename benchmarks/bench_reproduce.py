"""Benchmark the spatial-array model (issue 4 target: full FuseMax reproduction < 5 s; the
artifact it replaces runs ~9 h).

Run: python benchmarks/bench_reproduce.py
Prints the wall time of the full reproduction (cold: first call parses cascades and YAML;
warm: cached), of the tables alone, and the throughput of the vectorised model on a
design-space sweep (array shape x sequence length x buffer).
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from experiments.fusemax.reproduce import run, write_outputs
from simulator.spatial import Workload, design_attention, load_design


def bench_reproduction() -> None:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        rep = run()
        files = write_outputs(rep, out)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        rep = run()
        tables = time.perf_counter() - start
        write_outputs(rep, out)
        warm = time.perf_counter() - start
    headline = rep.headline.set_index("metric")["model"]
    print(f"full reproduction (5 designs x 4 models x 6 lengths x 2 scopes + 72-point area "
          f"sweep, {len(files)} files incl. 5 PNGs): cold {cold:.2f} s, warm {warm:.2f} s "
          f"(target < 5 s; the artifact runs ~9 h)")
    print(f"  tables only (warm): {tables * 1e3:.0f} ms")
    print(f"  attention speedup over FLAT {headline['attention speedup vs flat']:.2f}x "
          f"(paper 6.7x), over Unfused {headline['attention speedup vs unfused']:.2f}x "
          f"(paper 10x)")


def bench_sweep(points: int = 200_000) -> None:
    rng = np.random.default_rng(0)
    design = load_design("fusemax")
    sizes = np.array([16, 32, 64, 128, 256, 512], dtype=float)
    rows, cols = rng.choice(sizes, points), rng.choice(sizes, points)
    seq = rng.choice(2.0 ** np.arange(10, 21), points)
    buffer = rng.choice(2.0 ** np.arange(22, 26), points)
    arch = design.load_architecture().with_overrides(rows=rows, cols=cols, pes_1d=cols,
                                                     buffer_bytes=buffer)
    start = time.perf_counter()
    result = design_attention(design, Workload(64, 12, 64, 64, seq, seq), arch)
    elapsed = time.perf_counter() - start
    assert np.all(result.latency_s > 0)
    print(f"vectorised FuseMax model over {points:,} design points (array shape, length, "
          f"buffer): {elapsed * 1e3:.0f} ms ({points / elapsed / 1e6:.2f} M points/s)")


if __name__ == "__main__":
    bench_reproduction()
    bench_sweep()
