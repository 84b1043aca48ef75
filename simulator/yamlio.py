"""Read YAML files with one-line, located errors (shared by every spec loader)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from einsum.textfile import read_text_file
from simulator.errors import SpecError

__all__ = ["read_yaml"]


def read_yaml(path: Path, what: str = "YAML file") -> Any:
    r"""Parse a YAML file; I/O and syntax errors become one-line :class:`SpecError`.

    Parameters
    ----------
    path : Path
    what : str
        What the file is, for the "cannot read" message (``"GPU spec"``, …).

    Examples
    --------
    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "broken.yaml"
    >>> _ = bad.write_text("a: [1, 2\n")
    >>> read_yaml(bad)
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: broken.yaml: line 2, column 1: malformed YAML: ...
    """
    text = read_text_file(path, what, SpecError)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise SpecError(f"{path.name}:{where} malformed YAML: {problem}") from None
