"""A results folder is safe to reopen: chunks are data only and checked before they are trusted."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from simulator.cli import app
from simulator.errors import SpecError
from simulator.sweep import safefile
from simulator.sweep.engine import run_sweep
from simulator.sweep.spec import parse_spec
from simulator.sweep.store import ChunkStore

SPEC = {"name": "safety", "evaluator": "synthetic",
        "axes": {"units": [1, 2, 4, 8], "work": [1e11, 1e12, 1e13]}, "chunk_size": 4,
        "objectives": [{"column": "latency", "sense": "min"}, {"column": "area", "sense": "min"}]}


def _run(out, **options):
    return run_sweep(parse_spec(SPEC, "safety.yaml"), out, progress=False, plots=False, **options)


class _Exploit:
    """Unpickling this would run code: the store must never unpickle."""

    def __reduce__(self):
        return (exec, ("raise SystemExit('pickle executed')",))


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


DAMAGE = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:50]),
    "pickle": lambda path: path.write_bytes(pickle.dumps(_Exploit())),
    "empty": lambda path: path.write_bytes(b""),
    "flipped-byte": lambda path: path.write_bytes(_flip(path.read_bytes())),
}


@pytest.mark.parametrize("kind", DAMAGE)
@pytest.mark.parametrize("target", ["chunk", "digest"])
def test_damaged_chunks_are_named_on_resume(tmp_path, kind, target):
    _run(tmp_path)
    path = tmp_path / "chunks" / f"{target}-000001.npz"
    DAMAGE[kind](path)
    with pytest.raises(SpecError, match=f"damaged or foreign chunks: chunk-000001.npz .*{target}-000001"):
        _run(tmp_path, resume=True)


def test_damage_through_the_cli_is_one_line_exit_2(tmp_path):
    spec = tmp_path / "safety.yaml"
    spec.write_text(json.dumps(SPEC), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out"), "--quiet"]).exit_code == 0
    for index in (0, 2):
        (tmp_path / "out" / "chunks" / f"chunk-{index:06d}.npz").write_bytes(pickle.dumps(_Exploit()))
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out"), "--resume"])
    assert result.exit_code == 2
    stderr = result.stderr.strip()
    assert "\n" not in stderr and "chunk-000000.npz" in stderr and "chunk-000002.npz" in stderr


def test_a_chunk_record_of_another_spec_is_foreign(tmp_path):
    _run(tmp_path)
    record = tmp_path / "chunks" / "chunk-000000.json"
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "spec_hash": "0" * 64}))
    with pytest.raises(SpecError, match="chunk-000000.npz \\(written for another spec\\)"):
        _run(tmp_path, resume=True)


def test_an_old_pickle_store_is_not_resumed(tmp_path):
    _run(tmp_path)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"format": 2', '"format": 1'))
    with pytest.raises(SpecError, match="pickled chunks are never read"):
        _run(tmp_path, resume=True)


def test_read_chunk_never_unpickles(tmp_path):
    store = ChunkStore(tmp_path)
    store.chunk_dir.mkdir()
    store.chunk_path(0).write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(SpecError, match="damaged chunk file"):
        store.read_chunk(0)


def test_a_fresh_run_deletes_stray_temporaries_and_old_pickles(tmp_path):
    _run(tmp_path)
    stray = [tmp_path / ".points.csv.tmp-12345", tmp_path / "chunks" / ".chunk-000001.npz.tmp-9",
             tmp_path / "chunks" / "chunk-000007.pkl"]
    for path in stray:
        path.write_bytes(b"x")
    _run(tmp_path)
    assert not any(path.exists() for path in stray)


# ------------------------------------------------------------------ the format's round trip
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=8),
                     st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=200, deadline=None)
@given(st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=4), inner, max_size=4),
    st.frozensets(st.text(max_size=4), max_size=3)), max_leaves=20))
def test_plain_values_round_trip(value):
    buffer = io.BytesIO()
    safefile.save(buffer, value)
    back = safefile.load(io.BytesIO(buffer.getvalue()))
    assert _same(back, value)


def _same(a, b) -> bool:
    """Equal with the same types all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-2**62, 2**62), st.floats(allow_nan=True), st.booleans(),
                          st.sampled_from(["h100", "b200", "fusemax"]), st.text(max_size=5)),
                max_size=30))
def test_frames_round_trip_with_their_dtypes(rows):
    frame = pd.DataFrame(rows, columns=["i", "x", "ok", "hw", "label"])
    frame["hw"] = frame["hw"].astype("category")
    frame["i64"] = frame["i"].astype(np.int64)
    buffer = io.BytesIO()
    safefile.save(buffer, {"frame": frame, "row": frame.iloc[0] if len(frame) else None})
    back = safefile.load(io.BytesIO(buffer.getvalue()))
    pd.testing.assert_frame_equal(back["frame"], frame)
    assert back["frame"].to_csv() == frame.to_csv()
    if len(frame):
        assert [type(v) for v in back["row"]] == [type(v) for v in frame.iloc[0]]


def test_object_arrays_in_the_archive_are_refused():
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(b'{"version": 1, "value": {"@": "array", "ref": "a0"}}',
                                             dtype=np.uint8), a0=np.array([_Exploit()], dtype=object))
    with pytest.raises(safefile.FormatError):
        safefile.load(io.BytesIO(buffer.getvalue()))


def test_unknown_entries_are_refused():
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(b'{"version": 1, "value": {"@": "os.system"}}',
                                             dtype=np.uint8))
    with pytest.raises(safefile.FormatError, match="unknown entry"):
        safefile.load(io.BytesIO(buffer.getvalue()))
