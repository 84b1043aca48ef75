"""Reproduce the FuseMax paper's evaluation with the spatial-array model (``einsim reproduce fusemax``).

For the four FLAT/FuseMax models at batch 64 and 1K…1M tokens, every design of
``experiments/fusemax/designs`` is evaluated on attention alone and end to end (attention
plus the six linear layers). Speedups and energy ratios are taken against FLAT and
Unfused per point, then averaged arithmetically over the 24 points, as the paper does.
An area-vs-latency sweep of the FuseMax design over 2-D array shapes at 256K tokens
gives a Pareto front. :func:`write_outputs` writes CSV and Markdown tables and PNG figures.

Examples
--------
>>> rep = run()
>>> sorted(set(rep.rows["design"])) == sorted(rep.config.designs)
True
>>> len(rep.rows) == 2 * 5 * 4 * 6
True
>>> headline = rep.headline.set_index("metric")
>>> round(float(headline.loc["attention speedup vs flat", "model"]), 1)
6.7
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.errors import SpecError
from simulator.pareto import pareto_mask
from simulator.spatial import (
    Workload,
    design_attention,
    design_end_to_end,
    load_design,
)
from simulator.spatial._spec import check_keys, expect_list, expect_mapping, quantity, read_yaml
from simulator.workload import get_model

__all__ = ["CONFIG_PATH", "Config", "Reproduction", "load_config", "run", "write_outputs"]

#: The built-in experiment configuration.
CONFIG_PATH = Path(str(files("experiments"))) / "fusemax" / "reproduce.yaml"

_METRICS = ("speedup_vs_flat", "speedup_vs_unfused", "energy_vs_flat", "energy_vs_unfused")


@dataclass(frozen=True)
class Config:
    """The experiment: workloads, designs, paper targets and the area sweep."""

    models: tuple[str, ...]
    batch: int
    seq_lens: tuple[int, ...]
    designs: tuple[str, ...]
    proposal: str
    baselines: tuple[str, ...]
    paper: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]
    sweep_design: str
    sweep_models: tuple[str, ...]
    sweep_seq_len: int
    sweep_sizes: tuple[int, ...]
    paper_source: str = ""


@dataclass(frozen=True, eq=False)
class Reproduction:
    """Tidy result tables of :func:`run`."""

    config: Config
    rows: pd.DataFrame
    means: pd.DataFrame
    headline: pd.DataFrame
    sweep: pd.DataFrame


def load_config(path: str | Path | None = None) -> Config:
    """Read the experiment YAML (default: the built-in ``reproduce.yaml``).

    Raises
    ------
    SpecError
        On a missing or unknown key or a malformed value.
    """
    file = Path(path) if path is not None else CONFIG_PATH
    label = file.name
    doc = read_yaml(file)
    check_keys(doc, label, "", ("models", "batch", "seq_lens", "designs", "proposal",
                                "baselines", "paper", "area_sweep"), ("name", "title", "source"))
    paper = expect_mapping(doc["paper"], label, "paper")
    sweep = expect_mapping(doc["area_sweep"], label, "area_sweep")
    check_keys(sweep, label, "area_sweep", ("design", "models", "seq_len", "sizes", "source"))
    targets = tuple((scope, tuple((k, float(v)) for k, v in
                                  expect_mapping(body, label, f"paper.{scope}").items()))
                    for scope, body in paper.items() if scope != "source")
    designs = tuple(str(d) for d in expect_list(doc["designs"], label, "designs"))
    baselines = tuple(str(d) for d in expect_list(doc["baselines"], label, "baselines"))
    for name in (*baselines, str(doc["proposal"])):
        if name not in designs:
            raise SpecError(f"{label}: design '{name}' is not listed under 'designs'")
    return Config(
        models=tuple(str(m) for m in expect_list(doc["models"], label, "models")),
        batch=int(quantity(doc["batch"], "count", label, "batch")),
        seq_lens=tuple(int(s) for s in expect_list(doc["seq_lens"], label, "seq_lens")),
        designs=designs, proposal=str(doc["proposal"]), baselines=baselines, paper=targets,
        sweep_design=str(sweep["design"]),
        sweep_models=tuple(str(m) for m in expect_list(sweep["models"], label, "area_sweep.models")),
        sweep_seq_len=int(sweep["seq_len"]),
        sweep_sizes=tuple(int(s) for s in expect_list(sweep["sizes"], label, "area_sweep.sizes")),
        paper_source=str(paper.get("source", "")))


def _grid_workload(config: Config) -> tuple[pd.DataFrame, Workload]:
    """One row per (model, seq_len) and the matching vectorised workload."""
    keys = pd.DataFrame([(m, s) for m in config.models for s in config.seq_lens],
                        columns=["model", "seq_len"])
    shapes = [get_model(m) for m in keys["model"]]

    def column(attr: str) -> np.ndarray:
        return np.array([getattr(s, attr) for s in shapes], dtype=float)

    seq = keys["seq_len"].to_numpy(dtype=float)
    workload = Workload(config.batch, column("heads"), column("head_dim"), column("head_dim_v"),
                        seq, seq, column("d_model"), column("ffn_hidden"), column("kv_heads"))
    return keys, workload


def _design_rows(name: str, keys: pd.DataFrame, workload: Workload) -> list[pd.DataFrame]:
    """Attention and end-to-end rows of one design over the whole grid."""
    layer = design_end_to_end(load_design(name), workload)
    att = layer.attention
    common = {"design": name, "model": keys["model"], "seq_len": keys["seq_len"]}
    attention = pd.DataFrame({
        "scope": "attention", **common, "latency_s": att.latency_s, "energy_j": att.energy_j,
        "util_2d": att.utilization["array_2d"], "util_1d": att.utilization["array_1d"],
        "dram_bytes": att.dram_bytes, "buffer_bytes": att.buffer_bytes,
        "spill_fraction": att.spill_fraction, "passes": att.passes, "bound": att.bound})
    end_to_end = pd.DataFrame({
        "scope": "end_to_end", **common, "latency_s": layer.latency_s, "energy_j": layer.energy_j,
        "util_2d": layer.utilization["array_2d"], "util_1d": layer.utilization["array_1d"],
        "dram_bytes": layer.dram_bytes, "buffer_bytes": att.buffer_bytes,
        "spill_fraction": att.spill_fraction, "passes": att.passes,
        "bound": np.where(layer.linear.latency_s > att.latency_s, "linear", att.bound)})
    return [attention, end_to_end]


def _add_ratios(rows: pd.DataFrame, baselines: tuple[str, ...]) -> pd.DataFrame:
    """Per point: speedup over each baseline and energy as a fraction of the baseline's."""
    key = ["scope", "model", "seq_len"]
    for base in baselines:
        ref = rows[rows["design"] == base][key + ["latency_s", "energy_j"]]
        ref = ref.rename(columns={"latency_s": "_lat", "energy_j": "_energy"})
        rows = rows.merge(ref, on=key, how="left")
        rows[f"speedup_vs_{base}"] = rows["_lat"] / rows["latency_s"]
        rows[f"energy_vs_{base}"] = rows["energy_j"] / rows["_energy"]
        rows = rows.drop(columns=["_lat", "_energy"])
    return rows


def _means(rows: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Arithmetic means over the grid per (scope, design), also at the longest length."""
    metrics = [c for c in rows.columns if c.startswith(("speedup_vs_", "energy_vs_"))]
    grouped = rows.groupby(["scope", "design"], sort=False)
    means = grouped[metrics + ["util_2d", "util_1d"]].mean().reset_index()
    longest = rows[rows["seq_len"] == max(config.seq_lens)]
    at_max = longest.groupby(["scope", "design"], sort=False)[metrics].mean()
    at_max.columns = [f"{c}_at_{_length_label(max(config.seq_lens))}" for c in at_max.columns]
    return means.merge(at_max.reset_index(), on=["scope", "design"], how="left")


def _length_label(tokens: int) -> str:
    """1048576 → '1m', 262144 → '256k'."""
    if tokens % 2**20 == 0:
        return f"{tokens // 2**20}m"
    return f"{tokens // 2**10}k" if tokens % 2**10 == 0 else str(tokens)


_SCOPE_LABELS = {"attention": "attention", "end_to_end": "end to end"}


def _headline(means: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The proposal's means next to the paper's headline numbers."""
    ours = means[means["design"] == config.proposal].set_index("scope")
    records = []
    for scope, targets in config.paper:
        base, _, at = scope.partition("_at_")
        for metric, paper in targets:
            column = metric + (f"_at_{at}" if at else "")
            found = base in ours.index and column in ours.columns
            model = float(ours.loc[base, column]) if found else float("nan")
            label = f"{_SCOPE_LABELS.get(base, base)} {metric.replace('_', ' ')}"
            records.append({"metric": label + (f" at {at.upper()}" if at else ""),
                            "paper": paper, "model": model, "model_over_paper": model / paper})
    return pd.DataFrame(records)


def _sweep(config: Config) -> pd.DataFrame:
    """Area and latency of the FuseMax design over 2-D array shapes; Pareto front per model."""
    design = load_design(config.sweep_design)
    shapes = [(r, c) for r in config.sweep_sizes for c in config.sweep_sizes]
    rows_arr = np.array([r for r, _ in shapes], dtype=float)
    cols_arr = np.array([c for _, c in shapes], dtype=float)
    arch = design.load_architecture().with_overrides(rows=rows_arr, cols=cols_arr,
                                                     pes_1d=cols_arr)
    frames = []
    for model in config.sweep_models:
        workload = Workload.from_model(model, config.batch, float(config.sweep_seq_len))
        result = design_attention(design, workload, arch)
        frame = pd.DataFrame({
            "model": model, "seq_len": config.sweep_seq_len, "rows": rows_arr.astype(int),
            "cols": cols_arr.astype(int), "pes_1d": cols_arr.astype(int),
            "area_m2": arch.area_m2(), "latency_s": result.latency_s,
            "energy_j": result.energy_j, "util_2d": result.utilization["array_2d"],
            "util_1d": result.utilization["array_1d"], "dram_bytes": result.dram_bytes})
        frame["pareto"] = pareto_mask(frame[["area_m2", "latency_s"]].to_numpy(), ["min", "min"])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def run(config: Config | None = None) -> Reproduction:
    """Evaluate every design on the grid and the area sweep; see the module docstring."""
    config = config or _default_config()
    keys, workload = _grid_workload(config)
    frames = [f for name in config.designs for f in _design_rows(name, keys, workload)]
    rows = pd.concat(frames, ignore_index=True)
    order = {"attention": 0, "end_to_end": 1}
    rows = rows.sort_values(["scope", "design", "model", "seq_len"],
                            key=lambda s: s.map(order) if s.name == "scope" else
                            (s.map({d: i for i, d in enumerate(config.designs)})
                             if s.name == "design" else
                             s.map({m: i for i, m in enumerate(config.models)})
                             if s.name == "model" else s), kind="stable")
    rows = _add_ratios(rows.reset_index(drop=True), config.baselines)
    means = _means(rows, config)
    return Reproduction(config, rows, means, _headline(means, config), _sweep(config))


@functools.lru_cache(maxsize=1)
def _default_config() -> Config:
    """The built-in configuration (parsed once)."""
    return load_config()


# --------------------------------------------------------------------------- output


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table; floats with ``digits`` significant digits.

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"a": ["x"], "b": [1.23456]})))
    | a | b |
    |---|---|
    | x | 1.23 |
    """
    def cell(value: Any) -> str:
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else ""
        if isinstance(value, (float, np.floating)):
            return f"{value:.{digits}g}"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "|".join("---" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _summary_markdown(rep: Reproduction) -> str:
    """The Markdown report: headline vs paper, means per design, tables, Pareto front."""
    config = rep.config
    att = rep.rows[rep.rows["scope"] == "attention"]
    pivot = att.pivot_table(index=["model", "seq_len"], columns="design", values="latency_s",
                            sort=False)[list(config.designs)].reset_index()
    front = rep.sweep[rep.sweep["pareto"]].drop(columns=["pareto"])
    parts = [
        "# FuseMax reproduction (einsim)", "",
        f"Models {', '.join(config.models)}; batch {config.batch}; sequence lengths "
        f"{', '.join(_length_label(s).upper() for s in config.seq_lens)}. Means are arithmetic "
        f"over the {len(config.models) * len(config.seq_lens)} points ({config.paper_source}).",
        "", "## Headline means: model vs paper", "", markdown_table(rep.headline), "",
        "## Means per design", "", markdown_table(rep.means), "",
        "## Attention latency (s)", "", markdown_table(pivot), "",
        f"## Area vs latency, {config.sweep_design} at {_length_label(config.sweep_seq_len).upper()} "
        "tokens: Pareto front", "", markdown_table(front), ""]
    return "\n".join(parts)


def write_outputs(rep: Reproduction, out_dir: str | Path, figures: bool = True) -> list[Path]:
    """Write the CSV tables, ``summary.md`` and (with ``figures``) the PNGs; return the paths.

    The tables are ``results.csv`` (one row per scope, design, model and length),
    ``means.csv``, ``headline.csv`` and ``area_sweep.csv``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("results", rep.rows), ("means", rep.means),
                        ("headline", rep.headline), ("area_sweep", rep.sweep)):
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")
        written.append(path)
    summary = out / "summary.md"
    summary.write_text(_summary_markdown(rep), encoding="utf-8")
    written.append(summary)
    if figures:
        from experiments.fusemax.figures import draw_figures

        written += draw_figures(rep, out)
    return written
