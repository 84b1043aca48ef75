"""Fidelity of the GPU model against published FlashAttention forward numbers on H100.

Reads ``fa3_h100_fp16.yaml`` (FA3 paper Fig. 5, reference C.3), predicts every point
with the built-in kernel profiles (``flash3``, ``flash2`` and ``unfused`` for the
"Standard" PyTorch row) and prints the per-point error table. ``--fit`` re-runs the fit
of the profiles' fitted numbers (least squares on log time over seq >= 1k) and prints
the values that the profile YAMLs record.

Run ``python -m experiments.validation.fa3_h100 [--fit] [--json]``.

Examples
--------
>>> rows = fidelity_rows()
>>> max(abs(r.error_pct) for r in rows if r.impl != "standard" and r.seqlen >= 1024) < 15
True
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simulator.gpu import load_profile, predict_batch
from simulator.gpu.profiles import KernelProfile

__all__ = ["DATA", "FIT_PARAMETERS", "FidelityRow", "fidelity_rows", "fit", "load_data", "main",
           "markdown_table"]

#: The published data (with its source).
DATA = Path(__file__).with_name("fa3_h100_fp16.yaml")
#: The fitted numbers per implementation: each group of keys shares one value, in the range.
FIT_PARAMETERS: Mapping[str, tuple[tuple[tuple[str, ...], float, float], ...]] = {
    "flash3": ((("efficiency.tensor", "efficiency.exp", "efficiency.fp32"), 0.3, 1.0),
               (("overheads.cta_cycles",), 0.0, 20000.0)),
    "flash2": ((("mma_path.hopper",), 0.3, 1.0),),   # streams, tensor: fa2_a100.py
    "standard": ((("efficiency.dram",), 0.2, 1.0),),
}
#: Points used by the fit and the 15% bound: sequence length of at least 1k.
MIN_FIT_SEQLEN = 1024


@dataclass(frozen=True)
class FidelityRow:
    """One published point and its prediction (error = predicted / published - 1)."""

    impl: str
    head_dim: int
    seqlen: int
    published_tflops: float
    predicted_tflops: float
    error_pct: float
    bound: str


def load_data(path: Path = DATA) -> dict[str, Any]:
    """Read the published-data YAML."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _predict(data: Mapping[str, Any], impl: str, head_dim: int,
             profile: KernelProfile | None = None) -> Any:
    """Prediction of one implementation and head dim over the benchmark's sequence lengths."""
    spec = data["implementations"][impl]
    seq = np.array(data["seqlens"])
    return predict_batch(data["hardware"], spec["cascade"], batch=data["tokens"] // seq,
                         heads=data["hidden"] // head_dim, seq_q=seq, seq_kv=seq,
                         head_dim=head_dim, causal=data["causal"], dtype=data["dtype"],
                         profile=profile or spec["profile"])


def fidelity_rows(data: Mapping[str, Any] | None = None,
                  profiles: Mapping[str, KernelProfile] | None = None) -> list[FidelityRow]:
    """Per-point published vs predicted throughput for every implementation and head dim."""
    data = data or load_data()
    rows = []
    for impl, per_dim in data["tflops_per_s"].items():
        for head_dim, published in per_dim.items():
            pred = _predict(data, impl, int(head_dim), (profiles or {}).get(impl))
            for index, seqlen in enumerate(data["seqlens"]):
                if published[index] is None:
                    continue
                value = float(pred.tflops_per_s[index])
                rows.append(FidelityRow(impl, int(head_dim), seqlen, float(published[index]),
                                        value, 100 * (value / published[index] - 1),
                                        str(pred.bound[index])))
    return rows


def _loss(data: Mapping[str, Any], impl: str, profile: KernelProfile) -> float:
    """Sum of squared log errors over the fit points of one implementation."""
    rows = [r for r in fidelity_rows(data, {impl: profile})
            if r.impl == impl and r.seqlen >= MIN_FIT_SEQLEN]
    return float(sum(np.log(r.predicted_tflops / r.published_tflops) ** 2 for r in rows))


def _refine(loss: Callable[[tuple[float, ...]], float], bounds: list[tuple[float, float]],
            points: int = 9, rounds: int = 6) -> tuple[float, ...]:
    """Grid search that zooms in around the best point (few parameters, smooth loss)."""
    lows, highs = [b[0] for b in bounds], [b[1] for b in bounds]
    best: tuple[float, ...] = tuple((lo + hi) / 2 for lo, hi in bounds)
    for _ in range(rounds):
        axes = [np.linspace(lo, hi, points) for lo, hi in zip(lows, highs)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(bounds))
        best = tuple(min(grid, key=lambda x: loss(tuple(x))))
        spans = [(hi - lo) / (points - 1) for lo, hi in zip(lows, highs)]
        lows = [max(b[0], v - 2 * s) for b, v, s in zip(bounds, best, spans)]
        highs = [min(b[1], v + 2 * s) for b, v, s in zip(bounds, best, spans)]
    return best


def fit(data: Mapping[str, Any] | None = None) -> dict[str, dict[str, float]]:
    """Fit :data:`FIT_PARAMETERS` per implementation; returns ``{impl: {key: value}}``."""
    data = data or load_data()
    fitted = {}
    for impl, params in FIT_PARAMETERS.items():
        base = load_profile(data["implementations"][impl]["profile"])

        def loss(values: tuple[float, ...], base: KernelProfile = base,
                 impl: str = impl, params: tuple = params) -> float:
            changes = {key: v for (keys, _, _), v in zip(params, values) for key in keys}
            return _loss(data, impl, base.with_values(changes))

        best = _refine(loss, [(lo, hi) for _, lo, hi in params])
        fitted[impl] = {key: round(float(v), 3) for (keys, _, _), v in zip(params, best)
                        for key in keys}
    return fitted


def markdown_table(rows: list[FidelityRow]) -> str:
    """The per-point table: implementation, head dim, seqlen, published, predicted, error."""
    lines = ["| impl | d | seqlen | published TFLOP/s | predicted TFLOP/s | error % | bound |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.impl} | {r.head_dim} | {r.seqlen} | {r.published_tflops:.0f} | "
                     f"{r.predicted_tflops:.0f} | {r.error_pct:+.1f} | {r.bound} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the fidelity table (``--json`` for a document, ``--fit`` to refit first)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the profiles' fitted numbers")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    data = load_data()
    fitted = fit(data) if args.fit else None
    profiles = None
    if fitted:
        profiles = {impl: load_profile(data["implementations"][impl]["profile"]).with_values(v)
                    for impl, v in fitted.items()}
    rows = fidelity_rows(data, profiles)
    fit_rows = [r for r in rows if r.seqlen >= MIN_FIT_SEQLEN]
    worst = {impl: max(abs(r.error_pct) for r in fit_rows if r.impl == impl)
             for impl in data["tflops_per_s"]}
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows], "fitted": fitted,
                          "max_abs_error_pct_seq_ge_1k": worst}, indent=2))
        return 0
    if fitted:
        print("fitted:", json.dumps(fitted, indent=2))
    print(markdown_table(rows))
    print("max |error| at seq >= 1k: " + ", ".join(f"{k} {v:.1f}%" for k, v in worst.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
