"""The evaluator registry: name → vectorised cost model used by sweeps.

An evaluator is a function ``evaluate(chunk: pd.DataFrame) -> pd.DataFrame`` that returns
the chunk (same rows, same order) with metric columns added; it must be vectorised over
the rows. A boolean ``feasible`` column it returns marks rows its model cannot run (the
engine ANDs it with the spec's constraints; infeasible rows stay in the table, out of the
Pareto fronts). A registry entry may also carry ``defaults`` (columns the evaluator reads, added
as constants when a spec does not sweep them) and ``plot_hooks`` (callables
``(df, out_dir) -> list[Path]`` that draw extra PNGs; they replace the generic roofline
scatter).

Modules that register evaluators are imported lazily on the first lookup: add the module
name to ``_PROVIDERS`` (e.g. the GPU and spatial cost models' sweep adapters). A spec may
also name an importable function directly as ``"package.module:function"``.

Examples
--------
>>> "synthetic" in list_evaluators()
True
>>> entry = get_evaluator("synthetic")
>>> entry.defaults["units"]
1
>>> get_evaluator("no-such-model")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
simulator.errors.SpecError: evaluator 'no-such-model' is not registered; known: ...
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from simulator.errors import SpecError

__all__ = [
    "EvaluateFn",
    "EvaluatorEntry",
    "PlotHook",
    "get_evaluator",
    "list_evaluators",
    "register_evaluator",
]

#: ``evaluate(chunk) -> chunk with metric columns added`` (vectorised, same rows).
EvaluateFn = Callable[[pd.DataFrame], pd.DataFrame]
#: ``hook(points, out_dir) -> written PNG paths``.
PlotHook = Callable[[pd.DataFrame, Path], list[Path]]

# Modules imported on the first lookup; each registers its evaluators at import time.
_PROVIDERS: tuple[str, ...] = ("simulator.sweep.synthetic", "simulator.spatial.sweep",
                                "simulator.design_space", "simulator.layer.sweep")

_REGISTRY: dict[str, EvaluatorEntry] = {}
_LOADED: dict[str, str] = {}  # provider module -> "" on success, else the import error


@dataclass(frozen=True)
class EvaluatorEntry:
    """A registered evaluator: its name, function, default columns and plot hooks."""

    name: str
    evaluate: EvaluateFn
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    plot_hooks: tuple[PlotHook, ...] = ()

    @property
    def description(self) -> str:
        """The first line of the evaluator's docstring (empty if it has none)."""
        doc = (getattr(self.evaluate, "__doc__", None) or "").strip()
        return doc.splitlines()[0] if doc else ""


def register_evaluator(
    name: str,
    evaluate: EvaluateFn,
    *,
    defaults: Mapping[str, Any] | None = None,
    plot_hooks: Iterable[PlotHook] = (),
    replace: bool = False,
) -> EvaluatorEntry:
    """Add an evaluator to the registry.

    Parameters
    ----------
    name : str
        The name specs use in their ``evaluator`` key.
    evaluate : callable
        ``evaluate(chunk) -> chunk`` with metric columns added, same rows in the same
        order; a module-level function, so that worker processes can import it.
    defaults : mapping, optional
        Columns added as constants to every chunk when the spec has no such axis.
    plot_hooks : iterable of callable, optional
        ``hook(points, out_dir) -> list[Path]``, run after a sweep to draw extra plots.
    replace : bool, optional
        Allow replacing an entry registered under the same name with another function.

    Returns
    -------
    EvaluatorEntry

    Raises
    ------
    ValueError
        For an empty or taken name (unless ``replace``), or something not callable.

    Examples
    --------
    >>> double = lambda chunk: chunk.assign(y=2 * chunk["x"])  # inprocess executor only
    >>> register_evaluator("doctest-double", double, defaults={"x": 1.0}).name
    'doctest-double'
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"evaluator name must be a non-empty string, got {name!r}")
    hooks = tuple(plot_hooks)
    if not callable(evaluate) or not all(callable(hook) for hook in hooks):
        raise ValueError(f"evaluator {name!r}: evaluate and plot hooks must be callable")
    previous = _REGISTRY.get(name)
    if previous is not None and previous.evaluate is not evaluate and not replace:
        raise ValueError(f"evaluator {name!r} is already registered to another function")
    entry = EvaluatorEntry(name, evaluate, MappingProxyType(dict(defaults or {})), hooks)
    _REGISTRY[name] = entry
    return entry


def get_evaluator(name: str) -> EvaluatorEntry:
    """Look an evaluator up by registry name or ``"package.module:function"``.

    Parameters
    ----------
    name : str

    Returns
    -------
    EvaluatorEntry

    Raises
    ------
    SpecError
        If no evaluator has that name (the message lists the known ones).

    Examples
    --------
    >>> get_evaluator("simulator.sweep.synthetic:evaluate_synthetic").name
    'synthetic'
    """
    _load_providers()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        function = _import_function(name)
        # A registered function keeps its defaults and plot hooks when named by path.
        known = [entry for entry in _REGISTRY.values() if entry.evaluate is function]
        return known[0] if known else EvaluatorEntry(name, function)
    known = ", ".join(list_evaluators()) or "none"
    failed = "; ".join(f"{mod} failed to import: {err}" for mod, err in _LOADED.items() if err)
    raise SpecError(
        f"evaluator {name!r} is not registered; known: {known}" + (f" ({failed})" if failed else "")
    )


def list_evaluators() -> list[str]:
    """Sorted names of the registered evaluators.

    Examples
    --------
    >>> list_evaluators()[:0]
    []
    """
    _load_providers()
    return sorted(_REGISTRY)


def _load_providers() -> None:
    """Import the provider modules once; a broken provider must not hide the others."""
    for module in _PROVIDERS:
        if module in _LOADED:
            continue
        try:
            importlib.import_module(module)
            _LOADED[module] = ""
        except ImportError as err:
            _LOADED[module] = " ".join(str(err).split())


def _import_function(reference: str) -> EvaluateFn:
    """Import ``package.module:function``, or raise a one-line :class:`SpecError`."""
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SpecError(f"evaluator {reference!r}: cannot import {module_name!r} ({err})") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise SpecError(f"evaluator {reference!r}: {module_name} has no function {attribute!r}")
    try:  # checked here: a wrong signature would fail later, deep inside a chunk
        inspect.signature(function).bind(object())
    except TypeError:
        raise SpecError(f"evaluator {reference!r}: expected a function evaluate(chunk) taking one "
                        f"DataFrame, got {attribute}{inspect.signature(function)}") from None
    except ValueError:
        pass  # a builtin without a signature: the engine checks what it returns
    return function
