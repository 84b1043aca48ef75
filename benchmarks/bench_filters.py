"""Benchmark the filter-mask tile counter (issue targets, 128 x 128 tiles: interval path
< 50 ms at 32K and < 0.5 s at 128K for causal, window 4096 and 4 sinks + window 4096; box
path < 5 s for a dilated window at 16K).

Run: python benchmarks/bench_filters.py [REPEATS]
The first call of each mask includes compiling the filters (cached afterwards); "best" is
the fastest of the repeats.
"""

from __future__ import annotations

import sys
import time

import einsum
from simulator.sparsity import FilterMask, count_filter_tiles

CASES = [
    ("causal", "m <= p", {}),
    ("window 4096", "p - W < m <= p", {"W": 4096}),
    ("4 sinks + window 4096", "m < S or p - W < m <= p", {"S": 4, "W": 4096}),
]
BOX_CASE = ("dilation 4 + window 4096", "m % D == p % D and p - W < m <= p", {"D": 4, "W": 4096})


def mask_of(text: str) -> FilterMask:
    filters = einsum.parse(f"S[m,p] = Q[e,p] * K[e,m] : {text}").einsums[0].filters
    return FilterMask(filters, "p", "m")


def bench(label: str, text: str, sizes: dict, n: int, repeats: int, tile: int = 128) -> float:
    mask = mask_of(text)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        counts = count_filter_tiles(mask, n, n, tile, tile, sizes)
        times.append(time.perf_counter() - start)
    print(f"  {label:<26} {n // 1024:>4}K  {counts.method:<9}  first {times[0] * 1e3:8.1f} ms  "
          f"best {min(times) * 1e3:8.1f} ms   steps {counts.steps:>9,}  partial {counts.partial:>7,}"
          f"  density {counts.density:.4f}")
    return min(times)


def main(repeats: int = 5) -> None:
    print("filter tile counter, 128 x 128 tiles")
    for n in (32 * 1024, 128 * 1024):
        for label, text, sizes in CASES:
            bench(label, text, sizes, n, repeats)
    label, text, sizes = BOX_CASE
    bench(label, text, sizes, 16 * 1024, max(1, repeats // 2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
