"""Every source notebook runs top to bottom with the solutions filled in, and its Japanese text renders.

They run where a student runs them: in the bundle (with the generated `tests/units.json` the self-check
cells need), here one whose answers are written.
"""

import nbformat
import pytest
from bundle_copies import solved_bundle
from nbclient import NotebookClient

from autograder.paths import SOLUTIONS

NOTEBOOKS = sorted(SOLUTIONS.glob("*.ipynb"))
FONT_PROBLEMS = ("findfont", "Glyph", "missing from font")


@pytest.fixture(scope="module")
def finished_bundle(tmp_path_factory):
    return solved_bundle(tmp_path_factory.mktemp("bundle") / "kit")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_source_notebook_runs_without_errors_or_font_warnings(path, finished_bundle):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(finished_bundle)}}).execute()
    streams = [
        output.get("text", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    ]
    problems = [text for text in streams if any(word in text for word in FONT_PROBLEMS)]
    assert not problems, f"{path.name}: font warnings: {problems[:2]}"


def test_there_are_four_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "00_pytorch_basics.ipynb",
        "01_self_attention.ipynb",
        "02_multi_head_attention.ipynb",
        "03_transformer_tutorial.ipynb",
    ]
