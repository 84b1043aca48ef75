"""Benchmark the cascade language (issue targets: parse + pass analysis < 5 ms per
built-in after import; op-count evaluation over 10^6 shapes < 1 s).

Run: python benchmarks/bench_einsum.py
Caches are bypassed (``__wrapped__``) so every repetition parses and analyses afresh.
"""

from __future__ import annotations

import time

import numpy as np

import einsum
from einsum.graph import _cascade_graph
from einsum.library import library_path
from einsum.parser import parse_text
from einsum.passes import pass_analysis
from einsum.roles import rank_roles
from einsum.semantics import build_cascade


def parse_and_analyse(text: str, name: str) -> int:
    cascade = build_cascade(parse_text(text, name), name)
    _cascade_graph.cache_clear()
    rank_roles.cache_clear()
    return pass_analysis.__wrapped__(cascade).passes


def bench_parse(repeats: int = 50) -> None:
    worst = 0.0
    for name in einsum.library_names():
        text = library_path(name).read_text()
        parse_and_analyse(text, name)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            parse_and_analyse(text, name)
            times.append(time.perf_counter() - start)
        best, median = min(times), sorted(times)[len(times) // 2]
        worst = max(worst, median)
        print(f"  parse + passes {name:<30} median {median * 1e3:6.2f} ms  best {best * 1e3:6.2f} ms")
    print(f"parse + pass analysis, slowest built-in (median): {worst * 1e3:.2f} ms (target < 5 ms)")


def bench_opcounts(n: int = 1_000_000) -> None:
    rng = np.random.default_rng(0)
    cascade = einsum.load("attention-1pass-causal")
    counts = einsum.op_counts(cascade)
    m = rng.integers(1, 1 << 17, n)
    m0 = rng.choice([64, 128, 256], n)
    sizes = {"M": m, "P": rng.integers(1, 1 << 17, n), "E": rng.choice([64, 128], n),
             "F": rng.choice([64, 128], n), "M0": m0, "M1": -(-m // m0),
             "rho_BQK": rng.random(n)}
    start = time.perf_counter()
    totals = counts.evaluate(sizes)
    elapsed = time.perf_counter() - start
    kinds = ", ".join(totals)
    print(f"op-count evaluation of {cascade.name} over {n:,} shapes ({kinds}): "
          f"{elapsed * 1e3:.0f} ms (target < 1000 ms)")


if __name__ == "__main__":
    bench_parse()
    bench_opcounts()
