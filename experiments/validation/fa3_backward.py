"""Check of the backward model against DeepSeek's published FA3 training profile (H800).

DeepSeek's profile (deepseek-ai/profile-data) shows FlashAttention-3 on H800 for
B1 H128 S4096, head dims 192 (Q·K) / 128 (V), causal, bf16: forward ≈ 1.23 ms, backward
main kernel ≈ 3.8 ms, preprocess ≈ 0.26 ms, dQ convert ≈ 0.22 ms
(``data/fa3_backward_deepseek.csv``). Nothing in the backward profile was fitted to these
rows (``simulator/profiles/backward/flash3.yaml``: every number is ``code:`` or
``assumed:``); they are held out.

Run ``python -m experiments.validation.fa3_backward`` (prints measured, predicted, error).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from experiments.validation.notes import note_int
from simulator.gpu import predict
from simulator.gpu.backward import predict_backward
from simulator.workload import AttentionProblem

__all__ = ["comparison"]

DATA = Path(__file__).with_name("data") / "fa3_backward_deepseek.csv"
_KERNEL = {"fa3-bwd-preprocess": "bwd-preprocess", "fa3-bwd-main": "bwd-dq-dk-dv",
           "fa3-bwd-dq-convert": "bwd-dq-convert"}


def comparison() -> pd.DataFrame:
    """One row per measured kernel: ``kernel, measured_s, predicted_s, error``."""
    frame = pd.read_csv(DATA)
    first = frame.iloc[0]
    problem = AttentionProblem(batch=int(first.batch), heads=int(first.heads),
                               kv_heads=int(first.heads), seq_q=int(first.seqlen_q),
                               seq_kv=int(first.seqlen_kv), head_dim_qk=int(first.head_dim),
                               head_dim_v=note_int(first.notes, "head_dim_v"),
                               dtype=str(first["dtype"]), causal=bool(first["causal"]))
    forward = predict(first.gpu, "attention-1pass", problem, profile="flash3")
    backward = predict_backward(first.gpu, "attention-1pass", problem, profile="flash3",
                                forward_flops=forward.flops)
    times = {k.name: k.time_s for k in backward.kernels} | {"forward": forward.time_s}
    rows = []
    for row in frame.itertuples(index=False):
        predicted = float(times[_KERNEL.get(row.kernel, "forward")])
        measured = row.value * 1e-6
        rows.append({"kernel": row.kernel, "measured_s": measured, "predicted_s": predicted,
                     "error": predicted / measured - 1})
    return pd.DataFrame(rows)


def main() -> int:
    """Print the comparison table (Markdown)."""
    table = comparison()
    print("| kernel | DeepSeek profile | einsim | error |")
    print("|---|---|---|---|")
    for row in table.itertuples(index=False):
        print(f"| {row.kernel} | {row.measured_s * 1e3:.2f} ms | {row.predicted_s * 1e3:.2f} ms "
              f"| {row.error:+.1%} |")
    bwd = table[table.kernel != "fa3-forward"]
    total = bwd.predicted_s.sum() / bwd.measured_s.sum() - 1
    print(f"| backward total | {bwd.measured_s.sum() * 1e3:.2f} ms | "
          f"{bwd.predicted_s.sum() * 1e3:.2f} ms | {total:+.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
