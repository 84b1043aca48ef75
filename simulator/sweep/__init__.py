"""The sweep engine: YAML specs → lazy grids → vectorised evaluators → tidy tables.

The pieces, in data-flow order: :mod:`~simulator.sweep.spec` (schema and validation),
:mod:`~simulator.sweep.expand` (lazy chunked grid), :mod:`~simulator.sweep.registry`
(evaluators), :mod:`~simulator.sweep.executors` (in-process, processes, dask),
:mod:`~simulator.sweep.store` (atomic chunk files, resume), :mod:`~simulator.sweep.outputs`
(points/pareto tables, summary, plots) and :mod:`~simulator.sweep.engine` (orchestration).
"""

from simulator.sweep.engine import SweepPlan, SweepResult, evaluate_sweep, plan_sweep, run_sweep
from simulator.sweep.registry import get_evaluator, list_evaluators, register_evaluator
from simulator.sweep.spec import SweepSpec, find_spec, load_spec, parse_spec

__all__ = [
    "SweepPlan",
    "SweepResult",
    "SweepSpec",
    "evaluate_sweep",
    "find_spec",
    "get_evaluator",
    "list_evaluators",
    "load_spec",
    "parse_spec",
    "plan_sweep",
    "register_evaluator",
    "run_sweep",
]
