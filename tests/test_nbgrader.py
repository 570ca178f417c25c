"""nbgrader itself, run as a teacher would, agrees with our release, gives the solutions full marks, and hands out no answer."""

import shutil

import nbformat
import pytest
from leaks import leaks, solution_lines

from autograder.authoring.nbgrader_course import ASSIGNMENT, make_course, run_nbgrader
from autograder.paths import ASSIGNMENTS, NOTEBOOK, SOLUTIONS


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder whose source assignment `kit` holds our release with the source notebooks."""
    return make_course(tmp_path_factory.mktemp("course") / "course")


@pytest.fixture(scope="module")
def graded(course):
    """The course after one autograde of two students, `reference` (the solutions) and `stub` (the release as
    handed out, no answer written), and with nbgrader's feedback for `stub`: whatever answer is in that
    feedback came from the course, not from the student."""
    for student, folder in (("reference", SOLUTIONS), ("stub", ASSIGNMENTS)):
        submitted = course / "submitted" / student / ASSIGNMENT
        submitted.mkdir(parents=True)
        shutil.copy(folder / NOTEBOOK, submitted / NOTEBOOK)
        shutil.copytree(folder / "transformer", submitted / "transformer")
    run_nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force")
    run_nbgrader(course, "generate_feedback", ASSIGNMENT, "--student", "stub", "--force")
    return course


def _graded_cells(path):
    notebook = nbformat.read(path, as_version=4)
    return [(cell.cell_type, cell.source, cell.metadata.get("nbgrader")) for cell in notebook.cells]


@pytest.mark.slow
def test_nbgrader_generate_assignment_matches_our_release(course):
    for ours in sorted(ASSIGNMENTS.glob("*.ipynb")):
        theirs = course / "release" / ASSIGNMENT / ours.name
        assert _graded_cells(theirs) == _graded_cells(ours), f"{ours.name} differs from nbgrader's"


@pytest.mark.slow
def test_nbgrader_autograde_gives_the_solutions_full_marks(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, "reference")
        assert submission.max_score > 0
        assert submission.score == submission.max_score


@pytest.mark.slow
def test_neither_the_release_nor_the_feedback_holds_a_solution_line(graded):
    assert len(solution_lines()) > 30, "the leak check must have solution lines to look for"
    assert (graded / "feedback" / "stub" / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html")).is_file()
    assert (graded / "release" / ASSIGNMENT / "transformer" / "attention.py").is_file()
    found = leaks(graded / "release") + leaks(graded / "feedback")
    assert not found, f"solution lines handed out: {found[:3]}"
