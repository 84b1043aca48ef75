r"""Drawing a sweep's PNGs as tasks, on the executor's workers while the parent writes.

Each built-in figure (the Pareto front, one roofline scatter per hardware) is a
:class:`FigureTask`; :func:`render_figure` draws one and returns its PNG bytes, so it can
run in any worker (dask workers need not share the output disk). With a parallel
executor, :class:`FigureJobs` submits the tasks from a background thread and the parent
streams ``points.csv`` meanwhile; then it writes the bytes. Evaluator plot hooks are
opaque callables that write their own files, so they run in the parent.

This module does not import matplotlib; only the process that draws does.

Examples
--------
>>> import pandas as pd
>>> from simulator.pareto import Objective
>>> points = pd.DataFrame({"point": [0, 1], "t": [1.0, 2.0], "q": [1.0, 3.0], "feasible": [True, True]})
>>> tasks = figure_tasks(points, points, [Objective("t"), Objective("q", "max")], (), "demo", True)
>>> [task.name for task in tasks]
['pareto_front.png']
>>> render_figure(None, tasks[0])[:4]
b'\x89PNG'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.grouping import group_rows
from simulator.pareto import Objective
from simulator.sweep.registry import PlotHook
from simulator.sweep.report import format_value

__all__ = [
    "MAX_SERIES",
    "FigureJobs",
    "FigureTask",
    "figure_tasks",
    "render_figure",
    "roofline_groups",
    "roofline_name",
    "series_groups",
]

#: Most groups (front series, roofline files) drawn; the rest are left out.
MAX_SERIES = 12


@dataclass(frozen=True)
class FigureTask:
    """One PNG: its file name, what to draw (``front`` or ``roofline``) and the data."""

    name: str
    kind: str
    args: tuple
    index: int = 0  # order among the tasks (executors report finished tasks by index)


def figure_tasks(
    points: pd.DataFrame,
    pareto: pd.DataFrame,
    objectives: Sequence[Objective],
    by: Sequence[str],
    title: str,
    rooflines: bool,
    winners: pd.DataFrame | None = None,
) -> list[FigureTask]:
    """The built-in figures of a sweep.

    Parameters
    ----------
    points : pandas.DataFrame
        The plot rows (a sample of all rows plus every Pareto row).
    pareto : pandas.DataFrame
        The Pareto rows.
    objectives, by
        The spec's objectives and ``pareto_by``.
    title : str
        Title of the front.
    rooflines : bool
        Add the generic roofline scatters (when the evaluator has no plot hooks), each
        over its GPU's ceilings (:func:`simulator.sweep.ceilings.gpu_ceilings`).
    winners : pandas.DataFrame, optional
        :func:`simulator.sweep.winners.winners_table`; adds ``best_hardware.png``.
    """
    feasible = points[points["feasible"]] if "feasible" in points else points
    tasks = [FigureTask("pareto_front.png", "front", (feasible, pareto, tuple(objectives), tuple(by), title))]
    if winners is not None and len(winners) and by:
        tasks.append(FigureTask("best_hardware.png", "best", (winners, tuple(by), objectives[0], title)))
    if rooflines:
        from simulator.sweep.ceilings import gpu_ceilings

        tasks += [FigureTask(roofline_name(label), "roofline", (label, rows, gpu_ceilings(label, rows)))
                  for label, rows in roofline_groups(points)]
    return [FigureTask(t.name, t.kind, t.args, i) for i, t in enumerate(tasks)]


def render_figure(_job: Any, task: FigureTask) -> bytes | None:
    """Draw one figure and return its PNG bytes (None if there is nothing to draw)."""
    from simulator.sweep import plots

    if task.kind == "front":
        points, pareto, objectives, by, title = task.args
        return plots.pareto_front_png(points, pareto, objectives, by, title=title)
    if task.kind == "best":
        winners, by, objective, title = task.args
        return plots.best_hardware_png(winners, by, objective, title=title)
    label, rows, ceilings = task.args
    return plots.roofline_png(label, rows, ceilings)


class FigureJobs:
    """Draw figure tasks (on the runner's workers, in the background) and write them.

    Parameters
    ----------
    tasks : list of FigureTask
    runner : executor or None
        A parallel executor draws in its workers, started by :meth:`start`; otherwise
        :meth:`finish` draws here.
    hooks : sequence of callable
        Evaluator plot hooks, ``hook(points, out_dir)``, run here by :meth:`finish`.
    points : pandas.DataFrame
        What the hooks get.
    """

    def __init__(self, tasks: list[FigureTask], runner: Any, hooks: Sequence[PlotHook], points: pd.DataFrame):
        self.tasks = tasks
        self.runner = runner if getattr(runner, "parallel", False) else None
        self.hooks = tuple(hooks)
        self.points = points
        self._drawn: dict[str, bytes | None] = {}
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Submit the tasks to the workers from a background thread."""
        if self.runner is not None and self.tasks:
            self._thread = threading.Thread(target=self._collect, name="einsim-figures", daemon=True)
            self._thread.start()

    def finish(self, out_dir: Path) -> list[Path]:
        """Wait for (or draw) every figure, write the PNGs and run the hooks."""
        from simulator.sweep.plots import write_png

        if self._thread is not None:
            self._thread.join()
            if self._error is not None:
                raise self._error
        else:
            self._drawn = {task.name: render_figure(None, task) for task in self.tasks}
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for task in self.tasks:
            data = self._drawn.get(task.name)
            if data is not None:
                write_png(out_dir / task.name, data)
                written.append(out_dir / task.name)
        for hook in self.hooks:
            written += [Path(p) for p in hook(self.points, out_dir)]
        return written

    def _collect(self) -> None:
        try:
            for result in self.runner.run(render_figure, None, self.tasks):
                self._drawn[result.chunk.name] = result.output
        except BaseException as err:  # noqa: BLE001 - re-raised in the parent by finish()
            self._error = err


def roofline_groups(points: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``(hardware, rows)`` for each roofline PNG (none if a column is missing)."""
    needed = {"hardware", "arithmetic_intensity", "tflops_per_s"}
    if not needed <= set(points.columns) or len(points) == 0:
        return []
    return series_groups(points, ["hardware"])[:MAX_SERIES]


def roofline_name(label: str) -> str:
    """File name of the roofline PNG of one hardware.

    Examples
    --------
    >>> roofline_name("h100 sxm/80GB")
    'roofline_h100_sxm_80GB.png'
    """
    return f"roofline_{re.sub(r'[^A-Za-z0-9._-]+', '_', label).strip('_') or 'unnamed'}.png"


def series_groups(frame: pd.DataFrame, by: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """``(label, rows)`` per value combination of ``by``, sorted by label.

    Only the first :data:`MAX_SERIES` groups are drawn, so only their rows are taken; the
    rest are listed with an empty frame (their count goes into the front's title).
    """
    if not by:
        return [("Pareto front", frame)]
    groups = [(", ".join(format_value(v) for v in key), rows) for key, rows in group_rows(frame, by)]
    groups.sort(key=lambda group: group[0])  # stable: equal labels keep their order
    return [(text, frame.iloc[rows] if n < MAX_SERIES else frame.iloc[:0])
            for n, (text, rows) in enumerate(groups)]
