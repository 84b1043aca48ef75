"""Benchmark the vectorised GPU model (issue target: >= 10^6 dense predictions per second
on one core).

Run: python benchmarks/bench_gpu.py [N]
Problems are random dense shapes (sequence 512..64k, head dim 64/128/256, batch and heads
as in the FlashAttention benchmark); causal and decode/split-K sets are timed too.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from simulator.gpu import predict_batch, resolve


def _shapes(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    seq = 2 ** rng.integers(9, 17, n)
    head_dim = np.array([64, 128, 256])[rng.integers(0, 3, n)]
    return {"batch": np.maximum(16384 // seq, 1), "heads": 2048 // head_dim, "seq_q": seq,
            "seq_kv": seq, "head_dim": head_dim}


def bench(label: str, cascade: str, n: int, repeats: int = 3, **extra: object) -> float:
    gpu, c, profile = resolve("h100", cascade, "flash3")
    shapes = {**_shapes(n), **extra}
    predict_batch(gpu, c, profile=profile, **{k: v[:8] if isinstance(v, np.ndarray) else v
                                               for k, v in shapes.items()})  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        pred = predict_batch(gpu, c, profile=profile, **shapes)
        best = min(best, time.perf_counter() - start)
    assert np.all(np.isfinite(pred.time_s))
    rate = n / best
    print(f"  {label:<34} {n:>9,} problems in {best:6.3f} s  -> {rate / 1e6:5.2f} M predictions/s")
    return rate


def main(n: int = 1_000_000) -> None:
    print("GPU model, vectorised, one core (H100, flash3):")
    dense = bench("dense, attention-1pass", "attention-1pass", n)
    bench("causal, attention-1pass", "attention-1pass", n, causal=True)
    bench("decode split-K, decode-splitk", "decode-splitk", n,
          seq_q=np.ones(n, dtype=np.int64), kv_heads=np.ones(n, dtype=np.int64))
    bench("3-pass, hold or spill", "attention-3pass", n)
    print(f"dense predictions per second: {dense / 1e6:.2f} M (target >= 1 M)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
