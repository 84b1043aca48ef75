"""The README's Python examples run as doctests, so the documentation stays true."""

import doctest
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python examples"
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for number, block in enumerate(blocks):
        test = parser.get_doctest(block, {}, f"README block {number}", str(README), 0)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_readme_model_tables_are_what_the_model_computes():
    """The C.3 panel table, the trace calibration table, the validate example and the fidelity
    summary are what the model renders now."""
    from experiments.validation.readme_tables import BLOCKS

    text = README.read_text()
    for name, render in BLOCKS.items():
        block = text.split(f"<!-- {name}:begin -->\n", 1)[1].split(f"\n<!-- {name}:end -->", 1)[0]
        assert block == render(), (
            f"README block {name} is stale: rerun python -m experiments.validation.readme_tables --write")
