"""The cascade language: parse extended-Einsum cascades, build their graph, analyse them.

Typical use::

    >>> import einsum
    >>> c = einsum.load("attention-3pass")
    >>> einsum.pass_analysis(c).passes
    3
    >>> str(einsum.live_footprint(c).expr)
    'max(E + M + 1, F + 1)'
    >>> einsum.op_counts(c).evaluate({"E": 64, "F": 64, "M": 1024, "P": 1024})["mac"]
    134217728.0
"""

import importlib
import sys
import types
from typing import Any

from einsum._version import __version__

#: Public name -> the module defining it, imported on first use (PEP 562): the CLI and
#: ``import einsum`` stay light until an analysis needs numpy or networkx.
_LAZY = {
    "CheckResult": "einsum.check",
    "check_cascade": "einsum.check",
    "random_inputs": "einsum.check",
    "EinsumError": "einsum.errors",
    "ParseError": "einsum.errors",
    "ShapeError": "einsum.errors",
    "evaluate": "einsum.executor",
    "Footprint": "einsum.footprint",
    "footprint_value": "einsum.footprint",
    "live_footprint": "einsum.footprint",
    "load": "einsum.frontend",
    "parse": "einsum.frontend",
    "cascade_graph": "einsum.graph",
    "library_names": "einsum.library",
    "LintWarning": "einsum.lint",
    "lint": "einsum.lint",
    "MASKS": "einsum.masking",
    "with_mask": "einsum.masking",
    "Cascade": "einsum.model",
    "Einsum": "einsum.model",
    "Density": "einsum.opcount",
    "EinsumOps": "einsum.opcount",
    "OpCounts": "einsum.opcount",
    "filter_density": "einsum.opcount",
    "op_counts": "einsum.opcount",
    "Barrier": "einsum.passes",
    "PassReport": "einsum.passes",
    "pass_analysis": "einsum.passes",
    "REFERENCES": "einsum.reference",
    "get_reference": "einsum.reference",
    "RankRoles": "einsum.roles",
    "rank_roles": "einsum.roles",
    "parse_size_assignments": "einsum.sizes",
    "resolve_sizes": "einsum.sizes",
    "Poly": "einsum.symbolic",
    "SymMax": "einsum.symbolic",
    "ParallelReport": "einsum.parallel",
    "Split": "einsum.parallel",
    "parallel_analysis": "einsum.parallel",
}


__all__ = [
    "__version__", "EinsumError", "ParseError", "ShapeError", "Cascade", "Einsum",
    "parse", "load", "library_names", "cascade_graph",
    "pass_analysis", "PassReport", "Barrier",
    "op_counts", "OpCounts", "EinsumOps", "Density", "filter_density",
    "live_footprint", "Footprint", "footprint_value",
    "evaluate", "check_cascade", "CheckResult", "random_inputs", "REFERENCES", "get_reference",
    "resolve_sizes", "parse_size_assignments", "Poly", "SymMax", "RankRoles", "rank_roles",
    "lint", "LintWarning", "MASKS", "with_mask", "parallel_analysis", "ParallelReport", "Split",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'einsum' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """The package module, refusing to let a submodule hide a public function of its name."""

    def __setattr__(self, name: str, value: Any) -> None:
        # importing einsum.lint sets einsum.lint = <module>; the function must stay visible
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
