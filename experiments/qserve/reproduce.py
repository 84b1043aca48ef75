"""Reproduce QServe's relative serving claims with the layer model (``einsim reproduce qserve``).

For A100 (80 GB) and L40S, Llama-3-8B and Qwen1.5-72B, each system of ``reproduce.yaml``
(TensorRT-LLM's FP16, W8A8 and W4A16 configurations, QServe's W4A8KV4) is priced by
:func:`simulator.layer.serving.serving_throughput`: generated tokens per second at the largest
batch that fits prompts of 1024 and 512 generated tokens. The speedup is QServe's throughput
over the best baseline that fits; the table puts it next to the paper's. Nothing in the
layer model is fitted to these claims.

Examples
--------
>>> rep = run()
>>> sorted(set(rep.rows["precision"]))
['W16A16KV16', 'W4A16KV16', 'W4A8KV4', 'W8A8KV8']
>>> len(rep.rows), len(rep.speedups)
(16, 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.layer.precision import PRECISIONS
from simulator.layer.serving import serving_throughput
from simulator.yamlio import read_yaml

__all__ = ["QServeReproduction", "markdown_table", "run"]

CONFIG = Path(__file__).with_name("reproduce.yaml")


@dataclass(frozen=True)
class QServeReproduction:
    """``rows``: one per (gpu, model, system); ``speedups``: model vs paper per (gpu, model)."""

    rows: pd.DataFrame
    speedups: pd.DataFrame
    claim: str
    claim_holds: dict[str, bool]


def _rows(config: dict[str, Any]) -> pd.DataFrame:
    systems = [*config["baselines"], config["proposal"]]
    out = []
    for gpu in config["gpus"]:
        for model in config["models"]:
            for system in systems:
                point = serving_throughput(gpu, model, system)
                out.append({"gpu": gpu, "model": model, "system": system,
                            "precision": PRECISIONS[system].name, "batch": point.batch,
                            "tokens_per_s": point.tokens_per_s,
                            "decode_step_s": point.decode_step_s,
                            "attention_share": point.attention_share})
    return pd.DataFrame(out)


def _speedups(rows: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    paper = {(p["gpu"], p["model"]): p["value"] for p in config["paper"]["speedup"]}
    out = []
    for (gpu, model), group in rows.groupby(["gpu", "model"], sort=False):
        base = group[group.system != config["proposal"]].sort_values("tokens_per_s").iloc[-1]
        ours = group[group.system == config["proposal"]].iloc[0]
        ratio = ours.tokens_per_s / base.tokens_per_s if base.tokens_per_s > 0 else np.inf
        out.append({"gpu": gpu, "model": model,
                    "best_baseline": base.precision if base.tokens_per_s > 0 else "none fits",
                    "baseline_tokens_per_s": base.tokens_per_s,
                    "qserve_tokens_per_s": ours.tokens_per_s, "speedup": ratio,
                    "paper_speedup": paper.get((gpu, model), np.nan)})
    return pd.DataFrame(out)


def _claim(rows: pd.DataFrame, config: dict[str, Any]) -> dict[str, bool]:
    """Per model: QServe on L40S above the best TensorRT-LLM configuration on A100."""
    out = {}
    for model, group in rows.groupby("model", sort=False):
        l40s = group[(group.gpu == "l40s") & (group.system == config["proposal"])].tokens_per_s
        a100 = group[(group.gpu != "l40s") & (group.system != config["proposal"])].tokens_per_s
        out[str(model)] = bool(l40s.max() > a100.max())
    return out


def run(config_path: Path = CONFIG) -> QServeReproduction:
    """Price every (GPU, model, system) and compare the speedups with the paper's."""
    config = read_yaml(config_path, "QServe reproduction config")
    rows = _rows(config)
    return QServeReproduction(rows, _speedups(rows, config), config["paper"]["claim"],
                              _claim(rows, config))


def markdown_table(frame: pd.DataFrame) -> str:
    """A Markdown table (numbers to 4 significant digits)."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "inf" if np.isinf(value) else "nan" if np.isnan(value) else f"{value:.4g}"
        return str(value)
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
