"""Sweep specs: the YAML schema, its validation and a stable hash.

A sweep spec is a YAML mapping::

    name: pe-array-size            # required: a non-empty string
    evaluator: synthetic           # required: a registry name, or "package.module:function"
    axes:                          # required: column -> list of values (a scalar = one value)
      hardware: [small, large]
      peak_flops: [1.0e+14, 4.0e+14]
      units: [1, 2, 4, 8]
      sparsity: [{kind: dense}, {kind: window, window: 2048}]   # values may be mappings/lists
    zip:                           # optional: axes that vary together (equal lengths)
      - [hardware, peak_flops]
    filters:                       # optional: pandas ``DataFrame.eval`` expressions over the
      - "units <= 8"               #   parameter columns; rows where one is False are dropped
    objectives:                    # required: metric columns to optimise
      - {column: latency, sense: min}
      - {column: energy, sense: min}
    pareto_by: [hardware]          # optional: columns defining the comparison groups
    constraints:                   # optional: expressions over parameters and metrics; rows
      - "area <= 400"              #   violating one get ``feasible = False`` (kept, not Pareto)
    chunk_size: 65536              # optional: grid points per chunk (default: equal chunks
                                   #   of at most 65536, two or more from 1000 points)
    show: [bound, tflops_per_s]    # optional: metric columns pareto.md shows (default: all)

The grid is the product of the axes (the last axis varies fastest); a ``zip`` group counts
as one factor, placed where its first member appears. Axis names must be Python
identifiers so that expressions can use them; ``point``, ``feasible`` and ``pareto`` are
reserved for the columns the engine adds. Every problem raises
:class:`~simulator.errors.SpecError` with one line naming the file and the key path.

Examples
--------
>>> spec = parse_spec({"name": "demo", "evaluator": "synthetic",
...                    "axes": {"units": [1, 2], "work": 1e12},
...                    "objectives": [{"column": "latency", "sense": "min"}]}, "demo.yaml")
>>> [axis.name for axis in spec.axes], spec.axes[1].values, spec.chunk_size
(['units', 'work'], (1000000000000.0,), None)
>>> parse_spec({"name": "demo"}, "demo.yaml")
Traceback (most recent call last):
...
simulator.errors.SpecError: demo.yaml: key 'evaluator': required key is missing
"""

from __future__ import annotations

import ast
import hashlib
import json
import keyword
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from einsum.textfile import read_text_file
from simulator.errors import SpecError
from simulator.pareto import Objective

__all__ = [
    "Axis",
    "DEFAULT_CHUNK_SIZE",
    "RESERVED_COLUMNS",
    "SweepSpec",
    "builtin_spec_names",
    "check_axis_types",
    "check_grid_size",
    "grid_points",
    "find_spec",
    "load_spec",
    "parse_spec",
    "spec_hash",
]

#: The most grid points in a chunk when the spec does not set ``chunk_size`` (see
#: :func:`simulator.sweep.engine.auto_chunk_size`).
DEFAULT_CHUNK_SIZE = 65_536
#: The largest grid run without ``max_points:`` in the spec or ``--max-points``.
DEFAULT_MAX_POINTS = 100_000_000
#: Columns the engine adds to every table; axes may not use these names.
RESERVED_COLUMNS = ("point", "feasible", "pareto")

_KEYS = (
    "name", "evaluator", "axes", "zip", "filters", "objectives", "pareto_by", "constraints",
    "chunk_size", "show", "max_points",
)  # fmt: skip
_SCALARS = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class Axis:
    """One swept parameter: a column name and its values (in grid order)."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec; see the module docstring for the YAML schema."""

    name: str
    evaluator: str
    axes: tuple[Axis, ...]
    objectives: tuple[Objective, ...]
    zip_groups: tuple[tuple[str, ...], ...] = ()
    filters: tuple[str, ...] = ()
    pareto_by: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    chunk_size: int | None = None  # None: automatic, from the grid size
    show: tuple[str, ...] = ()
    source: str = field(default="<spec>", compare=False)
    max_points: int = field(default=DEFAULT_MAX_POINTS, compare=False)  # a guard, not a result

    @property
    def axis_names(self) -> tuple[str, ...]:
        """The axis column names, in spec order."""
        return tuple(axis.name for axis in self.axes)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain YAML-able data (the inverse of :func:`parse_spec`)."""
        return {
            "name": self.name,
            "evaluator": self.evaluator,
            "axes": {axis.name: list(axis.values) for axis in self.axes},
            "zip": [list(group) for group in self.zip_groups],
            "filters": list(self.filters),
            "objectives": [{"column": o.column, "sense": o.sense} for o in self.objectives],
            "pareto_by": list(self.pareto_by),
            "constraints": list(self.constraints),
            "chunk_size": self.chunk_size,
            "show": list(self.show),
        }


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec file.

    Parameters
    ----------
    path : str or Path
        A YAML file.

    Returns
    -------
    SweepSpec

    Raises
    ------
    SpecError
        If the file cannot be read, is not YAML, or breaks the schema.

    Examples
    --------
    >>> spec = load_spec(find_spec("synthetic"))
    >>> spec.evaluator
    'synthetic'
    """
    path = Path(path)
    text = read_text_file(path, "sweep spec", SpecError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "malformed YAML"
        raise SpecError(f"{path}{where}: {problem}") from None
    return parse_spec(data, str(path))


def parse_spec(data: Any, source: str = "<spec>") -> SweepSpec:
    """Validate already-parsed YAML data and build a :class:`SweepSpec`.

    Parameters
    ----------
    data : Any
        The YAML document (a mapping).
    source : str, optional
        The file name used in error messages.

    Returns
    -------
    SweepSpec

    Raises
    ------
    SpecError
        With the first problem found, as ``"<source>: key '<path>': <what was expected>"``.

    Examples
    --------
    >>> parse_spec({"name": "x", "evaluator": "synthetic", "axes": {"a": [1]},
    ...             "objectives": [{"column": "latency", "sense": "fastest"}]}, "x.yaml")
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: x.yaml: key 'objectives[0].sense': expected 'min' or 'max', got 'fastest'
    """
    check = _Checker(source)
    check.mapping(data, "", required=("name", "evaluator", "axes", "objectives"))
    axes = _parse_axes(check, data["axes"])
    return SweepSpec(
        name=check.text(data["name"], "name"),
        evaluator=check.text(data["evaluator"], "evaluator"),
        axes=axes,
        objectives=_parse_objectives(check, data["objectives"]),
        zip_groups=_parse_zip(check, data.get("zip"), axes),
        filters=_parse_expressions(check, data.get("filters"), "filters"),
        pareto_by=tuple(check.names(data.get("pareto_by"), "pareto_by")),
        constraints=_parse_expressions(check, data.get("constraints"), "constraints"),
        chunk_size=(None if data.get("chunk_size") is None
                    else check.positive_int(data["chunk_size"], "chunk_size")),
        show=tuple(check.names(data.get("show"), "show")),
        source=source,
        max_points=check.positive_int(data.get("max_points", DEFAULT_MAX_POINTS), "max_points"),
    )


def spec_hash(spec: SweepSpec, extra: Mapping[str, Any] | None = None) -> str:
    """A SHA-256 of everything in a spec that changes results (not its file name).

    Parameters
    ----------
    spec : SweepSpec
    extra : mapping, optional
        More data to fold in (e.g. the evaluator's default columns).

    Returns
    -------
    str
        64 hexadecimal digits.

    Examples
    --------
    >>> a = parse_spec({"name": "x", "evaluator": "e", "axes": {"a": [1, 2]},
    ...                 "objectives": ["t"]}, "a.yaml")
    >>> b = parse_spec({"name": "x", "evaluator": "e", "axes": {"a": [1, 2]},
    ...                 "objectives": [{"column": "t", "sense": "min"}]}, "b.yaml")
    >>> spec_hash(a) == spec_hash(b), len(spec_hash(a))
    (True, 64)
    """
    document = {"spec": spec.to_dict(), "extra": dict(extra or {})}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def builtin_spec_names() -> list[str]:
    """Names of the sweep specs shipped in ``experiments/sweeps``.

    Examples
    --------
    >>> "synthetic" in builtin_spec_names()
    True
    """
    folder = resources.files("experiments") / "sweeps"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def find_spec(name_or_path: str | Path | None = None) -> Path:
    """Resolve a spec argument: an existing file, a built-in name, or the default spec.

    Parameters
    ----------
    name_or_path : str or Path, optional
        A path to a YAML file or the name of a built-in spec in ``experiments/sweeps``.
        When omitted: ``default``, or ``synthetic`` if no default is shipped.

    Returns
    -------
    Path

    Raises
    ------
    SpecError
        If nothing matches.

    Examples
    --------
    >>> find_spec("synthetic").name
    'synthetic.yaml'
    >>> find_spec("no-such-sweep")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: no-such-sweep: no such sweep spec file or built-in; built-ins: ...
    """
    folder = resources.files("experiments") / "sweeps"
    if name_or_path is None:
        default = folder / "default.yaml"
        return Path(str(default if default.is_file() else folder / "synthetic.yaml"))
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = folder / f"{name_or_path}.yaml"
    if builtin.is_file():
        return Path(str(builtin))
    names = ", ".join(builtin_spec_names())
    raise SpecError(f"{name_or_path}: no such sweep spec file or built-in; built-ins: {names}")


class _Checker:
    """Type checks that raise one-line :class:`SpecError` messages naming the key path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, message: str) -> SpecError:
        """Build the error for key ``path``."""
        where = f"key '{path}'" if path else "top level"
        return SpecError(f"{self.source}: {where}: {message}")

    def mapping(self, value: Any, path: str, required: tuple[str, ...] = ()) -> None:
        """Check a top-level mapping with known keys."""
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping, got {_describe(value)}")
        for key in value:
            if key not in _KEYS:
                raise self.fail(str(key), f"unknown key; expected one of {', '.join(_KEYS)}")
        for key in required:
            if key not in value:
                raise self.fail(key, "required key is missing")

    def text(self, value: Any, path: str) -> str:
        """A non-empty string."""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"expected a non-empty string, got {_describe(value)}")
        return value

    def positive_int(self, value: Any, path: str) -> int:
        """A positive integer (booleans are not integers here)."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(path, f"expected a positive integer, got {_describe(value)}")
        return value

    def items(self, value: Any, path: str) -> list[Any]:
        """A list (None means empty; a single string or mapping means a list of one)."""
        if value is None:
            return []
        if isinstance(value, (str, Mapping)):
            return [value]
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {_describe(value)}")
        return value

    def names(self, value: Any, path: str) -> list[str]:
        """A list of distinct column names."""
        names = [self.column(item, f"{path}[{i}]") for i, item in enumerate(self.items(value, path))]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise self.fail(f"{path}[{i}]", f"column {name!r} is listed twice")
        return names

    def column(self, value: Any, path: str) -> str:
        """A column name usable in expressions."""
        if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
            raise self.fail(path, f"expected a column name (a Python identifier), got {_describe(value)}")
        return value


def _describe(value: Any) -> str:
    """Short text for a wrong value: its repr, shortened, with its YAML type."""
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    kind = {dict: "mapping", list: "list", str: "string", type(None): "null"}.get(type(value))
    return f"{kind or type(value).__name__} {text}" if kind != "null" else "null"


def _parse_axes(check: _Checker, data: Any) -> tuple[Axis, ...]:
    """Validate the ``axes`` mapping."""
    if not isinstance(data, Mapping) or not data:
        raise check.fail("axes", f"expected a non-empty mapping of column: [values], got {_describe(data)}")
    axes = []
    for name, values in data.items():
        path = f"axes.{name}"
        check.column(name, path)
        if name in RESERVED_COLUMNS:
            raise check.fail(path, f"the column name {name!r} is reserved ({', '.join(RESERVED_COLUMNS)})")
        values = values if isinstance(values, list) else [values]
        if not values:
            raise check.fail(path, "expected at least one value, got an empty list")
        for i, value in enumerate(values):
            _check_value(check, value, f"{path}[{i}]")
        axes.append(Axis(name, tuple(values)))
    return tuple(axes)


def _check_value(check: _Checker, value: Any, path: str) -> None:
    """An axis value: a scalar, or a mapping/list nesting scalars."""
    if isinstance(value, _SCALARS):
        if isinstance(value, float) and value != value:
            raise check.fail(path, "expected a value, got NaN")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise check.fail(path, f"mapping keys must be strings, got {_describe(key)}")
            _check_value(check, item, f"{path}.{key}")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(check, item, f"{path}[{i}]")
        return
    raise check.fail(path, f"expected a number, string, bool, null, mapping or list, got {_describe(value)}")


#: Integers on an axis stay within int64 with room for the products evaluators form.
_MAX_AXIS_INT = 2**62


#: Rates behind the up-front estimate of a refused grid: README "Sweeps" benchmark
#: (benchmarks/bench_sweep.py: about 1e6 points/s in memory, 241 MB of points.csv per 1e6 points).
_POINTS_PER_S, _BYTES_PER_POINT = 1.0e6, 241.0


def grid_points(spec: SweepSpec) -> int:
    """Grid points before filters: the product of the axes, a zip group counting once.

    Examples
    --------
    >>> grid_points(parse_spec({"name": "x", "evaluator": "e", "axes": {"a": [1, 2], "b": [1, 2, 3]},
    ...                         "objectives": ["t"]}))
    6
    """
    zipped = {name for group in spec.zip_groups for name in group}
    length = {axis.name: len(axis.values) for axis in spec.axes}
    count = 1
    for name, size in length.items():
        count *= 1 if name in zipped else size
    for group in spec.zip_groups:
        count *= length[group[0]]
    return count


def check_grid_size(spec: SweepSpec, max_points: int | None = None) -> None:
    """Refuse, before planning, a grid beyond ``max_points`` (the spec's, default 10^8).

    The message gives the estimated time and disk the grid would take.

    Examples
    --------
    >>> spec = parse_spec({"name": "x", "evaluator": "e", "axes": {"a": list(range(1000)),
    ...                    "b": list(range(1000))}, "objectives": ["t"], "max_points": 1000})
    >>> check_grid_size(spec)
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: <spec>: 1000000 grid points exceed max_points 1000 ...
    """
    limit = spec.max_points if max_points is None else max_points
    count = grid_points(spec)
    if count > limit:
        raise SpecError(f"{spec.source}: {count} grid points exceed max_points {limit} (it would "
                        f"take about {count / _POINTS_PER_S:.3g} s and "
                        f"{count * _BYTES_PER_POINT / 1e9:.3g} GB of "
                        "points.csv); expected a smaller grid, or raise the limit with "
                        "'max_points:' in the spec or --max-points")


def check_axis_types(spec: SweepSpec, defaults: Mapping[str, Any]) -> None:
    """Axis values must have one type, and the type of the evaluator's default for that column.

    ``null`` is allowed anywhere: it marks a column that does not apply on that row (a
    window on a dense row), which the tables write blank.

    An evaluator's ``defaults`` say what each column it reads holds (``seq_len: 4096`` is an
    integer, ``hardware: 'h100'`` a name): a value of another type would fail deep inside
    the model, so it is refused here with the spec file and key.

    Raises
    ------
    SpecError
        Naming ``axes.<column>[i]``, the value, and the type expected.

    Examples
    --------
    >>> spec = parse_spec({"name": "x", "evaluator": "e", "axes": {"seq_len": [1024, "many"]},
    ...                    "objectives": [{"column": "t", "sense": "min"}]}, "s.yaml")
    >>> check_axis_types(spec, {"seq_len": 4096})
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: s.yaml: key 'axes.seq_len[1]': expected an integer (as the default 4096), ...
    """
    check = _Checker(spec.source)
    for axis in spec.axes:
        if axis.name in defaults:
            for i, value in enumerate(axis.values):
                if value is not None:   # null: the column does not apply on that row (blank)
                    _check_typed(check, f"axes.{axis.name}[{i}]", value, defaults[axis.name])
        kinds = {_kind(v) for v in axis.values} - {"null"}
        if len(kinds) > 1:
            raise check.fail(f"axes.{axis.name}", f"mixes {' and '.join(sorted(kinds))} values; "
                             "expected values of one type")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "nested"


def _check_typed(check: _Checker, path: str, value: Any, default: Any) -> None:
    """One axis value against the evaluator's default for its column."""
    if isinstance(default, bool):
        wanted, ok = "true or false", isinstance(value, bool)
    elif isinstance(default, int):
        wanted = "an integer"
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and abs(value) >= _MAX_AXIS_INT:
            raise check.fail(path, f"expected an integer below 2^62, got {value!r}")
    elif isinstance(default, float):
        wanted = "a finite number"
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and value == value and abs(value) != float("inf"))
    elif isinstance(default, str):
        wanted, ok = "a name (text)", isinstance(value, str)
    else:
        return
    if not ok:
        raise check.fail(path, f"expected {wanted} (as the default {default!r}), got {value!r}")


def _parse_zip(check: _Checker, data: Any, axes: tuple[Axis, ...]) -> tuple[tuple[str, ...], ...]:
    """Validate the ``zip`` groups: known axes, no overlaps, equal lengths."""
    length = {axis.name: len(axis.values) for axis in axes}
    seen: set[str] = set()
    groups = []
    for g, group in enumerate(check.items(data, "zip")):
        path = f"zip[{g}]"
        names = check.names(group if isinstance(group, list) else None, path)
        if len(names) < 2:
            raise check.fail(path, f"expected a list of at least two axis names, got {_describe(group)}")
        for i, name in enumerate(names):
            if name not in length:
                raise check.fail(f"{path}[{i}]", f"{name!r} is not an axis")
            if name in seen:
                raise check.fail(f"{path}[{i}]", f"axis {name!r} is already in another zip group")
            if length[name] != length[names[0]]:
                raise check.fail(
                    f"{path}[{i}]",
                    f"axis {name!r} has {length[name]} values but {names[0]!r} has "
                    f"{length[names[0]]}; zipped axes need equal lengths",
                )
        seen.update(names)
        groups.append(tuple(names))
    return tuple(groups)


def _parse_objectives(check: _Checker, data: Any) -> tuple[Objective, ...]:
    """Validate ``objectives``: ``{column, sense}`` mappings (a bare name means minimise)."""
    items = check.items(data, "objectives")
    if not items:
        raise check.fail("objectives", "expected at least one {column, sense} objective")
    objectives: list[Objective] = []
    for i, item in enumerate(items):
        path = f"objectives[{i}]"
        if isinstance(item, str):
            item = {"column": item, "sense": "min"}
        if not isinstance(item, Mapping):
            raise check.fail(path, f"expected a mapping {{column, sense}}, got {_describe(item)}")
        extra = set(item) - {"column", "sense"}
        if extra:
            raise check.fail(f"{path}.{sorted(map(str, extra))[0]}", "unknown key; expected column, sense")
        if "column" not in item:
            raise check.fail(f"{path}.column", "required key is missing")
        column = check.column(item["column"], f"{path}.column")
        sense = item.get("sense", "min")
        if sense not in ("min", "max"):
            raise check.fail(f"{path}.sense", f"expected 'min' or 'max', got {sense!r}")
        if any(o.column == column for o in objectives):
            raise check.fail(f"{path}.column", f"column {column!r} is already an objective")
        objectives.append(Objective(column, sense))
    return tuple(objectives)


def _parse_expressions(check: _Checker, data: Any, key: str) -> tuple[str, ...]:
    """Validate a list of boolean expressions (syntax only; columns are checked later)."""
    expressions = []
    for i, item in enumerate(check.items(data, key)):
        text = check.text(item, f"{key}[{i}]")
        try:
            ast.parse(text.strip(), mode="eval")
        except SyntaxError as err:
            raise check.fail(f"{key}[{i}]", f"invalid expression {text!r} ({err.msg})") from None
        expressions.append(text.strip())
    return tuple(expressions)
