"""nbgrader itself, run as a teacher would, agrees with our release and gives the solutions full marks."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.paths import ASSIGNMENTS, SOLUTIONS
from autograder.release import NOTEBOOK_STUB

NBGRADER = str(Path(sys.executable).parent / "nbgrader")
GRADED_NOTEBOOK = "00_pytorch_basics.ipynb"


def _nbgrader(course, *args):
    # nbgrader runs `alembic` from PATH: put the environment's bin folder first even when it is not activated.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([NBGRADER, *args], cwd=course, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder whose source assignment `kit` holds the source notebooks and the package."""
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'jisaku'\n"
        f"c.ClearSolutions.code_stub = {{'python': {NOTEBOOK_STUB!r}}}\n"
        "c.Execute.timeout = 300\n",
        encoding="utf-8",
    )
    source = course / "source" / "kit"
    shutil.copytree(SOLUTIONS, source, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    _nbgrader(course, "generate_assignment", "kit", "--create", "--force")
    return course


def _graded_cells(path):
    notebook = nbformat.read(path, as_version=4)
    return [(cell.cell_type, cell.source, cell.metadata.get("nbgrader")) for cell in notebook.cells]


@pytest.mark.slow
def test_nbgrader_generate_assignment_matches_our_release(course):
    for ours in sorted(ASSIGNMENTS.glob("*.ipynb")):
        theirs = course / "release" / "kit" / ours.name
        assert _graded_cells(theirs) == _graded_cells(ours), f"{ours.name} differs from nbgrader's"


@pytest.mark.slow
def test_nbgrader_autograde_gives_the_solutions_full_marks(course):
    from nbgrader.api import Gradebook

    submitted = course / "submitted" / "reference" / "kit"
    submitted.mkdir(parents=True)
    shutil.copy(SOLUTIONS / GRADED_NOTEBOOK, submitted / GRADED_NOTEBOOK)
    shutil.copytree(SOLUTIONS / "transformer", submitted / "transformer")
    _nbgrader(course, "autograde", "kit", "--create", "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission("kit", "reference")
        assert submission.max_score > 0
        assert submission.score == submission.max_score
