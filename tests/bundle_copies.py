"""Copies of the student bundle for the kit's tests: the skeleton as released, a finished one, and edits to it."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.paths import ASSIGNMENTS, NOTEBOOK, SOLUTIONS


def skeleton_bundle(folder, assignments=ASSIGNMENTS):
    """assignments/ (the kit's, or the released `assignments` of a copy of the kit) as a student unpacks it,
    copied to `folder`."""
    shutil.copytree(assignments, folder, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return Path(folder)


def solved_bundle(folder, assignments=ASSIGNMENTS, solutions=SOLUTIONS):
    """The bundle with every answer written: the skeleton with solutions/' graded files in place of the stubs."""
    folder = skeleton_bundle(folder, assignments)
    for path in (Path(solutions) / "transformer").glob("*.py"):
        shutil.copyfile(path, folder / "transformer" / path.name)
    shutil.copyfile(Path(solutions) / NOTEBOOK, folder / NOTEBOOK)
    return folder


# Settings of the kit's own test run that a student's terminal does not have. CI=true, for one, makes
# pytest print each failure's whole message again in its short summary.
NOT_ON_A_STUDENTS_MACHINE = ("CI", "PYTEST_ADDOPTS", "PYTHONPATH")


def students_environment():
    """This process's environment variables as a student's terminal would have them."""
    return {name: value for name, value in os.environ.items() if name not in NOT_ON_A_STUDENTS_MACHINE}


def run(folder, *args):
    """(exit code, stdout) of a command of the bundle, run with the kit's Python in `folder`, in a student's
    environment."""
    done = subprocess.run([sys.executable, *args], cwd=folder, capture_output=True, text=True, timeout=300,
                          env=students_environment())
    return done.returncode, done.stdout


def table_row(out, part):
    """The line of `check.py`'s table for `part`."""
    return next(line for line in out.splitlines() if line.split() and line.split()[0] == part)


def edit_function(path, name, first_lines):
    """Put `first_lines` (source text, no indentation) at the start of the body of function `name` in `path`
    (after its docstring), as a student's edit would."""
    source = path.read_text(encoding="utf-8")
    function = next(node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef) and node.name == name)
    body = function.body[1:] if ast.get_docstring(function) else function.body
    lines = source.splitlines(keepends=True)
    at = body[0].lineno - 1
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at:at] = [f"{indent}{line}\n" for line in first_lines.splitlines()]
    path.write_text("".join(lines), encoding="utf-8")
