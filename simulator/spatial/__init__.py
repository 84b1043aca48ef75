"""Spatial-array accelerators (FuseMax, FLAT, …): architecture + cascade + binding + tiling.

A design is data, not a code path: an architecture YAML (``hardware_specs/accelerators``),
a cascade (``einsum``), a binding and a residency rule (``experiments/fusemax/designs``).
A workload is bound to the cascade's ranks by role and the mask's densities come from the
cascade's filters (:mod:`simulator.spatial.sizing`), so a cascade may name its ranks as
it likes.
The model reads op counts and passes from the cascade and gives cycles per tile,
latency = max(compute, DRAM traffic / bandwidth), utilisation per array, buffer need,
DRAM bytes, energy and area — vectorised over numpy arrays of shapes and hardware sizes.

Examples
--------
>>> from simulator.spatial import predict_accel
>>> from simulator.workload import problem_from_model
>>> problem = problem_from_model("bert-base", batch=64, seq_q=16384)
>>> flat, fusemax = (predict_accel(n, None, problem) for n in ("flat", "fusemax"))
>>> round(flat.time_s / fusemax.time_s, 1), flat.passes, fusemax.passes
(7.4, 3, 1)
"""

from simulator.spatial.arch import (
    GEMM_PIPELINES,
    Architecture,
    PEArray,
    array_cycles,
    list_architectures,
    load_architecture,
)
from simulator.spatial.binding import Binding, Phase, Stage, auto_binding, validate_binding
from simulator.spatial.designs import (
    Design,
    LayerResult,
    Workload,
    design_attention,
    design_end_to_end,
    list_designs,
    load_accelerator,
    load_design,
)
from simulator.spatial.energy import EnergyTally
from simulator.spatial.gemm import GemmResult, gemm, gemm_cycles, linear_layers, linear_stack
from simulator.spatial.model import AccelResult, evaluate
from simulator.spatial.predict import predict_accel
from simulator.spatial.sizing import filter_densities, workload_sizes
from simulator.spatial.tiling import ResidencyRule, residency

__all__ = [
    "GEMM_PIPELINES", "AccelResult", "Architecture", "Binding", "Design", "EnergyTally", "GemmResult",
    "LayerResult", "PEArray", "Phase", "ResidencyRule", "Stage", "Workload", "array_cycles",
    "auto_binding", "design_attention", "design_end_to_end", "evaluate", "filter_densities",
    "gemm", "gemm_cycles", "linear_layers", "linear_stack", "list_architectures", "list_designs",
    "load_accelerator", "load_architecture", "load_design", "predict_accel", "residency",
    "validate_binding", "workload_sizes",
]
