"""A real nbgrader course folder for our notebooks, as a teacher using nbgrader would lay it out.

The route it offers: nbgrader grades notebook 00 only (its graded cells and their tests, the
points of the notebook's nbgrader metadata); the `transformer/` package is graded with
`jisaku grade`, which grades notebook 00 too, in its sandbox. nbgrader copies every file that is
not a notebook as it is, into the release and (through autograde) into the feedback, so the
course's source assignment is our release (`assignments/`: the stubbed package, the visible
tests) with the source notebooks of solutions/ in it, from which nbgrader makes the student
notebooks itself. Neither `release/` nor `feedback/` holds a line of the solutions.

nbgrader's own limits stay: its feedback shows notebook 00's hidden tests, autograde puts the
source copy of every other file over the student's (here the stubs, so the package in
`autograded/` and `feedback/` is not the student's), and a notebook that ends its kernel
(`sys.exit`) gets 0 and "needs manual grading".
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.paths import ASSIGNMENTS, SOLUTIONS
from autograder.authoring.release import NOTEBOOK_STUB

NBGRADER = str(Path(sys.executable).parent / "nbgrader")
ASSIGNMENT = "kit"


def run_nbgrader(course, *args):
    """Run an nbgrader command in `course`, its kernels on one thread.

    nbgrader finds `alembic` on PATH, so this environment's bin folder comes first.
    """
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run([NBGRADER, *args], cwd=course, capture_output=True, text=True, timeout=900, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def make_course(course, notebooks=SOLUTIONS, release=ASSIGNMENTS):
    """A course whose source assignment `kit` is `release` with the source notebooks of `notebooks` in it,
    generated with our stub text."""
    course = Path(course)
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'jisaku'\n"
        f"c.ClearSolutions.code_stub = {{'python': {NOTEBOOK_STUB!r}}}\n"
        "c.Execute.timeout = 300\n",
        encoding="utf-8",
    )
    source = course / "source" / ASSIGNMENT
    shutil.copytree(release, source, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.ipynb"))
    for notebook in sorted(Path(notebooks).glob("*.ipynb")):
        shutil.copy(notebook, source / notebook.name)
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--create", "--force")
    return course
