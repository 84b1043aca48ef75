"""Crash-safe storage of a sweep: atomic chunk files, a manifest, and resume.

Layout of an output directory::

    OUT/manifest.json              spec hash, grid size, chunking, outputs of the last finish
    OUT/chunks/chunk-000042.pkl    the evaluated rows of grid chunk 42 (a pickled DataFrame)
    OUT/chunks/digest-000042.pkl   its share of the outputs (a pickled ChunkDigest)

The digest is written before the rows, so a chunk whose rows exist is finished.

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
import json
import os
import pickle
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.errors import SpecError

__all__ = ["CHUNK_DIR", "MANIFEST", "ChunkStore", "Manifest", "atomic_path"]

#: File name of the manifest inside the output directory.
MANIFEST = "manifest.json"
#: Sub-directory holding the chunk files.
CHUNK_DIR = "chunks"

_FORMAT = 1
_TEMP_MARK = ".tmp-"
_CHUNK_RE = re.compile(r"chunk-(\d+)\.pkl")
_DIGEST_RE = re.compile(r"digest-(\d+)\.pkl")


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
        return self.chunk_dir / f"chunk-{index:06d}.pkl"

    def digest_path(self, index: int) -> Path:
        """Where the digest of chunk ``index`` is stored."""
        return self.chunk_dir / f"digest-{index:06d}.pkl"

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
        if resume and previous is not None:
            if (previous.spec_hash, previous.format) != (manifest.spec_hash, manifest.format):
                raise SpecError(
                    f"{self.out_dir / MANIFEST}: written for another spec ({previous.name!r}, "
                    f"hash {previous.spec_hash[:12]}); refusing to resume: run without --resume "
                    "or choose another --out"
                )
            self._remove(temporary_only=True)
            return self.finished(manifest.n_chunks)
        (self.out_dir / MANIFEST).unlink(missing_ok=True)
        self._remove(temporary_only=False)
        kept = previous.outputs if previous is not None else ()
        self.write_manifest(replace(manifest, outputs=tuple(kept)))
        return set()

    def finished(self, n_chunks: int) -> set[int]:
        """Indices of the chunk files present (only ``0 <= index < n_chunks``)."""
        if not self.chunk_dir.is_dir():
            return set()
        found = (_CHUNK_RE.fullmatch(p.name) for p in self.chunk_dir.iterdir())
        return {int(m.group(1)) for m in found if m and int(m.group(1)) < n_chunks}

    def write_chunk(self, index: int, frame: pd.DataFrame, digest: Any = None) -> None:
        """Store one evaluated chunk atomically (its digest, if given, first)."""
        self.chunk_dir.mkdir(parents=True, exist_ok=True)
        if digest is not None:
            self.write_digest(index, digest)
        _dump(self.chunk_path(index), frame)

    def write_digest(self, index: int, digest: Any) -> None:
        """Store the digest of chunk ``index`` atomically."""
        self.chunk_dir.mkdir(parents=True, exist_ok=True)
        _dump(self.digest_path(index), digest)

    def read_chunk(self, index: int) -> pd.DataFrame:
        """Load one evaluated chunk."""
        with open(self.chunk_path(index), "rb") as handle:
            return pickle.load(handle)

    def read_digest(self, index: int) -> Any:
        """Load the digest of chunk ``index``, or None if it has none."""
        try:
            with open(self.digest_path(index), "rb") as handle:
                return pickle.load(handle)
        except FileNotFoundError:
            return None

    def _remove(self, *, temporary_only: bool) -> None:
        """Delete stray temporary files (and, unless ``temporary_only``, chunk files)."""
        for folder in (self.out_dir, self.chunk_dir):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                is_temp = path.name.startswith(".") and _TEMP_MARK in path.name
                is_chunk = folder == self.chunk_dir and (
                    _CHUNK_RE.fullmatch(path.name) or _DIGEST_RE.fullmatch(path.name))
                if is_temp or (is_chunk and not temporary_only):
                    path.unlink(missing_ok=True)


def _dump(path: Path, value: Any) -> None:
    """Pickle ``value`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump(value, handle, protocol=5)
