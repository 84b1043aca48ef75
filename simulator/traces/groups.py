"""Attention launches grouped by kernel and shape, with duration statistics.

Repeated launches of one kernel on one problem (the layers of a model, the steps of a
profile) are one group; its ``median_s`` is what validation compares with a
prediction (reference D.6 item 3: aggregate repeated launches by median). A summary row
(``instances > 1``, Nsight Systems ``cuda_gpu_kern_sum``) counts as its instances.

Examples
--------
>>> from simulator.traces.record import KernelLaunch
>>> launches = [KernelLaunch("k", "fa2", d) for d in (3e-6, 1e-6, 2e-6)]
>>> group = group_launches(launches)[0]
>>> group.count, group.median_s, group.min_s, group.max_s
(3, 2e-06, 1e-06, 3e-06)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.traces.families import classify, is_attention, short_name
from simulator.traces.record import SHAPE_KEYS, AttentionShape, KernelLaunch

__all__ = ["LaunchGroup", "group_launches"]


@dataclass(frozen=True)
class LaunchGroup:
    """Launches of one kernel on one problem.

    ``durations`` and ``weights`` are the per-record durations and how many launches
    each stands for; ``trace`` names the trace(s) the launches came from; ``metrics``
    the median of each counter the tool measured (Nsight Compute), base units.
    """

    kernel: str
    kernel_name: str
    family: str
    role: str
    shape: AttentionShape | None
    shape_source: str
    durations: tuple[float, ...]
    weights: tuple[int, ...]
    lows: tuple[float, ...]
    highs: tuple[float, ...]
    trace: str = ""
    metrics: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def count(self) -> int:
        """Launches in the group."""
        return int(sum(self.weights))

    @property
    def median_s(self) -> float:
        """Weighted median duration."""
        order = np.argsort(self.durations)
        values = np.asarray(self.durations)[order]
        cumulative = np.cumsum(np.asarray(self.weights)[order])   # 1-based rank of each last copy
        total = int(cumulative[-1])

        def ranked(rank: int) -> float:
            return float(values[np.searchsorted(cumulative, rank)])

        if total % 2:
            return ranked((total + 1) // 2)
        return (ranked(total // 2) + ranked(total // 2 + 1)) / 2

    @property
    def min_s(self) -> float:
        """Shortest launch."""
        return float(min(self.lows))

    @property
    def max_s(self) -> float:
        """Longest launch."""
        return float(max(self.highs))

    @property
    def total_s(self) -> float:
        """GPU time of all launches (sum of durations)."""
        return float(np.dot(self.durations, self.weights))

    def as_dict(self) -> dict[str, Any]:
        """The ``traces --json`` group document (shape keys null when unknown)."""
        shape = self.shape.as_dict() if self.shape is not None else {}
        out: dict[str, Any] = {"kernel": self.kernel, "family": self.family}
        out.update({key: shape.get(key) for key in SHAPE_KEYS})
        out.update(count=self.count, median_s=self.median_s, min_s=self.min_s, max_s=self.max_s,
                   shape_source=self.shape_source, role=self.role, kv_dtype=shape.get("kv_dtype"),
                   window=shape.get("window"), paged=shape.get("paged"), page_size=shape.get("page_size"),
                   note=shape.get("note", ""),
                   total_s=self.total_s, kernel_name=self.kernel_name, trace=self.trace)
        return out


def group_launches(launches: Iterable[KernelLaunch], trace: str = "",
                   attention_only: bool = True) -> list[LaunchGroup]:
    """Group launches by (kernel name, shape, shape source); largest total time first.

    Parameters
    ----------
    launches : iterable of KernelLaunch
    trace : str
        The trace name to record on every group.
    attention_only : bool
        Keep only attention families (default).
    """
    buckets: dict[tuple, list[KernelLaunch]] = {}
    for launch in launches:
        if attention_only and not is_attention(launch.family):
            continue
        source = launch.shape_source.split(":", 1)[0] if launch.shape is None else launch.shape_source
        key = (launch.kernel, launch.shape.key() if launch.shape else None, source)
        buckets.setdefault(key, []).append(launch)
    groups = []
    for (kernel, _, source), members in buckets.items():
        family, role = classify(kernel)
        groups.append(LaunchGroup(
            kernel=short_name(kernel), kernel_name=kernel, family=members[0].family, role=role,
            shape=members[0].shape, shape_source=source,
            durations=tuple(m.duration_s for m in members), weights=tuple(m.instances for m in members),
            lows=tuple(m.metrics.get("min_s", m.duration_s) for m in members),
            highs=tuple(m.metrics.get("max_s", m.duration_s) for m in members), trace=trace,
            metrics=_median_metrics(members)))
    return sorted(groups, key=lambda g: (-g.total_s, g.kernel))


def _median_metrics(members: list[KernelLaunch]) -> dict[str, float]:
    """Median of each measured counter over the launches that have it."""
    values: dict[str, list[float]] = {}
    for member in members:
        for key, value in member.metrics.items():
            if key not in ("min_s", "max_s", "avg_s", "total_s"):
                values.setdefault(key, []).append(value)
    return {key: float(np.median(v)) for key, v in values.items()}
