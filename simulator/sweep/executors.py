"""Executors: run a chunk function over many chunks, in-process, in processes, or on dask.

All executors share one interface: used as a context manager, ``run(fn, job, chunks)``
yields a :class:`ChunkResult` per chunk as it finishes (in any order; the engine puts
results back in grid order). ``fn(job, chunk)`` must be a module-level function and
``job`` picklable, so that worker processes can receive them. At most a few chunks per
worker are in flight, which bounds memory whatever the grid size.

Worker processes are started with ``forkserver`` (or ``spawn``), which re-imports the
main module: a script using the ``processes`` executor needs the usual
``if __name__ == "__main__":`` guard.

Examples
--------
>>> def square(job, chunk):
...     return chunk * chunk
>>> with make_executor("inprocess") as executor:
...     [r.output for r in executor.run(square, None, [1, 2, 3])]
[1, 4, 9]
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import multiprocessing
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from simulator.errors import SimulatorError

__all__ = [
    "AUTO_PROCESS_POINTS",
    "EXECUTORS",
    "ChunkResult",
    "DaskExecutor",
    "InProcessExecutor",
    "ProcessExecutor",
    "make_executor",
    "resolve_executor",
]

#: Executor names accepted by :func:`make_executor` (and ``einsim sweep --executor``).
EXECUTORS = ("auto", "inprocess", "processes", "dask")
#: ``auto`` takes a process pool from this many grid points on a machine with two or more
#: CPUs: forking the workers costs a few tenths of a second, which the chunks and the
#: figures drawn in parallel repay from about here (the default sweep, 1,944 points, runs
#: in 5.6 s instead of 6.7 s on the 2-core VM). Tables are identical either way.
AUTO_PROCESS_POINTS = 1000


def resolve_executor(name: str, points: int) -> str:
    """The executor ``name`` stands for on a grid of ``points`` (``auto`` picks one).

    >>> resolve_executor("inprocess", 10**6), resolve_executor("auto", 10)
    ('inprocess', 'inprocess')
    """
    if name != "auto":
        return name
    many_cpus = (os.cpu_count() or 1) >= 2
    return "processes" if many_cpus and points >= AUTO_PROCESS_POINTS else "inprocess"

ChunkFn = Callable[[Any, Any], Any]
# Modules the forkserver imports before forking workers.
_PRELOAD = ("simulator.sweep.engine",)


class ChunkResult(NamedTuple):
    """What ``fn(job, chunk)`` returned for ``chunk``."""

    chunk: Any
    output: Any


class InProcessExecutor:
    """Run chunks one after the other in this process (the default; easiest to debug)."""

    #: Whether chunks run beside this process (so that it can do other work meanwhile).
    parallel = False

    def __enter__(self) -> InProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, fn: ChunkFn, job: Any, chunks: Iterable[Any]) -> Iterator[ChunkResult]:
        """Yield ``fn(job, chunk)`` for each chunk, in order."""
        for chunk in chunks:
            yield ChunkResult(chunk, fn(job, chunk))


class ProcessExecutor:
    """Run chunks in a :class:`concurrent.futures.ProcessPoolExecutor`.

    A parent running a single Python thread (a script, the CLI) forks its workers: they
    start at once and inherit everything already loaded (GPU specs, parsed cascades). A
    threaded parent (a notebook, say) could deadlock forked children, so there the
    workers come from a ``forkserver`` (else ``spawn``), which re-imports the main module.
    """

    parallel = True

    def __init__(self, workers: int | None = None, preload: tuple[str, ...] = _PRELOAD):
        self.workers = workers or os.cpu_count() or 1
        methods = multiprocessing.get_all_start_methods()
        if "fork" in methods and threading.active_count() == 1:
            context = multiprocessing.get_context("fork")
        elif "forkserver" in methods:
            context = multiprocessing.get_context("forkserver")
            # The server imports numpy/pandas once; each worker is then a cheap fork of it.
            context.set_forkserver_preload(list(preload))
        else:
            context = multiprocessing.get_context("spawn")
        self._pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        if context.get_start_method() == "fork":
            # Fork every worker now, while this is the only Python thread (the pool's own
            # manager thread starts right after). Python 3.12+ warns about forking next to
            # native threads such as OpenBLAS's, which are fork-safe.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
                self._pool.submit(int).result()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def run(self, fn: ChunkFn, job: Any, chunks: Iterable[Any]) -> Iterator[ChunkResult]:
        """Yield results as they complete, keeping ``2 × workers`` chunks in flight."""
        return _windowed(lambda chunk: self._pool.submit(fn, job, chunk), chunks, 2 * self.workers)

    def warm(self, module: str) -> None:
        """Queue an import of ``module`` for every worker, behind the tasks already queued.

        A worker that runs out of chunks imports what the next tasks need (matplotlib
        for the figures, half a second) while the others finish theirs. Nothing waits
        for these tasks; a failed import fails again, loudly, in the task that needs it.
        """
        for _ in range(self.workers):
            self._pool.submit(importlib.import_module, module)


class DaskExecutor:
    """Run chunks on a dask.distributed cluster (``scheduler`` address) or a local one.

    Raises
    ------
    SimulatorError
        If dask.distributed is not installed.
    """

    parallel = True

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise SimulatorError("the dask executor needs `pip install einsim[dask]`") from None
        self._cluster = None
        if scheduler:
            self._client = Client(scheduler)
        else:
            self._cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self._client = Client(self._cluster)
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})) or 1)

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def run(self, fn: ChunkFn, job: Any, chunks: Iterable[Any]) -> Iterator[ChunkResult]:
        """Yield results as they complete, keeping ``2 × workers`` chunks in flight."""
        job_future = self._client.scatter(job, broadcast=True)

        def submit(chunk: Any) -> Any:
            return self._client.submit(fn, job_future, chunk, pure=False)

        return _windowed(submit, chunks, 2 * self.workers, dask=True)


def make_executor(
    name: str = "inprocess", *, workers: int | None = None, scheduler: str | None = None
) -> InProcessExecutor | ProcessExecutor | DaskExecutor:
    """Create an executor by name.

    Parameters
    ----------
    name : {'auto', 'inprocess', 'processes', 'dask'}
        ``auto`` here is ``inprocess``; :func:`resolve_executor` picks with the grid size.
    workers : int, optional
        Worker processes (default: the CPU count) for ``processes`` and a local dask
        cluster.
    scheduler : str, optional
        Address of a running dask scheduler; without it ``dask`` starts a local cluster.

    Returns
    -------
    InProcessExecutor, ProcessExecutor or DaskExecutor

    Raises
    ------
    SimulatorError
        For an unknown name, ``workers < 1``, or dask not installed.

    Examples
    --------
    >>> make_executor("threads")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simulator.errors.SimulatorError: --executor: expected one of auto, inprocess, processes, dask, got ...
    """
    if name not in EXECUTORS:
        raise SimulatorError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {name!r}")
    if workers is not None and workers < 1:
        raise SimulatorError(f"--workers: expected a positive integer, got {workers}")
    if name == "processes":
        return ProcessExecutor(workers)
    if name == "dask":
        return DaskExecutor(scheduler, workers)
    return InProcessExecutor()


def _windowed(
    submit: Callable[[Any], Any], chunks: Iterable[Any], window: int, *, dask: bool = False
) -> Iterator[ChunkResult]:
    """Submit chunks keeping at most ``window`` pending; yield results as they finish."""
    pending: dict[Any, Any] = {}
    todo = iter(chunks)
    try:
        for chunk in todo:
            pending[submit(chunk)] = chunk
            if len(pending) >= window:
                break
        while pending:
            for future in _first_completed(pending, dask):
                chunk = pending.pop(future)
                output = future.result()
                following = next(todo, None)
                if following is not None:
                    pending[submit(following)] = following
                yield ChunkResult(chunk, output)
    finally:
        for future in pending:
            future.cancel()


def _first_completed(pending: dict[Any, Any], dask: bool) -> list[Any]:
    """The pending futures that are done, waiting for at least one."""
    if dask:
        from dask.distributed import wait as dask_wait

        done = dask_wait(list(pending), return_when="FIRST_COMPLETED").done
    else:
        done = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED).done
    return sorted(done, key=lambda future: _order(pending[future]))


def _order(chunk: Any) -> Any:
    """Sort key for chunks finishing together (their index when they have one)."""
    return getattr(chunk, "index", 0)
