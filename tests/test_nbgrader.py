"""nbgrader itself, run as a teacher would, agrees with our release and gives the solutions full marks."""

import shutil

import nbformat
import pytest

from autograder.authoring.nbgrader_course import make_course, run_nbgrader
from autograder.paths import ASSIGNMENTS, SOLUTIONS

GRADED_NOTEBOOK = "00_pytorch_basics.ipynb"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder whose source assignment `kit` holds the source notebooks and the package."""
    return make_course(tmp_path_factory.mktemp("course") / "course")


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
    run_nbgrader(course, "autograde", "kit", "--create", "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission("kit", "reference")
        assert submission.max_score > 0
        assert submission.score == submission.max_score
