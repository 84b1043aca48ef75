"""Validation and trace tables: a DataFrame, a text/Markdown table, the ``--out`` files.

``validation_frame`` has one row per compared group (times in µs for reading; the JSON
document keeps seconds); ``write_outputs`` writes ``validation.csv``,
``validation.md`` and the two figures of :mod:`simulator.traces.plots`, each file
complete or not at all (written aside, then renamed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.traces.groups import LaunchGroup
from simulator.traces.validate import Validation

__all__ = ["groups_frame", "validation_frame", "validation_markdown", "write_outputs"]


def _shape_text(group: LaunchGroup) -> dict[str, Any]:
    shape = group.shape
    if shape is None:
        return {"B": "", "H": "", "Hkv": "", "Sq": "", "Skv": "", "D": "", "mask": "", "dtype": ""}
    mask = f"window {shape.window}" if shape.window else "causal" if shape.causal else "none"
    dtype = shape.dtype if shape.kv_dtype in (None, shape.dtype) else f"{shape.dtype}/kv {shape.kv_dtype}"
    head = f"{shape.head_dim}"
    if shape.head_dim_v != shape.head_dim:
        head += f"/{shape.head_dim_v}"
    return {"B": shape.batch, "H": shape.heads, "Hkv": shape.kv_heads, "Sq": shape.seq_q,
            "Skv": shape.seq_kv, "D": head, "mask": mask, "dtype": dtype}


def groups_frame(groups: list[LaunchGroup]) -> pd.DataFrame:
    """The ``einsim traces`` table: kernel, family, shape, count, durations (µs), shape source."""
    rows = [{"kernel": g.kernel, "family": g.family, "role": g.role, **_shape_text(g), "count": g.count,
             "median us": round(g.median_s * 1e6, 2), "min us": round(g.min_s * 1e6, 2),
             "max us": round(g.max_s * 1e6, 2), "shape from": g.shape_source} for g in groups]
    return pd.DataFrame(rows)


def validation_frame(validation: Validation) -> pd.DataFrame:
    """One row per compared group: measured, predicted, error %, bound, achieved rates."""
    rows = []
    for row in validation.rows:
        g = row.group
        rows.append({"trace": g.trace, "kernel": g.kernel, "family": g.family, **_shape_text(g),
                     "count": g.count, "profile": row.profile,
                     "measured us": round(row.measured_s * 1e6, 2),
                     "predicted us": round(row.predicted_s * 1e6, 2),
                     "error %": round(100 * row.error, 1), "bound": row.bound,
                     "TFLOP/s": round(row.achieved_tflops_per_s, 1),
                     "GB/s": round(row.achieved_bytes_per_s / 1e9, 0),
                     **_dram_columns(row)})
    return pd.DataFrame(rows)


def _dram_columns(row: Any) -> dict[str, Any]:
    """Predicted vs counted DRAM traffic, when the trace counted it (Nsight Compute)."""
    counted = row.measured_dram_bytes
    if counted is None:
        return {}
    return {"DRAM MB model": round(row.dram_bytes / 1e6, 1), "DRAM MB counted": round(counted / 1e6, 1)}


def validation_markdown(validation: Validation) -> str:
    """The ``validation.md`` report: device, table, MAPE, skipped groups and notes."""
    from simulator.sweep.report import markdown_table

    lines = [f"# Validation: {', '.join(validation.traces)}", "",
             f"GPU: {validation.hw_note or validation.hw}; kernel profiles: "
             + (", ".join(f"{k} -> {v}" for k, v in validation.kernel_profiles.items()) or "none"), ""]
    frame = validation_frame(validation)
    if len(frame):
        lines += [markdown_table(frame.drop(columns=["trace"]) if len(validation.traces) == 1 else frame), "",
                  f"MAPE over {len(frame)} group(s): {100 * validation.mape:.1f}%", ""]
    else:
        lines += ["No group could be compared.", ""]
    if validation.skipped:
        lines += ["Not compared:", ""]
        lines += [f"- {g.kernel} ({g.family}, {g.count} launches): {why}" for g, why in validation.skipped]
        lines.append("")
    lines += [f"Note: {note}" for note in validation.notes]
    lines += ["", "error = predicted / measured - 1; TFLOP/s and GB/s are the model's FLOPs and DRAM "
              "bytes over the measured time."]
    return "\n".join(lines).rstrip() + "\n"


def _replace_into(path: Path, write: Any) -> None:
    """Write through a temporary sibling, then rename (no half-written file)."""
    temporary = path.with_name(f".{path.name}.tmp")
    write(temporary)
    os.replace(temporary, path)


def write_outputs(validation: Validation, out: str | os.PathLike[str]) -> list[Path]:
    """Write ``validation.csv``, ``validation.md`` and the two PNGs into ``out``."""
    from simulator.traces.plots import error_vs_size, predicted_vs_measured

    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        from simulator.errors import TraceError

        raise TraceError(f"--out {out}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "validation.csv", folder / "validation.md", folder / "predicted_vs_measured.png",
             folder / "error_vs_size.png"]
    _replace_into(paths[0], lambda p: validation_frame(validation).to_csv(p, index=False))
    _replace_into(paths[1], lambda p: p.write_text(validation_markdown(validation), encoding="utf-8"))
    _replace_into(paths[2], lambda p: predicted_vs_measured(validation, p))
    _replace_into(paths[3], lambda p: error_vs_size(validation, p))
    return paths
