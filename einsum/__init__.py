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

from einsum import gradients  # noqa: F401  (registers the backward-pass references)
from einsum._version import __version__
from einsum.check import CheckResult, check_cascade, random_inputs
from einsum.errors import EinsumError, ParseError, ShapeError
from einsum.executor import evaluate
from einsum.footprint import Footprint, footprint_value, live_footprint
from einsum.frontend import load, parse
from einsum.graph import cascade_graph
from einsum.library import library_names
from einsum.lint import LintWarning, lint
from einsum.masking import MASKS, with_mask
from einsum.model import Cascade, Einsum
from einsum.opcount import Density, EinsumOps, OpCounts, filter_density, op_counts
from einsum.parallel import ParallelReport, Split, parallel_analysis
from einsum.passes import Barrier, PassReport, pass_analysis
from einsum.reference import REFERENCES, get_reference
from einsum.roles import RankRoles, rank_roles
from einsum.sizes import parse_size_assignments, resolve_sizes
from einsum.symbolic import Poly, SymMax

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
