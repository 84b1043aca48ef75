"""The cascade language: parse extended-Einsum cascades, build their graph, analyse them.

Typical use::

    >>> import einsum
    >>> c = einsum.load("attention-3pass")
    >>> einsum.pass_analysis(c).passes
    3
"""

from einsum._version import __version__
from einsum.errors import EinsumError, ParseError, ShapeError
from einsum.frontend import load, parse
from einsum.graph import cascade_graph
from einsum.library import library_names
from einsum.model import Cascade, Einsum
from einsum.passes import Barrier, PassReport, pass_analysis

__all__ = [
    "__version__", "EinsumError", "ParseError", "ShapeError", "Cascade", "Einsum",
    "parse", "load", "library_names", "cascade_graph", "pass_analysis", "PassReport", "Barrier",
]
