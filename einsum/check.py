"""Check a cascade against its direct definition on random inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from einsum.errors import EinsumError, ShapeError
from einsum.executor import check_memory, evaluate
from einsum.model import Cascade
from einsum.reference import REFERENCES, Named, Reference, get_reference
from einsum.sizes import check_partition_sizes, check_size_names, parse_size_assignments, resolve_sizes

__all__ = ["CheckResult", "check_cascade", "random_inputs"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of :func:`check_cascade`."""

    cascade: str
    reference: str
    output: str
    sizes: tuple[tuple[str, int], ...]
    seed: int
    max_abs_error: float
    max_abs_value: float

    def __str__(self) -> str:
        shape = " ".join(f"{k}={v}" for k, v in self.sizes)
        return (f"{self.cascade}: output {self.output} vs reference '{self.reference}' "
                f"({shape}, seed {self.seed}): max abs error {self.max_abs_error:.3e} "
                f"(max |value| {self.max_abs_value:.3g})")


def random_inputs(cascade: Cascade, sizes: Mapping[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal float64 inputs of the right shapes (reference-specific ones for masks).

    Examples
    --------
    >>> from einsum import load
    >>> {k: v.shape for k, v in random_inputs(load("attention-3pass"),
    ...                                       {"E": 2, "F": 3, "M": 4, "P": 5}).items()}
    {'Q': (2, 5), 'K': (2, 4), 'V': (3, 4)}
    """
    rng = np.random.default_rng(seed)
    name = cascade.meta("reference")
    reference = get_reference(name) if name else None
    generators = reference.generators if reference else {}
    out = {}
    for tensor in cascade.inputs:
        if tensor in generators:
            out[tensor] = generators[tensor](rng, sizes)
            continue
        ranks = cascade.ranks_of(tensor)
        missing = [r for r in ranks if r not in sizes]
        if missing:
            raise ShapeError(f"size of rank {missing[0]} (input {tensor}) is unknown; give it, "
                             f"e.g. --size {missing[0]}=16")
        out[tensor] = rng.standard_normal(tuple(int(sizes[r]) for r in ranks))
    if reference and reference.derive:
        return _derived(cascade, reference, out, sizes)
    return out


def _derived(cascade: Cascade, reference: Reference, arrays: dict[str, np.ndarray],
             sizes: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Inputs with the ones the reference derives from the others replaced (saved state)."""
    named = {t: Named(a, cascade.ranks_of(t)) for t, a in arrays.items()}
    for tensor, value in reference.derive(named, sizes).items():
        if tensor in arrays:
            arrays[tensor] = value.aligned(cascade.ranks_of(tensor))
    return arrays


def _how_to_reference() -> str:
    """What to write so a cascade has a direct definition (one line, names the known ones)."""
    return (f"write the header line '# reference: NAME' with NAME one of {', '.join(sorted(REFERENCES))}; "
            f"for a new variant, write its direct numpy definition and register it with "
            f"einsum.reference.register_reference(Reference(NAME, description, compute)), for a "
            f"built-in in _register_all() of einsum/reference.py")


def check_cascade(cascade: Cascade, sizes: Mapping[str, int] | None = None,
                  seed: int = 0) -> CheckResult:
    """Run the executor and the direct definition on the same random inputs.

    The reference is named by the cascade's ``# reference:`` header; default sizes
    come from its ``# sizes:`` header and ``sizes`` overrides them.

    Raises
    ------
    ShapeError
        If the cascade names no reference or an unknown one (the message lists the known
        references and how to add one), or sizes are missing or inconsistent.

    Examples
    --------
    >>> from einsum import load
    >>> check_cascade(load("attention-1pass"), {"M": 40}).max_abs_error < 1e-12
    True
    """
    name = cascade.meta("reference")
    if not name:
        raise ShapeError(f"cascade {cascade.name} names no direct definition to check against; "
                         + _how_to_reference())
    if name not in REFERENCES:
        raise ShapeError(f"cascade {cascade.name}: its '# reference: {name}' header names no known "
                         f"reference; " + _how_to_reference())
    reference = get_reference(name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EinsumError(f"seed {seed!r}: expected a non-negative integer")
    check_size_names(cascade, sizes or {})
    given = parse_size_assignments(cascade.meta("sizes"))
    given.update(sizes or {})
    check_partition_sizes(cascade, given)
    resolved = resolve_sizes(cascade, given)
    check_memory(cascade, resolved)
    inputs = random_inputs(cascade, resolved, seed)
    outputs = evaluate(cascade, inputs, resolved)
    output = cascade.outputs[-1]
    named = {t: Named(a, cascade.ranks_of(t)) for t, a in inputs.items()}
    try:
        expected = reference.compute(named, resolved).aligned(cascade.ranks_of(output))
    except KeyError as err:  # the direct definition reads an input or size the cascade lacks
        raise ShapeError(f"{cascade.source}: reference '{name}' needs {err.args[0]!r}, which cascade "
                         f"{cascade.name} does not have (inputs: {', '.join(cascade.inputs)}); "
                         f"expected the inputs of a '{name}' cascade") from None
    error = float(np.max(np.abs(outputs[output] - expected))) if expected.size else 0.0
    shown = tuple((k, int(v)) for k, v in sorted(resolved.items()))
    return CheckResult(cascade.name, name, output, shown, seed, error,
                       float(np.max(np.abs(expected))) if expected.size else 0.0)
