"""Exceptions raised by the cost models, specs and sweeps."""

from __future__ import annotations

__all__ = ["SimulatorError", "SpecError", "TraceError"]


class SimulatorError(Exception):
    """Base class of every error the ``simulator`` package raises on bad input.

    The message is a single line naming the offending file/key/value and what was
    expected; the CLI prints it verbatim and exits with code 2.
    """


class SpecError(SimulatorError):
    """A YAML spec (hardware, kernel profile, binding, sweep) is malformed.

    Examples
    --------
    >>> str(SpecError("h100.yaml: key 'sm_count': expected a positive integer, got -1"))
    "h100.yaml: key 'sm_count': expected a positive integer, got -1"
    """


class TraceError(SimulatorError):
    """A trace or workload manifest cannot be read (format, header, missing table).

    Examples
    --------
    >>> str(TraceError("run.csv: no Nsight Compute or Nsight Systems header found"))
    'run.csv: no Nsight Compute or Nsight Systems header found'
    """
