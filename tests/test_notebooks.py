"""Execute every notebook in notebooks/ in a fresh kernel; fail on stored outputs.

The notebooks are part of the documentation (DESIGN.md: "Jupyter notebooks, executed by the
tests"), so a notebook that no longer runs against the installed package fails here. Each
runs from a temporary working directory, so it can only read what the package ships.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
EXPECTED = ["01-cascades-and-passes", "02-roofline-explorer", "03-sparsity", "04-fusemax",
            "05-validate-a-trace", "06-design-space"]
TIMEOUT_S = 240  # per cell; the whole notebook should take well under a minute


def test_the_six_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_opens_with_its_question(path):
    book = nbformat.read(path, as_version=4)
    for index, cell in enumerate(book.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has stored outputs (strip them)"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
    first = book.cells[0]
    assert first.cell_type == "markdown" and "**Question:**" in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path):
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(book, timeout=TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    errors = [out for cell in book.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors
    images = sum("image/png" in out.get("data", {}) for cell in book.cells
                 if cell.cell_type == "code" for out in cell.outputs)
    assert images >= 1, f"{path.name} drew no picture"
    print(f"{path.stem}: {elapsed:.1f} s")
