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


def test_readme_fidelity_block_is_the_report_output():
    from experiments.validation.report import fidelity_rows, markdown

    text = README.read_text()
    block = text.split("<!-- fidelity:begin -->\n", 1)[1].split("\n<!-- fidelity:end -->", 1)[0]
    assert block == markdown(fidelity_rows()), (
        "README fidelity block is stale: rerun python -m experiments.validation.report --markdown")
