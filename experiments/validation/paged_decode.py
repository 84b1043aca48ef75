"""Fit of ``memory.page_overhead_bytes`` (flash3): FA3 paged-KV decode on H100.

The rows of ``data/decode_h100_fa3.csv`` decode one token for 16 sequences x 32 heads at
d128 from a KV cache in 8-token pages. The two long-context rows (2000 and 4000 keys; DRAM
bound) fit the one number; the 128-key row is held out (see
``experiments.validation.report``).

Run ``python -m experiments.validation.paged_decode``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.validation.notes import note_int
from simulator.gpu import load_profile, predict
from simulator.gpu.profiles import KernelProfile
from simulator.workload import AttentionProblem

__all__ = ["FIT_MIN_KEYS", "fit", "row_errors"]

DATA = Path(__file__).with_name("data") / "decode_h100_fa3.csv"
#: Rows with at least this many keys are fitted; shorter ones are held out.
FIT_MIN_KEYS = 2000


def _rows() -> list[tuple[AttentionProblem, float]]:
    out = []
    for row in pd.read_csv(DATA).itertuples(index=False):
        problem = AttentionProblem(batch=row.batch, heads=row.heads, kv_heads=row.heads, seq_q=row.seqlen_q,
                                   seq_kv=row.seqlen_kv, head_dim_qk=row.head_dim, dtype=row.dtype,
                                   page_size=note_int(row.notes, "page_size"))
        out.append((problem, row.value * 1e-6))
    return out


def row_errors(profile: KernelProfile) -> list[tuple[int, float]]:
    """``(keys, predicted / measured - 1)`` per row."""
    return [(p.seq_kv, float(predict("h100-sxm5", "decode-splitk", p, profile=profile).time_s) / t - 1)
            for p, t in _rows()]


def fit() -> float:
    """Least squares on log time over the fitted rows (grid, 10-byte steps)."""
    base = load_profile("flash3")
    best = (np.inf, 0.0)
    for overhead in np.arange(0.0, 4000.0, 10.0):
        errors = [e for keys, e in row_errors(base.with_values({"memory.page_overhead_bytes": overhead}))
                  if keys >= FIT_MIN_KEYS]
        best = min(best, (float(np.sum(np.log1p(errors) ** 2)), float(overhead)))
    return best[1]


def main() -> int:
    """Print the fit and the per-row error of the shipped profile."""
    print("fit: memory.page_overhead_bytes =", fit())
    print("shipped flash3:", [(k, round(100 * e, 1)) for k, e in row_errors(load_profile("flash3"))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
