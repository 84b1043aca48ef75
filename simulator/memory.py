"""Process-wide memory settings for large numpy workloads.

Examples
--------
>>> no_huge_page_stalls()  # the einsim command does this for itself
"""

from __future__ import annotations

import os
import sys

__all__ = ["no_huge_page_stalls"]


def no_huge_page_stalls() -> None:
    """Stop numpy asking for transparent huge pages in this process (unless the user chose).

    numpy advises the kernel to back arrays of 4 MB and more with huge pages. Where the
    kernel then compacts memory on demand (``/sys/kernel/mm/transparent_hugepage/defrag``
    set to ``madvise``), the first touch of a large fresh array can stall: assembling a
    10⁶-point sweep's table took 0.3 s longer in a fresh process on the development
    machine, and none once this was off. An explicit ``NUMPY_MADVISE_HUGEPAGE`` setting
    wins. The ``einsim`` command calls this at start; scripts may too.
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return
    np = sys.modules.get("numpy")
    if np is None:  # numpy reads this when it is imported: the CLI need not import it now
        os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
        return
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if setter is not None:
        setter(False)
