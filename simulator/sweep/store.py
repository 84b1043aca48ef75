"""Crash-safe storage of a sweep: atomic chunk files, a manifest, and resume.

Layout of an output directory::

    OUT/manifest.json              spec hash, grid size, chunking, outputs of the last finish
    OUT/chunks/chunk-000042.npz    the evaluated rows of grid chunk 42 (a DataFrame)
    OUT/chunks/digest-000042.npz   its share of the outputs (a ChunkDigest's fields)
    OUT/chunks/chunk-000042.json   the chunk's record: spec hash and SHA-256 of both files

Chunks are data only (:mod:`simulator.sweep.safefile`: ``.npz`` arrays read with
``allow_pickle=False`` plus a JSON description; nothing in a results folder is ever
unpickled or imported). The record is written last, so a chunk with a record is finished;
before a chunk is trusted on ``--resume`` its files must hash to what its record says and
the record must name this spec. Damaged, truncated or foreign chunks are reported by name
(:class:`SpecError`), never loaded.

Every file is written to a temporary name in its final directory and moved into place
with :func:`os.replace`, so a file that exists is complete: killing a sweep at any moment
leaves at worst a stray temporary file, which the next run deletes. ``resume`` keeps the
finished chunks only when the manifest was written for the same spec hash.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> out = Path(tempfile.mkdtemp())
>>> manifest = Manifest(spec_hash="ab" * 32, name="demo", evaluator="synthetic",
...                     grid_points=10, chunk_size=4, n_chunks=3)
>>> store = ChunkStore(out)
>>> store.start(manifest, resume=False)
set()
>>> store.write_chunk(1, pd.DataFrame({"x": [1, 2]}))
>>> store.start(manifest, resume=True)
{1}
>>> store.read_chunk(1)["x"].tolist()
[1, 2]
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.errors import SpecError
from simulator.sweep import safefile

__all__ = ["CHUNK_DIR", "MANIFEST", "ChunkStore", "Manifest", "atomic_path"]

#: File name of the manifest inside the output directory.
MANIFEST = "manifest.json"
#: Sub-directory holding the chunk files.
CHUNK_DIR = "chunks"

_FORMAT = 2  # 1: pickled chunks (never read now), 2: safefile chunks with hashed records
_TEMP_MARK = ".tmp-"
_RECORD_RE = re.compile(r"chunk-(\d+)\.json")
# every file the store owns in its chunk folder, the old pickles included (deleted, not read)
_OWNED_RE = re.compile(r"(chunk|digest)-(\d+)\.(npz|json|pkl)")


@dataclass(frozen=True)
class Manifest:
    """What an output directory holds: enough to refuse resuming a different sweep."""

    spec_hash: str
    name: str
    evaluator: str
    grid_points: int
    chunk_size: int
    n_chunks: int
    outputs: tuple[str, ...] = ()
    format: int = _FORMAT

    def to_json(self) -> str:
        """The manifest as indented JSON text."""
        data = asdict(self)
        data["outputs"] = list(self.outputs)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse :meth:`to_json` output (raises ``ValueError``/``TypeError`` if malformed)."""
        data = json.loads(text)
        data["outputs"] = tuple(data.get("outputs", ()))
        return cls(**data)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    r"""Yield a temporary path next to ``path``; on success move it onto ``path``.

    The temporary file is flushed to disk before the move and removed if the body
    raises, so ``path`` is either untouched or complete.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("a,b\n")
    >>> target.read_text()
    'a,b\n'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}{_TEMP_MARK}{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class ChunkStore:
    """The chunk files and manifest of one output directory.

    Parameters
    ----------
    out_dir : str or Path
        The sweep's output directory (created when needed).
    """

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.chunk_dir = self.out_dir / CHUNK_DIR

    def chunk_path(self, index: int) -> Path:
        """Where chunk ``index`` is stored."""
        return self.chunk_dir / f"chunk-{index:06d}.npz"

    def digest_path(self, index: int) -> Path:
        """Where the digest of chunk ``index`` is stored."""
        return self.chunk_dir / f"digest-{index:06d}.npz"

    def record_path(self, index: int) -> Path:
        """Where the record (spec hash, file hashes) of chunk ``index`` is stored."""
        return self.chunk_dir / f"chunk-{index:06d}.json"

    def read_manifest(self) -> Manifest | None:
        """The manifest, or None if there is none.

        Raises
        ------
        SpecError
            If the manifest exists but cannot be parsed.
        """
        path = self.out_dir / MANIFEST
        if not path.is_file():
            return None
        try:
            return Manifest.from_json(path.read_text(encoding="utf-8"))
        except (ValueError, TypeError, KeyError):
            raise SpecError(
                f"{path}: not a sweep manifest; remove it or choose another output directory"
            ) from None

    def write_manifest(self, manifest: Manifest) -> None:
        """Write the manifest atomically."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.out_dir / MANIFEST) as tmp:
            tmp.write_text(manifest.to_json(), encoding="utf-8")

    def start(self, manifest: Manifest, *, resume: bool) -> set[int]:
        """Prepare the directory for a run; return the chunks already finished.

        Without ``resume`` (or without a previous manifest) every old chunk is deleted
        first. With ``resume`` the old manifest must carry the same spec hash.

        Raises
        ------
        SpecError
            If resuming a directory written for a different spec.
        """
        previous = self.read_manifest()
        self.spec_hash = manifest.spec_hash
        if resume and previous is not None:
            if previous.format != manifest.format:
                raise SpecError(
                    f"{self.out_dir / MANIFEST}: chunks of format {previous.format} (pickled "
                    f"chunks are never read); refusing to resume: run without --resume")
            if previous.spec_hash != manifest.spec_hash:
                raise SpecError(
                    f"{self.out_dir / MANIFEST}: written for another spec ({previous.name!r}, "
                    f"hash {previous.spec_hash[:12]}); refusing to resume: run without --resume "
                    "or choose another --out"
                )
            self._remove(temporary_only=True)
            done = self.finished(manifest.n_chunks)
            self.verify(done)
            return done
        (self.out_dir / MANIFEST).unlink(missing_ok=True)
        self._remove(temporary_only=False)
        kept = previous.outputs if previous is not None else ()
        self.write_manifest(replace(manifest, outputs=tuple(kept)))
        return set()

    def finished(self, n_chunks: int) -> set[int]:
        """Indices of the chunks with a record (only ``0 <= index < n_chunks``)."""
        if not self.chunk_dir.is_dir():
            return set()
        found = (_RECORD_RE.fullmatch(p.name) for p in self.chunk_dir.iterdir())
        return {int(m.group(1)) for m in found if m and int(m.group(1)) < n_chunks}

    def verify(self, indices: set[int]) -> None:
        """Check each chunk's files against its record before anything trusts them.

        Raises
        ------
        SpecError
            Naming every damaged or foreign chunk (at most 8 named, then a count).
        """
        damaged = []
        for index in sorted(indices):
            problem = self._check(index)
            if problem:
                damaged.append(f"{self.chunk_path(index).name} ({problem})")
        if damaged:
            shown = ", ".join(damaged[:8]) + (f" and {len(damaged) - 8} more" if len(damaged) > 8 else "")
            raise SpecError(f"{self.chunk_dir}: damaged or foreign chunks: {shown}; refusing to "
                            "resume: run without --resume to recompute them")

    def _check(self, index: int) -> str:
        """Why chunk ``index`` cannot be trusted ("" when it can)."""
        try:
            record = json.loads(self.record_path(index).read_text(encoding="utf-8"))
            hashes = {name: record["sha256"][name] for name in ("chunk", "digest")}
            owner = record["spec_hash"]
        except (OSError, ValueError, KeyError, TypeError):
            return "unreadable record"
        if owner != self._owner():
            return "written for another spec"
        for name, path in (("chunk", self.chunk_path(index)), ("digest", self.digest_path(index))):
            if hashes[name] is None and name == "digest":
                continue
            if name == "digest" and not path.exists():
                continue  # a lost digest is recomputed from the chunk's rows
            try:
                data = path.read_bytes()
            except OSError:
                return f"{path.name} missing"
            if hashlib.sha256(data).hexdigest() != hashes[name]:
                return f"{path.name} does not match its hash"
        return ""

    def write_chunk(self, index: int, frame: pd.DataFrame, digest: Any = None) -> None:
        """Store one evaluated chunk atomically: its digest, its rows, then its record."""
        self.chunk_dir.mkdir(parents=True, exist_ok=True)
        digest_hash = self.write_digest(index, digest) if digest is not None else None
        self._write_record(index, _dump(self.chunk_path(index), frame), digest_hash)

    def write_digest(self, index: int, digest: Any) -> str:
        """Store the digest of chunk ``index`` atomically; return its SHA-256."""
        self.chunk_dir.mkdir(parents=True, exist_ok=True)
        fields = {f.name: getattr(digest, f.name) for f in dataclasses.fields(digest)}
        sha = _dump(self.digest_path(index), fields)
        if self.record_path(index).is_file():  # a digest recomputed for a finished chunk
            record = json.loads(self.record_path(index).read_text(encoding="utf-8"))
            self._write_record(index, record["sha256"]["chunk"], sha)
        return sha

    def _owner(self) -> str | None:
        """The spec hash chunks are written for: set by :meth:`start`, else the manifest's."""
        # a worker process opens the store after the parent wrote the manifest
        if getattr(self, "spec_hash", None) is None:
            manifest = self.read_manifest()
            self.spec_hash = manifest.spec_hash if manifest is not None else None
        return self.spec_hash

    def _write_record(self, index: int, chunk_sha: str, digest_sha: str | None) -> None:
        record = {"index": index, "spec_hash": self._owner(),
                  "sha256": {"chunk": chunk_sha, "digest": digest_sha}}
        with atomic_path(self.record_path(index)) as tmp:
            tmp.write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")

    def read_chunk(self, index: int) -> pd.DataFrame:
        """Load one evaluated chunk (data only; :class:`SpecError` names a damaged file)."""
        value = _load(self.chunk_path(index))
        if not isinstance(value, pd.DataFrame):
            raise SpecError(f"{self.chunk_path(index)}: damaged chunk (not a table)")
        return value

    def read_digest(self, index: int) -> Any:
        """Load the digest of chunk ``index``, or None if it has none."""
        from simulator.sweep.digest import ChunkDigest  # digest.py imports this module

        path = self.digest_path(index)
        if not path.is_file():
            return None
        fields = _load(path)
        try:
            return ChunkDigest(**fields)
        except TypeError:
            raise SpecError(f"{path}: damaged chunk digest (unexpected fields)") from None

    def _remove(self, *, temporary_only: bool) -> None:
        """Delete stray temporary files (and, unless ``temporary_only``, chunk files)."""
        for folder in (self.out_dir, self.chunk_dir):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                is_temp = path.name.startswith(".") and _TEMP_MARK in path.name
                is_chunk = folder == self.chunk_dir and _OWNED_RE.fullmatch(path.name)
                if is_temp or (is_chunk and not temporary_only):
                    path.unlink(missing_ok=True)


def _dump(path: Path, value: Any) -> str:
    """Write ``value`` to ``path`` atomically in the data-only format; return its SHA-256."""
    buffer = io.BytesIO()
    safefile.save(buffer, value)
    data = buffer.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _load(path: Path) -> Any:
    """Read a data-only chunk file; a damaged one is a one-line :class:`SpecError`."""
    try:
        return safefile.load(str(path))
    except safefile.FormatError as err:
        raise SpecError(f"{path}: damaged chunk file ({err}); run without --resume") from None
