"""Roofline of an attention problem on a GPU: one ceiling per resource, kernels and Einsums.

The x axis is arithmetic intensity (FLOP per byte), the y axis FLOP/s by the
FlashAttention convention. Memory ceilings are slopes (DRAM and shared-memory
bandwidth); compute ceilings are flat and say how many *attention* FLOP/s a resource
would allow at its peak, given the problem's op mix: ``peak_r x FLOP / work_r``. So
the tensor ceiling sits at the tensor peak (lower when tiles are padded), and the exp
ceiling at ``MUFU rate x FLOP per exp`` (``4·d`` per score, a little less with the
per-tile rescale exps), the FlashAttention-3 framing. Points: the problem against DRAM
and shared memory, each kernel, and each Einsum of the cascade as if it ran alone (its
own roofline bound).

Examples
--------
>>> from simulator.gpu import predict
>>> from simulator.workload import AttentionProblem
>>> p = AttentionProblem(batch=4, heads=16, kv_heads=16, seq_q=4096, seq_kv=4096,
...                      head_dim_qk=64)
>>> rf = roofline("h100", "attention-1pass", p)
>>> [c.resource for c in rf.ceilings]
['tensor', 'exp', 'fp32', 'dram', 'smem']
>>> round(rf.ceiling("exp").value / 1e12)     # 3.86e12 exp/s x ~246 FLOP per exp
952
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import einsum
from einsum import Cascade
from simulator.binding import bind
from simulator.errors import SpecError
from simulator.gpu import predict, resolve
from simulator.gpu.model import bound_sizes, chosen_cascade
from simulator.gpu.plan import MUFU_KINDS
from simulator.hardware import GPUSpec
from simulator.prediction import Prediction
from simulator.workload import AttentionProblem

__all__ = ["Ceiling", "Roofline", "RooflinePoint", "plot_roofline", "roofline", "roofline_figure"]

_COMPUTE = ("tensor", "exp", "fp32")
_MEMORY = ("dram", "smem")


@dataclass(frozen=True)
class Ceiling:
    """A roof: ``flat`` at ``value`` FLOP/s, or a ``slope`` of ``value`` B/s."""

    resource: str
    kind: str
    value: float


@dataclass(frozen=True)
class RooflinePoint:
    """A plotted point: label, kind (problem/kernel/einsum), intensity and FLOP/s."""

    label: str
    kind: str
    intensity: float
    flops_per_s: float


@dataclass(frozen=True)
class Roofline:
    """Ceilings and points of one problem on one GPU."""

    hardware: str
    title: str
    ceilings: tuple[Ceiling, ...]
    points: tuple[RooflinePoint, ...]
    prediction: Prediction

    def ceiling(self, resource: str) -> Ceiling:
        """The ceiling of one resource."""
        return next(c for c in self.ceilings if c.resource == resource)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"hardware": self.hardware, "title": self.title,
                "ceilings": [vars(c) for c in self.ceilings],
                "points": [vars(p) for p in self.points]}


def _ceilings(pred: Prediction, gpu: GPUSpec, dtype: str) -> tuple[Ceiling, ...]:
    """Compute ceilings from the prediction's work mix; memory ceilings from the specs."""
    peaks = {"tensor": gpu.tensor_flops(dtype), "exp": gpu.exp_ops_per_s,
             "fp32": gpu.fp32_flops / 2, "smem": gpu.smem_bytes_per_s}
    ceilings = []
    for resource in _COMPUTE:
        work = pred.utilization[resource] * peaks[resource] * pred.time_s
        value = peaks[resource] * pred.flops / work if work > 0 else float("inf")
        ceilings.append(Ceiling(resource, "flat", value))
    ceilings.append(Ceiling("dram", "slope", gpu.dram_bytes_per_s))
    ceilings.append(Ceiling("smem", "slope", peaks["smem"]))
    return tuple(ceilings)


def _einsum_points(cascade: Cascade, problem: AttentionProblem, gpu: GPUSpec, dtype: str,
                   tiles: tuple[int, int], given: Mapping[str, Any] | None) -> list[RooflinePoint]:
    """Each computing Einsum as if it ran alone: its ops, its tensors' bytes, its bound."""
    binding = bind(cascade)
    extra, _, _ = bound_sizes(cascade, problem.head_dim_qk, problem.v_dim, given)
    sizes = binding.sizes(seq_q=problem.seq_q, seq_kv=problem.seq_kv, key_tile=tiles[1],
                          extra=extra)
    counts = einsum.op_counts(cascade)
    sizes.update({d.symbol: 1 for d in counts.densities})
    scale = problem.batch * problem.heads
    rates = {"tensor": gpu.tensor_flops(dtype), "exp": gpu.exp_ops_per_s,
             "fp32": gpu.fp32_flops / 2}
    points = []
    for ops in counts.per_einsum:
        work = {"tensor": 0.0, "exp": 0.0, "fp32": 0.0}
        for kind, poly in ops.ops:
            key = "tensor" if kind == "mac" else "exp" if kind in MUFU_KINDS else "fp32"
            work[key] += poly.evaluate(sizes) * (2 if kind == "mac" else 1) * scale
        total = sum(work.values())
        if total <= 0:
            continue
        e = cascade.einsum(ops.label)
        names = {r.name for r in einsum.model.expr_refs(e.expr)} | {e.name}
        elements = sum(einsum.Poly.product([r for r in cascade.ranks_of(n) if r != "?"
                                            and r not in binding.instance]).evaluate(sizes)
                       for n in names)
        data = elements * problem.input_bytes_per_element * scale
        busy = max(max(work[r] / rates[r] for r in work), data / gpu.dram_bytes_per_s)
        points.append(RooflinePoint(ops.label, "einsum", total / data, total / busy))
    return points


def roofline(hw: str | os.PathLike[str] | GPUSpec, cascade: str | os.PathLike[str] | Cascade,
             problem: AttentionProblem, *, profile: str = "auto", **options: Any) -> Roofline:
    """Ceilings and points of a problem (see the module docstring).

    Parameters
    ----------
    hw, cascade, problem, profile
        As :func:`simulator.gpu.predict`.
    **options
        Passed to :func:`simulator.gpu.predict` (``masks``, ``tiles``, ``sizes``,
        ``tensors``).

    Returns
    -------
    Roofline

    Raises
    ------
    SpecError
        As :func:`simulator.gpu.predict`.

    Examples
    --------
    >>> p = AttentionProblem(batch=1, heads=32, kv_heads=8, seq_q=1, seq_kv=32768,
    ...                      head_dim_qk=128)
    >>> rf = roofline("h100", "decode-splitk", p)
    >>> rf.prediction.bound, [pt.kind for pt in rf.points][:3]
    ('dram', ['problem', 'problem-smem', 'kernel'])
    """
    gpu, c, prof = resolve(hw, cascade, profile)
    pred = predict(gpu, c, problem, profile=prof, **options)
    c = chosen_cascade(c, problem.causal and options.get("masks") is None)
    ceilings = _ceilings(pred, gpu, problem.dtype)
    smem_bytes = pred.utilization["smem"] * gpu.smem_bytes_per_s * pred.time_s
    points = [RooflinePoint("problem (DRAM)", "problem", pred.flops / pred.dram_bytes,
                            pred.tflops_per_s * 1e12)]
    if smem_bytes > 0:
        points.append(RooflinePoint("problem (SMEM)", "problem-smem", pred.flops / smem_bytes,
                                    pred.tflops_per_s * 1e12))
    for kernel in pred.kernels if len(pred.kernels) > 1 else ():
        if kernel.ops and kernel.dram_bytes and kernel.time_s > 0:
            points.append(RooflinePoint(f"kernel {kernel.name}", "kernel",
                                        kernel.ops / kernel.dram_bytes, kernel.ops / kernel.time_s))
    tiles = (int(pred.extra.get("q_tile") or 128), int(pred.extra.get("kv_tile") or 128))
    points += _einsum_points(c, problem, gpu, problem.dtype, tiles, options.get("sizes"))
    title = f"{c.name} on {gpu.name} ({prof.name}): {problem}"
    return Roofline(gpu.name, title, ceilings, tuple(points), pred)


def plot_roofline(rf: Roofline, out: str | os.PathLike[str]) -> Path:
    """Draw a roofline to a PNG (matplotlib, Agg backend).

    Raises
    ------
    SpecError
        If ``out`` does not end in ``.png`` or its directory does not exist.

    Examples
    --------
    >>> import tempfile
    >>> p = AttentionProblem(batch=4, heads=16, kv_heads=16, seq_q=2048, seq_kv=2048,
    ...                      head_dim_qk=128)
    >>> path = plot_roofline(roofline("h100", "attention-1pass", p),
    ...                      Path(tempfile.mkdtemp()) / "roofline.png")
    >>> path.read_bytes()[1:4]
    b'PNG'
    """
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise SpecError(f"--out: expected a .png file name, got {str(out)!r}")
    if not path.parent.exists():
        raise SpecError(f"--out: directory {str(path.parent)!r} does not exist")
    roofline_figure(rf).savefig(path, metadata={"Software": None})
    return path


def roofline_figure(rf: Roofline) -> Any:
    """The roofline as a matplotlib Figure on its own Agg canvas (for notebooks and files).

    Examples
    --------
    >>> p = AttentionProblem(batch=1, heads=8, kv_heads=8, seq_q=1024, seq_kv=1024,
    ...                      head_dim_qk=64)
    >>> roofline_figure(roofline("h100", "attention-1pass", p)).axes[0].get_xscale()
    'log'
    """
    from simulator.plots._base import new_figure

    fig, ax = new_figure(9, 6)
    _draw(ax, rf)
    fig.set_dpi(110)
    fig.tight_layout()
    return fig


_COLORS = {"tensor": "tab:red", "exp": "tab:purple", "fp32": "tab:orange", "dram": "tab:blue",
           "smem": "tab:green"}
_STYLES = {"tensor": (0, (6, 2)), "exp": (0, (2, 2)), "fp32": (0, (6, 2, 2, 2))}
_MARKERS = {"problem": ("*", 220), "problem-smem": ("^", 90), "kernel": ("o", 70),
            "einsum": ("x", 45)}


def _merged(points: tuple[RooflinePoint, ...]) -> list[tuple[str, str, float, float]]:
    """Points at (nearly) the same place share one marker and a joined label."""
    import math

    groups: dict[tuple, list[RooflinePoint]] = {}
    for p in points:
        key = (p.kind, round(math.log10(max(p.intensity, 1e-30)), 1),
               round(math.log10(max(p.flops_per_s, 1.0)), 1))
        groups.setdefault(key, []).append(p)
    return [(g[0].kind, ", ".join(p.label for p in g), g[0].intensity, g[0].flops_per_s)
            for g in groups.values()]


def _draw_ceilings(ax: Any, rf: Roofline, grid: Any) -> None:
    """Each ceiling as a line with its value at the right edge, and the overall roof."""
    import numpy as np

    roof = np.full_like(grid, np.inf)
    for c in rf.ceilings:
        if not np.isfinite(c.value):
            continue
        flat = c.kind == "flat"
        line = np.full_like(grid, c.value) if flat else c.value * grid
        style = _STYLES.get(c.resource, "-")
        unit = "FLOP/s" if flat else "B/s"
        ax.plot(grid, line, linestyle=style, color=_COLORS[c.resource], lw=1.6,
                label=f"{c.resource}: {c.value:.3g} {unit}")
        if flat:
            below = c.resource == "exp"
            ax.annotate(c.resource, (grid[-1], c.value), fontsize=8, color=_COLORS[c.resource],
                        xytext=(-4, -11 if below else 3), textcoords="offset points", ha="right")
        if c.resource != "smem":
            roof = np.minimum(roof, line)
    ax.plot(grid, roof, color="0.3", lw=4, alpha=0.25, label="roof (compute and DRAM)")


def _draw(ax: Any, rf: Roofline) -> None:
    """Ceilings as lines, the overall roof in grey, points with labels, log-log axes."""
    import numpy as np

    xs = [p.intensity for p in rf.points if p.intensity > 0]
    lo, hi = min(xs + [1.0]) / 4, max(xs + [1e4]) * 4
    grid = np.logspace(np.log10(lo), np.log10(hi), 400)
    _draw_ceilings(ax, rf, grid)
    for index, (kind, label, x, y) in enumerate(_merged(rf.points)):
        marker, size = _MARKERS[kind]
        ax.scatter(x, y, marker=marker, s=size, zorder=5,
                   color="black" if kind.startswith("problem") else "tab:gray")
        offset = (6, 6) if kind != "einsum" else (6, -10 if index % 2 else 6)
        ax.annotate(label, (x, y), fontsize=7, xytext=offset, textcoords="offset points",
                    color="black" if kind != "einsum" else "0.35")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    top = max(c.value for c in rf.ceilings if c.kind == "flat" and np.isfinite(c.value))
    ax.set_ylim(top / 1e4, top * 3)
    ax.set_xlabel("arithmetic intensity (FLOP per byte of DRAM, or of shared memory for ▲)")
    ax.set_ylabel("FLOP/s  (★▲ problem; ● kernels and × Einsums: all ops)")
    ax.set_title(rf.title, fontsize=8)
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=7, loc="upper left", title="ceilings", title_fontsize=7)
