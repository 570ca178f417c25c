"""A real nbgrader course folder for our notebooks, as a teacher using nbgrader would lay it out."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.paths import SOLUTIONS
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


def make_course(course, source=SOLUTIONS):
    """A course whose assignment `kit` is a copy of solutions/, generated with our stub text."""
    course = Path(course)
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'jisaku'\n"
        f"c.ClearSolutions.code_stub = {{'python': {NOTEBOOK_STUB!r}}}\n"
        "c.Execute.timeout = 300\n",
        encoding="utf-8",
    )
    shutil.copytree(source, course / "source" / ASSIGNMENT, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--create", "--force")
    return course
