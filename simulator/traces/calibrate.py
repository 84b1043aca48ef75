"""Refit a kernel profile's numbers to measured launches, and report held-out error.

The attention groups of the traces that the profile prices (their family maps to it,
:func:`simulator.traces.families.profile_for`) are split at random (``seed``) into
training and held-out groups — by group, so a held-out problem was never seen in any of
its launches. The fit minimises the sum over training *launches* of
``(log predicted - log measured)^2``. Keys that share one number in the YAML (a YAML
anchor: same value, same source) are fitted as one. The search is a coarse grid then a
golden-section refinement per key, repeated over the keys (robust to the model's
kinks: max() of resources, wave quantisation); ranges are in
``simulator/data/calibration_bounds.yaml``.

The written profile is the base YAML with every refitted number's ``value`` and a
``source: "fit: N launches of <traces>, ..."``, named after the output file, with
``based_on:`` the base profile (so ``--kernel auto`` still maps families to it).
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simulator.errors import SimulatorError, SpecError
from simulator.traces.families import profile_for
from simulator.traces.groups import LaunchGroup, group_launches
from simulator.traces.record import Trace
from simulator.traces.validate import (
    DEFAULT_CASCADE,
    Comparison,
    _architecture,
    _skip_reason,
    mape,
    price_group,
    resolve_hw,
)

__all__ = ["Calibration", "calibrate", "default_keys", "fit_numbers", "write_profile"]

_GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class _Case:
    """One group to fit: where it runs and its launches' log durations."""

    group: LaunchGroup
    hw: str
    log_durations: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class Calibration:
    """The outcome of one calibration (the ``calibrate --json`` document)."""

    profile: str
    fitted: dict[str, float]
    before: dict[str, float]
    train: tuple[_Case, ...]
    holdout: tuple[_Case, ...]
    errors: dict[str, float]
    traces: tuple[str, ...]
    out: str = ""
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract of ``einsim calibrate --json``."""
        return {"profile": self.profile, "fitted": self.fitted, "before": self.before,
                "train_launches": sum(int(c.weights.sum()) for c in self.train),
                "holdout_launches": sum(int(c.weights.sum()) for c in self.holdout),
                "train_groups": len(self.train), "holdout_groups": len(self.holdout),
                **self.errors, "traces": list(self.traces), "out": self.out, "notes": list(self.notes)}


def default_keys(profile: Any) -> list[str]:
    """The keys whose ``source`` says ``fit:`` (what the profile's authors fitted).

    Examples
    --------
    >>> from simulator.gpu import load_profile
    >>> default_keys(load_profile("flash2"))
    ['efficiency.tensor', 'overheads.masked_element_cost', 'mma_path.hopper']
    """
    return [key for key, source in profile.sources.items()
            if str(source).startswith("fit:") and _value(profile, key) is not None]


def _value(profile: Any, key: str) -> float | None:
    """A profile number by key path (None when the profile has none)."""
    section, _, leaf = key.partition(".")
    if key == "overlap.streams":
        return profile.streams
    if section == "efficiency":
        return profile.efficiency.get(leaf)
    if section == "mma_path":
        return profile.mma_path.get(leaf)
    return profile.numbers.get(key)


@functools.cache
def _bounds_table() -> dict[str, Any]:
    """``calibration_bounds.yaml``, read once."""
    return yaml.safe_load((files("simulator") / "data" / "calibration_bounds.yaml").read_text("utf-8"))


def _bounds(key: str) -> tuple[float, float]:
    """The search range of a key (calibration_bounds.yaml)."""
    doc = _bounds_table()
    if key in doc["keys"]:
        return tuple(doc["keys"][key])
    section = key.partition(".")[0]
    if section in doc["sections"]:
        return tuple(doc["sections"][section])
    raise SpecError(f"--fit {key}: no search range for this key; fittable: "
                    f"{', '.join(sorted(doc['keys']))}, efficiency.<resource>")


def _tied(profile: Any, keys: Sequence[str]) -> list[tuple[str, ...]]:
    """Keys grouped by shared (value, source): one YAML anchor is one number."""
    groups: dict[tuple, list[str]] = {}
    for key in keys:
        if _value(profile, key) is None:
            raise SpecError(f"--fit {key}: profile '{profile.name}' has no such number")
        groups.setdefault((_value(profile, key), profile.sources.get(key, key)), []).append(key)
    return [tuple(g) for g in groups.values()]


def _search(loss: Callable[[float], float], lo: float, hi: float, current: float) -> float:
    """Minimise a 1-D loss: a 13-point grid, then golden section around its best point."""
    grid = list(np.linspace(lo, hi, 13)) + [current]
    values = [loss(x) for x in grid]
    best = int(np.argmin(values))
    step = (hi - lo) / 12
    a, b = max(lo, grid[best] - step), min(hi, grid[best] + step)
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(24):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = loss(d)
    candidates = [(values[best], grid[best]), (fc, c), (fd, d)]
    return float(min(candidates)[1])


def fit_numbers(loss: Callable[[dict[str, float]], float], start: dict[tuple[str, ...], float],
                sweeps: int = 3) -> dict[tuple[str, ...], float]:
    """Coordinate search over tied key groups within their bounds.

    Examples
    --------
    >>> fit = fit_numbers(lambda v: (v["efficiency.tensor"] - 0.42) ** 2, {("efficiency.tensor",): 0.9})
    >>> round(fit[("efficiency.tensor",)], 3)
    0.42
    """
    values = dict(start)

    def changes(current: dict) -> dict[str, float]:
        return {key: v for keys, v in current.items() for key in keys}

    for _ in range(sweeps):
        for keys in values:
            lo, hi = _bounds(keys[0])
            values[keys] = _search(lambda x, keys=keys: loss(changes({**values, keys: x})), lo, hi,
                                   min(max(values[keys], lo), hi))
    return values


def _cases(traces: Sequence[Trace], hw: str, profile: Any, base_name: str) -> tuple[list[_Case], list[str]]:
    """The comparable groups the profile prices, over all traces."""
    cases, notes, others = [], [], []
    for trace in traces:
        name, _ = resolve_hw(hw, trace)
        vendor = trace.gpu.vendor or "nvidia"
        architecture = _architecture(name)
        for group in group_launches(trace.launches, trace.name):
            if _skip_reason(group, base_name) is not None:
                continue
            case = _Case(group, name, np.log(np.asarray(group.durations)), np.asarray(group.weights))
            (cases if profile_for(group.family, vendor, architecture) == base_name else others).append(case)
    if not cases and others:
        notes.append(f"no family maps to profile '{base_name}': fitting all {len(others)} attention groups")
        cases = others
    if not cases:
        raise SimulatorError("calibrate: no attention launch with a shape in the traces (see `einsim "
                             "traces`; give a --manifest)")
    return cases, notes


def _split(cases: list[_Case], holdout: float, seed: int) -> tuple[list[_Case], list[_Case], list[str]]:
    """Random split by group; at least one training group."""
    if not 0 <= holdout < 1:
        raise SpecError(f"--holdout: expected a fraction in [0, 1); got {holdout}")
    order = list(range(len(cases)))
    random.Random(seed).shuffle(order)
    count = min(round(holdout * len(cases)), len(cases) - 1)
    notes = []
    if holdout > 0 and count == 0:
        notes.append(f"only {len(cases)} group(s): nothing held out (validate another trace with the "
                     "written profile for held-out error)")
    held = sorted(order[:count])
    return [cases[i] for i in sorted(order[count:])], [cases[i] for i in held], notes


def _comparisons(cases: Sequence[_Case], profile: Any) -> list[Comparison]:
    out = []
    for case in cases:
        pred = price_group(case.group, case.hw, profile, DEFAULT_CASCADE)
        out.append(Comparison(case.group, case.hw, profile.name, case.group.median_s, float(pred.time_s),
                              str(pred.bound), float(pred.flops), float(pred.dram_bytes)))
    return out


def _log_loss(cases: Sequence[_Case], profile: Any) -> float:
    """Sum over launches of squared log error."""
    total = 0.0
    for case in cases:
        log_pred = math.log(float(price_group(case.group, case.hw, profile, DEFAULT_CASCADE).time_s))
        total += float(np.dot(case.weights, (log_pred - case.log_durations) ** 2))
    return total


def calibrate(traces: Sequence[Trace], profile: str, keys: Sequence[str] | None = None,
              holdout: float = 0.3, seed: int = 0, hw: str = "auto") -> Calibration:
    """Fit profile numbers to the traces' launches; errors before and after.

    Parameters
    ----------
    traces : sequence of Trace
    profile : str
        Base kernel profile (name or YAML path).
    keys : sequence of str, optional
        Numbers to refit (default :func:`default_keys`).
    holdout : float
        Fraction of groups held out of the fit.
    seed : int
        Seed of the split.
    hw : str
        Catalogue GPU or ``"auto"``.

    Returns
    -------
    Calibration
        ``fitted`` values, train/held-out MAPE before and after.
    """
    from simulator.gpu import load_profile

    base = load_profile(profile)
    base_name = getattr(base, "based_on", "") or base.name
    chosen = list(keys) if keys else default_keys(base)
    if not chosen:
        raise SpecError(f"profile '{base.name}': no number's source says 'fit:'; name keys with --fit")
    cases, notes = _cases(traces, hw, base, base_name)
    train, held, split_notes = _split(cases, holdout, seed)
    tied = _tied(base, chosen)
    start = {group: float(_value(base, group[0])) for group in tied}
    fitted = fit_numbers(lambda changes: _log_loss(train, base.with_values(changes)), start)
    after = base.with_values({key: v for group, v in fitted.items() for key in group})
    errors = {"train_mape_before": mape(_comparisons(train, base)),
              "train_mape_after": mape(_comparisons(train, after)),
              "holdout_mape_before": mape(_comparisons(held, base)) if held else None,
              "holdout_mape_after": mape(_comparisons(held, after)) if held else None}
    return Calibration(base.name, {key: _round(v) for group, v in fitted.items() for key in group},
                       {key: _round(v) for group, v in start.items() for key in group},
                       tuple(train), tuple(held), errors, tuple(t.name for t in traces),
                       notes=tuple(notes + split_notes))


def _round(value: float) -> float:
    """Four significant digits (the fit is not better than that)."""
    return float(f"{value:.4g}")


def write_profile(calibration: Calibration, base: str, out: str | os.PathLike[str],
                  seed: int, holdout: float) -> Path:
    """Write the calibrated profile YAML next to nothing else; atomic (no half-written file)."""
    from simulator.gpu import load_profile

    profile = load_profile(base)
    doc = json.loads(json.dumps(yaml.safe_load(Path(profile.path).read_text("utf-8"))))  # unshare anchors
    launches = sum(int(c.weights.sum()) for c in calibration.train)
    source = (f"fit: {launches} launches of {', '.join(calibration.traces)}; least squares on log time "
              f"over {len(calibration.train)} kernel shape(s) with einsim calibrate (holdout {holdout}, "
              f"seed {seed}, {len(calibration.holdout)} shape(s) held out)")
    for key, value in calibration.fitted.items():
        section, _, leaf = key.partition(".")
        doc[section][leaf] = {"value": value, "source": source}
    target = Path(out)
    doc["based_on"] = getattr(profile, "based_on", "") or profile.name
    doc["name"] = target.stem
    doc["title"] = f"{doc.get('title', profile.name)} - calibrated to {', '.join(calibration.traces)}"
    text = f"# Calibrated by einsim calibrate from profile '{profile.name}'.\n" + yaml.safe_dump(
        doc, sort_keys=False, width=110)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, target)
    load_profile(str(target))   # what we wrote must load
    return target
