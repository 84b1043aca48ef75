"""A data-only file format for sweep chunks: ``.npz`` arrays plus a JSON description.

The chunk store used to pickle its DataFrames, so ``--resume`` on a results folder someone
handed you would run whatever code that folder's pickles named. This format carries data
only: numeric, boolean and fixed-width text arrays go into an ``.npz`` archive read with
``allow_pickle=False`` (numpy then refuses object arrays), and the structure around them
(DataFrame columns and dtypes, categories, dicts, tuples, scalars) is a JSON document stored
in the same archive. Decoding builds only the types listed in :data:`_DECODERS`; an unknown
tag is an error, never an import.

Round trips are exact for what sweeps store: int/float/bool/datetime columns keep their
dtype, categoricals their categories and order, object columns their Python or numpy scalar
values (``np.float64(1.5)`` stays a numpy scalar, so tables render byte-identically).

Examples
--------
>>> import io
>>> frame = pd.DataFrame({"hardware": pd.Categorical(["h100", "b200"]), "time_s": [1.5, 2.0],
...                       "bound": ["dram", "exp"], "ok": [True, False]})
>>> buffer = io.BytesIO()
>>> save(buffer, {"frame": frame, "n": np.int64(2), "names": ("a", "b")})
>>> back = load(io.BytesIO(buffer.getvalue()))
>>> back["frame"].equals(frame), bool((back["frame"].dtypes == frame.dtypes).all()), back["names"]
(True, True, ('a', 'b'))
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

__all__ = ["FormatError", "load", "save"]

_META = "__meta__"
_VERSION = 1
# dtype kinds stored as arrays: bool, ints, floats, complex, datetimes, timedeltas, text
_ARRAY_KINDS = "biufcmMU"


class FormatError(ValueError):
    """The file is not a chunk written by :func:`save` (damaged, foreign or a newer version)."""


class _Encoder:
    """Turns a value into JSON, putting arrays aside by name."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, values: np.ndarray) -> dict[str, Any]:
        name = f"a{len(self.arrays)}"
        self.arrays[name] = values
        return {"@": "array", "ref": name}

    def __call__(self, value: Any) -> Any:  # noqa: C901 - one branch per supported type
        if value is None or isinstance(value, (bool, str)):
            return value
        if type(value) in (int, float):  # JSON keeps both exactly (NaN and inf included)
            return value
        if isinstance(value, (int, float)) and not isinstance(value, np.generic):
            return {"@": type(value).__mro__[-2].__name__, "v": value}  # an int/float subclass
        if isinstance(value, np.generic):
            return {"@": "np", "dtype": value.dtype.str, "v": self(value.item())}
        if isinstance(value, np.ndarray):
            return self._ndarray(value)
        if isinstance(value, (bytes, bytearray)):
            return {"@": "bytes", "v": self.array(np.frombuffer(bytes(value), dtype=np.uint8))}
        if isinstance(value, (list, tuple)):
            return {"@": "tuple" if isinstance(value, tuple) else "list", "v": [self(v) for v in value]}
        if isinstance(value, (set, frozenset)):
            return {"@": "frozenset", "v": [self(v) for v in sorted(value, key=repr)]}
        if isinstance(value, dict):
            return {"@": "dict", "k": [self(k) for k in value], "v": [self(v) for v in value.values()]}
        return self._pandas(value)

    def _ndarray(self, value: np.ndarray) -> dict[str, Any]:
        if value.dtype.kind in _ARRAY_KINDS:
            return self.array(value)
        # numpy's fixed-width text drops trailing NULs: such strings take the slow path
        if value.dtype.kind == "O" and value.size and all(type(v) is str and "\x00" not in v
                                                          for v in value.flat):
            return {"@": "strings", "v": self.array(value.astype(str))}
        if value.dtype.kind != "O":
            raise FormatError(f"cannot store an array of dtype {value.dtype}")
        return {"@": "objects", "shape": list(value.shape), "v": [self(v) for v in value.flat]}

    def _pandas(self, value: Any) -> dict[str, Any]:
        if isinstance(value, pd.RangeIndex):
            return {"@": "range", "v": [value.start, value.stop, value.step], "name": self(value.name)}
        if isinstance(value, pd.MultiIndex):
            return {"@": "multiindex", "levels": [self(level) for level in value.levels],
                    "codes": [self.array(np.asarray(c)) for c in value.codes],
                    "names": [self(n) for n in value.names]}
        if isinstance(value, pd.CategoricalIndex):
            return {"@": "catindex", "v": self(value.array), "name": self(value.name)}
        if isinstance(value, pd.Index) and isinstance(value.dtype, pd.StringDtype):
            return {"@": "strindex", "v": self._strings(value), "name": self(value.name)}
        if isinstance(value, pd.Index):
            return {"@": "index", "v": self(value.to_numpy()), "name": self(value.name)}
        if isinstance(value, pd.Categorical):
            return {"@": "categorical", "categories": self(value.categories),
                    "codes": self.array(value.codes), "ordered": bool(value.ordered)}
        if isinstance(value, pd.Series):
            return {"@": "series", "v": self._column(value), "index": self(value.index),
                    "name": self(value.name)}
        if isinstance(value, pd.DataFrame):
            return {"@": "frame", "columns": self(value.columns), "index": self(value.index),
                    "data": [self._column(value.iloc[:, i]) for i in range(value.shape[1])]}
        raise FormatError(f"cannot store a value of type {type(value).__name__}")

    def _strings(self, values: Any) -> dict[str, Any]:
        """A pandas string array (pandas 3's default for text): its values and its dtype."""
        dtype = values.dtype
        return {"@": "strarray", "storage": dtype.storage, "na": "nan" if dtype.na_value is np.nan else "NA",
                "v": self(np.asarray(values, dtype=object))}

    def _column(self, series: pd.Series) -> Any:
        if isinstance(series.dtype, pd.CategoricalDtype):
            return self(series.array)
        if isinstance(series.dtype, pd.StringDtype):
            return self._strings(series.array)
        if isinstance(series.dtype, np.dtype):
            return self(series.to_numpy())
        raise FormatError(f"cannot store a column of dtype {series.dtype}")


class _Decoder:
    """The inverse of :class:`_Encoder`, building only the tagged types it knows."""

    def __init__(self, arrays: Any) -> None:
        self.arrays = arrays

    def __call__(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        tag = node.get("@")
        decode = _DECODERS.get(tag) if isinstance(tag, str) else None
        if decode is None:
            raise FormatError(f"unknown entry {tag!r}")
        return decode(self, node)

    def array(self, node: dict[str, Any]) -> np.ndarray:
        name = node.get("ref")
        if not isinstance(name, str) or name not in self.arrays:
            raise FormatError(f"missing array {name!r}")
        return self.arrays[name]


def _objects(dec: _Decoder, node: dict[str, Any]) -> np.ndarray:
    values = [dec(v) for v in node["v"]]
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(node["shape"])


def _strarray(dec: _Decoder, node: dict[str, Any]) -> Any:
    na = {"nan": np.nan, "NA": pd.NA}[node["na"]]
    return pd.array(dec(node["v"]), dtype=pd.StringDtype(node["storage"], na_value=na))


def _column_values(dec: _Decoder, node: Any) -> Any:
    return dec(node)


def _frame(dec: _Decoder, node: dict[str, Any]) -> pd.DataFrame:
    columns = dec(node["columns"])
    data = {i: _column_values(dec, column) for i, column in enumerate(node["data"])}
    frame = pd.DataFrame(data, index=dec(node["index"]), copy=False)
    frame.columns = columns
    return frame


_DECODERS = {
    "array": lambda dec, node: dec.array(node),
    "int": lambda dec, node: int(node["v"]),
    "float": lambda dec, node: float(node["v"]),
    "np": lambda dec, node: np.dtype(node["dtype"]).type(dec(node["v"])),
    "bytes": lambda dec, node: dec(node["v"]).tobytes(),
    "list": lambda dec, node: [dec(v) for v in node["v"]],
    "tuple": lambda dec, node: tuple(dec(v) for v in node["v"]),
    "frozenset": lambda dec, node: frozenset(dec(v) for v in node["v"]),
    "dict": lambda dec, node: {dec(k): dec(v) for k, v in zip(node["k"], node["v"], strict=True)},
    "strings": lambda dec, node: dec(node["v"]).astype(object),
    "objects": _objects,
    "multiindex": lambda dec, node: pd.MultiIndex(
        levels=[dec(level) for level in node["levels"]], codes=[dec.array(c) for c in node["codes"]],
        names=[dec(n) for n in node["names"]]),
    "strarray": _strarray,
    "strindex": lambda dec, node: pd.Index(dec(node["v"]), name=dec(node["name"])),
    "range": lambda dec, node: pd.RangeIndex(*node["v"], name=dec(node["name"])),
    "catindex": lambda dec, node: pd.CategoricalIndex(dec(node["v"]), name=dec(node["name"])),
    "index": lambda dec, node: pd.Index(dec(node["v"]), name=dec(node["name"]), dtype=dec(node["v"]).dtype),
    "categorical": lambda dec, node: pd.Categorical.from_codes(
        dec.array(node["codes"]), dtype=pd.CategoricalDtype(dec(node["categories"]), bool(node["ordered"]))),
    "series": lambda dec, node: pd.Series(dec(node["v"]), index=dec(node["index"]), name=dec(node["name"]),
                                          copy=False),
    "frame": _frame,
}


def save(target: str | BinaryIO, value: Any) -> None:
    """Write ``value`` (DataFrames, arrays, dicts, tuples, scalars) as a data-only ``.npz``."""
    encoder = _Encoder()
    meta = json.dumps({"version": _VERSION, "value": encoder(value)}, separators=(",", ":"))
    arrays = dict(encoder.arrays)
    arrays[_META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    np.savez(target, **arrays)


def load(source: str | BinaryIO) -> Any:
    """Read what :func:`save` wrote; :class:`FormatError` for anything else (no pickles).

    Raises
    ------
    FormatError
        Truncated or foreign files, object arrays, unknown entries or versions.
    """
    try:
        with np.load(source, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except FormatError:
        raise
    except Exception as err:  # zip, npy and JSON errors all mean "not our file"
        raise FormatError(f"not a chunk file ({type(err).__name__})") from None
    if not isinstance(meta, dict) or meta.get("version") != _VERSION:
        raise FormatError("unknown chunk format version")
    try:
        return _Decoder(arrays)(meta["value"])
    except FormatError:
        raise
    except (KeyError, TypeError, ValueError) as err:
        raise FormatError(f"malformed chunk description ({type(err).__name__})") from None
