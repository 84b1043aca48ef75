"""Cost models, sparsity counting, sweeps and the CLI of einsim.

The library code here never imports typer; :mod:`simulator.cli` is a thin adapter.
"""

from einsum._version import __version__

__all__ = ["__version__"]
