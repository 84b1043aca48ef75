"""Designs (architecture + cascade + binding + tiling, as YAML) and the prediction entry points.

A design YAML (``experiments/fusemax/designs/*.yaml``) names an architecture and a cascade,
binds the cascade's Einsums to arrays in phases and stages, and picks a residency rule
and the linear-layer mapping. The five FuseMax-paper designs are ``unfused``, ``flat``,
``cascade`` (+Cascade), ``architecture`` (+Architecture) and ``fusemax`` (+Binding).
An architecture name (``fusemax-cloud``) also works as an accelerator: its cascade is
then bound automatically (:func:`~simulator.spatial.binding.auto_binding`).

Examples
--------
>>> list_designs()
['architecture', 'cascade', 'flat', 'fusemax', 'unfused']
>>> design = load_design("fusemax")
>>> design.architecture, design.cascade, design.binding.array_of("SLN")
('fusemax-cloud', 'attention-1pass', '2d')
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import einsum
from einsum.model import Cascade
from simulator.errors import SpecError
from simulator.spatial._spec import (
    check_keys,
    expect_mapping,
    quantity_with_source,
    read_yaml,
    resolve_yaml,
)
from simulator.spatial.arch import Architecture, list_architectures, load_architecture
from simulator.spatial.binding import Binding, auto_binding, parse_binding, validate_binding
from simulator.spatial.energy import EnergyTally
from simulator.spatial.gemm import GemmResult, linear_layers, linear_stack
from simulator.spatial.model import AccelResult, evaluate
from simulator.spatial.sizing import Workload, filter_densities, tensor_sizes, workload_sizes
from simulator.spatial.tiling import RULES, ResidencyRule

__all__ = [
    "DESIGN_DIR",
    "Design",
    "LayerResult",
    "Workload",
    "design_attention",
    "design_end_to_end",
    "list_designs",
    "load_accelerator",
    "load_design",
]

#: Directory of the built-in design YAML files.
DESIGN_DIR = Path(str(files("experiments"))) / "fusemax" / "designs"


@dataclass(frozen=True)
class Design:
    """A named design: architecture + cascade + binding + residency rule + GEMM mapping.

    ``binding`` is None for an architecture used directly (the cascade is bound by rule).
    """

    name: str
    title: str
    architecture: str
    cascade: str
    binding: Binding | None
    residency: ResidencyRule
    hide_fill_drain: bool = True
    source: str = ""
    path: str = field(default="", compare=False)

    def load_architecture(self) -> Architecture:
        """The design's architecture."""
        return load_architecture(self.architecture)

    def load_cascade(self) -> Cascade:
        """The design's cascade."""
        return einsum.load(self.cascade)

    def binding_for(self, cascade: Cascade, arch: Architecture) -> Binding:
        """The YAML binding for the design's own cascade, else an automatic one like it."""
        if self.binding is not None and cascade.name == self.load_cascade().name:
            return self.binding
        template = self.binding.phases if self.binding is not None else ()
        first = template[0] if template else None
        binding = auto_binding(cascade, arch, first.schedule if first else "pipelined",
                               split_phases=len(template) > 1,
                               stall=first.stall if first else None)
        validate_binding(binding, cascade, arch, f"{self.name} (auto binding)")
        return binding


def list_designs() -> list[str]:
    """Names of the built-in designs."""
    return sorted(p.stem for p in DESIGN_DIR.glob("*.yaml"))


def load_design(name_or_path: str | os.PathLike[str]) -> Design:
    """Load and validate a design by name or path.

    Raises
    ------
    SpecError
        Unknown name, malformed YAML, an unknown architecture or cascade, or a binding
        that does not fit the cascade and the architecture.
    """
    path = resolve_yaml(name_or_path, [DESIGN_DIR], "design", list_designs())
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)


def load_accelerator(name_or_path: str | os.PathLike[str]) -> Design:
    """A design by name/path, or an architecture wrapped as a design with automatic binding.

    Examples
    --------
    >>> load_accelerator("flat").architecture, load_accelerator("fusemax-cloud").binding is None
    ('flat-cloud', True)
    """
    text = os.fspath(name_or_path)
    key = text.strip().lower().replace("_", "-")
    if key in list_designs():
        return load_design(key)
    if key in list_architectures():
        arch = load_architecture(key)
        return Design(arch.name, arch.title, arch.name, "attention-1pass", None,
                      ResidencyRule("divisor", source="default for an architecture"),
                      path=arch.path)
    if text.endswith((".yaml", ".yml")) and Path(text).is_file():
        doc = read_yaml(Path(text))
        return load_design(text) if "binding" in doc else load_accelerator_arch(text)
    raise SpecError(f"unknown accelerator '{text}'; designs: {', '.join(list_designs())}; "
                    f"architectures: {', '.join(list_architectures())} (or a YAML path)")


def load_accelerator_arch(path: str) -> Design:
    """An architecture YAML file wrapped as a design with automatic binding."""
    arch = load_architecture(path)
    return Design(arch.name, arch.title, path, "attention-1pass", None,
                  ResidencyRule("divisor", source="default for an architecture"), path=path)


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int) -> Design:
    """Parse and validate one design file (cached on path and modification time)."""
    file = Path(path)
    label = file.name
    doc = read_yaml(file)
    check_keys(doc, label, "", ("name", "architecture", "cascade", "binding", "tiling", "linear",
                                "source"), ("title", "notes"))
    arch = load_architecture(str(doc["architecture"]))
    cascade = einsum.load(str(doc["cascade"]))
    binding = parse_binding(doc["binding"], label)
    validate_binding(binding, cascade, arch, label)
    linear = expect_mapping(doc["linear"], label, "linear")
    check_keys(linear, label, "linear", ("hide_fill_drain", "source"))
    if not isinstance(linear["hide_fill_drain"], bool):
        raise SpecError(f"{label}: key 'linear.hide_fill_drain': expected true or false; got "
                        f"{linear['hide_fill_drain']!r}")
    return Design(str(doc["name"]), str(doc.get("title", "")), str(doc["architecture"]),
                  str(doc["cascade"]), binding, _residency(doc["tiling"], label),
                  linear["hide_fill_drain"], str(doc["source"]), path)


def _residency(node: Any, label: str) -> ResidencyRule:
    """Parse ``tiling: {resident: {rule, source, min_queries?, max_queries?, …}}``."""
    node = expect_mapping(node, label, "tiling")
    check_keys(node, label, "tiling", ("resident",))
    body = expect_mapping(node["resident"], label, "tiling.resident")
    check_keys(body, label, "tiling.resident", ("rule", "source"),
               ("min_queries", "max_queries", "min_on_chip_fraction", "note"))
    if body["rule"] not in RULES:
        raise SpecError(f"{label}: key 'tiling.resident.rule': expected one of "
                        f"{', '.join(RULES)}; got {body['rule']!r}")

    def value(key: str, default: float | None) -> float | None:
        if key not in body:
            return default
        return quantity_with_source(body[key], "count", label, f"tiling.resident.{key}").value

    fraction = value("min_on_chip_fraction", 0.0) or 0.0
    if fraction > 1:
        raise SpecError(f"{label}: key 'tiling.resident.min_on_chip_fraction.value': expected "
                        f"a fraction in [0, 1]; got {fraction}")
    return ResidencyRule(str(body["rule"]), value("min_queries", 1.0) or 1.0,
                         value("max_queries", None), fraction, str(body["source"]))


# --------------------------------------------------------------------------- evaluation


class LayerResult(NamedTuple):
    """End-to-end (attention + linear layers) result of one design."""

    attention: AccelResult
    linear: GemmResult
    latency_s: Any
    energy_j: Any
    dram_bytes: Any
    utilization: dict[str, Any]
    energy: EnergyTally


def design_attention(design: Design, workload: Workload, arch: Architecture | None = None,
                     cascade: Cascade | None = None,
                     densities: Mapping[str, Any] | None = None,
                     extra_sizes: Mapping[str, Any] | None = None,
                     tensors: Mapping[str, Any] | None = None) -> AccelResult:
    """Evaluate the attention of a workload (vectorised) on a design.

    The workload is bound to the cascade's ranks by role and the filter densities come
    from the cascade's filters (:mod:`simulator.spatial.sizing`); ``densities`` fixes
    some by hand, ``extra_sizes`` sizes the cascade's other ranks (``--size``) and
    ``tensors`` gives the values of tensors its filters read (their shapes size their
    ranks).

    Raises
    ------
    SpecError
        When a rank stays unsized (naming the ``--size`` to give) or the mask needs a
        tensor that ``tensors`` lacks.

    Examples
    --------
    >>> import numpy as np
    >>> w = Workload(64, 12, 64, 64, np.array([1024, 4096]), np.array([1024, 4096]))
    >>> r = design_attention(load_design("flat"), w)
    >>> (r.latency_s / design_attention(load_design("fusemax"), w).latency_s).round(2).tolist()
    [6.65, 7.21]
    """
    arch = arch or design.load_architecture()
    cascade = cascade or design.load_cascade()
    binding = design.binding_for(cascade, arch)
    rows, cols = arch.array_2d.shape
    extra = tensor_sizes(cascade, tensors, extra_sizes)
    bound = workload_sizes(cascade, workload, rows, extra)
    densities = filter_densities(cascade, workload, tiles=(cols, rows), extra=extra,
                                 tensors=tensors, given=densities)
    return evaluate(cascade, binding, arch, design.residency, bound.sizes, bound.instances,
                    densities)


def design_end_to_end(design: Design, workload: Workload, arch: Architecture | None = None,
                      cascade: Cascade | None = None,
                      densities: Mapping[str, Any] | None = None,
                      extra_sizes: Mapping[str, Any] | None = None,
                      tensors: Mapping[str, Any] | None = None) -> LayerResult:
    """Attention plus the six linear layers of one transformer layer, run in sequence."""
    if workload.d_model is None or workload.ffn_hidden is None:
        raise SpecError("end-to-end evaluation needs the model's d_model and ffn_hidden")
    arch = arch or design.load_architecture()
    attention = design_attention(design, workload, arch, cascade, densities, extra_sizes,
                                 tensors)
    layers = linear_layers(workload.d_model, workload.heads, workload.head_dim,
                           workload.ffn_hidden, np.multiply(workload.batch, workload.seq_q))
    linear = linear_stack(arch, layers, design.hide_fill_drain)
    latency = attention.latency_s + linear.latency_s
    busy = dict(attention.busy_s)
    key = f"array_{arch.array_2d.name}"
    busy[key] = busy.get(key, 0.0) + linear.busy_s
    energy = EnergyTally.total_of([attention.energy, linear.energy])
    return LayerResult(attention, linear, latency, energy.total,
                       attention.dram_bytes + linear.dram_bytes,
                       {name: value / latency for name, value in busy.items()}, energy)
