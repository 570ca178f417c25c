"""Generate the student version (`assignments/`) from the source of truth (`solutions/`).

- `.py` files: every `### BEGIN SOLUTION … ### END SOLUTION` region becomes a TODO comment and
  `raise NotImplementedError("未実装: <name>")`, through nbgrader's own region replacement.
- `.ipynb` files: nbgrader's generate_assignment preprocessors (without its database): answers
  cleared, hidden tests removed, cells locked, checksums computed, outputs cleared.
- points: every notebook heading `### 課題 N: `name(...)`（K 点）` and every graded test cell's
  nbgrader points are set from the rubric before the notebook is processed (and in the source
  notebook too, when the rubric changed them).
- generated for the bundle: `README.md` (`bundle_readme.py`), `requirements.txt` (ranges, so an
  installed torch is kept: the grader keeps its exact pins in `constraints.txt`), `tests/units.json`
  (each graded unit's part, points, forbidden groups and stand-ins, for `check.py`), and
  `tests/from_grader/`: byte-for-byte copies of the grader's modules the self-check shares with
  grading (the forbidden-API table and static check, the error hints, the submission reader).
- everything else is copied byte for byte.
"""

import json

import re
import shutil
import zipfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

from autograder.authoring.bundle_readme import bundle_readme
from autograder.authoring.parts import part_of, parts_table
from autograder.grader.hidden_tests import all_units
from autograder.grader.rubric import applied_points, load_rubric
from autograder.paths import ASSIGNMENTS, ROOT, SOLUTIONS

NAME_PLACEHOLDER = "__JISAKU_UNIT_NAME__"
PYTHON_STUB = f'# TODO: docstring の約束どおりに実装してください。\nraise NotImplementedError("未実装: {NAME_PLACEHOLDER}")'
NOTEBOOK_STUB = '# TODO: 上の説明のとおりに実装してください。\nraise NotImplementedError("未実装です")'
PYTHON_RANGE = ("3.10", "3.13")  # the student bundle's; tests/test_bundle.py checks its code and resolution on each
TESTED_WITH = "Python 3.11、torch 2.13.0（CPU）、Linux"
STUDENT_REQUIREMENTS = {  # ranges, not pins: an installed torch (Colab's, a CUDA build) is kept
    "torch": ">=2.2,<3",
    "numpy": ">=1.26",
    "matplotlib": ">=3.8",
    "matplotlib-fontja": ">=1.0",
    "tqdm": ">=4.66",
    "pytest": ">=8",
    "notebook": ">=7",
}
BUNDLED_GRADER_FILES = [  # the grader's own modules the self-check runs (standard library only, Python 3.10+)
    "autograder/__init__.py",
    "autograder/paths.py",
    "autograder/protocol/__init__.py",
    "autograder/protocol/forbidden_apis.py",
    "autograder/protocol/text.py",
    "autograder/grader/forbidden.py",
    "autograder/grader/syntax.py",
    "autograder/grader/hints.py",
    "autograder/grader/intake.py",
    "autograder/grader/submissions.py",
]
FROM_GRADER = Path("tests/from_grader")
UNITS_FILE = Path("tests/units.json")
HEADING = re.compile(r"^(### 課題 \d+: `(\w+)\(.*?\)`)（[\d.]+ 点）", re.MULTILINE)
SKIPPED_NAMES = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
BUNDLE_FOLDER = "jisaku-transformer"


def stub_python(source):
    """Replace each solution region of a Python file with the TODO stub naming its function."""
    cell = new_code_cell(source)
    ClearSolutions(code_stub={"python": PYTHON_STUB})._replace_solution_region(cell, "python")
    lines = cell.source.split("\n")
    for index, line in enumerate(lines):
        if NAME_PLACEHOLDER in line:
            lines[index] = line.replace(NAME_PLACEHOLDER, enclosing_name(lines, index))
    return "\n".join(lines)


def enclosing_name(lines, index):
    """The qualified name of the def enclosing `lines[index]`, e.g. 'MultiHeadAttention.forward'."""
    indent = len(lines[index]) - len(lines[index].lstrip())
    names = []
    for line in reversed(lines[:index]):
        stripped = line.lstrip()
        level = len(line) - len(stripped)
        if not stripped or level >= indent:
            continue
        indent = level
        match = re.match(r"(?:async\s+)?(?:def|class)\s+(\w+)", stripped)
        if match:
            names.append(match.group(1))
    return ".".join(reversed(names))


def graded_units():
    """Each graded unit as plain data for the bundle: name, part, source, points, forbidden groups, stand-ins."""
    units = all_units()
    points = applied_points(load_rubric(), units)
    return [{"name": unit.name, "part": part_of(unit.source), "source": unit.source,
             "points": _whole(sum(points[unit.name, case.name] for case in unit.cases)),
             "forbidden": list(unit.forbidden), "standins": list(unit.standins)} for unit in units]


def _whole(number):
    """3.0 as 3 (how points read in a heading, nbgrader's metadata and JSON); 2.5 stays 2.5."""
    return int(number) if float(number).is_integer() else number


def apply_points(notebook, points):
    """Set each exercise heading's `（K 点）` and each graded test cell's nbgrader points from `points` (unit -> points)."""
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            cell.source = HEADING.sub(lambda match: f"{match.group(1)}（{points[match.group(2)]:g} 点）", cell.source)
        elif meta.get("grade"):
            meta["points"] = points[meta["grade_id"].removeprefix("test_")]
    return notebook


def _with_points(path, points):
    """The notebook at `path` with the rubric's points; the source in solutions/ is rewritten too when they
    changed, so that the teacher's copy never shows other points than the students'."""
    notebook = nbformat.read(path, as_version=4)
    before = nbformat.writes(notebook)
    apply_points(notebook, points)
    if nbformat.writes(notebook) != before:
        nbformat.write(notebook, path)
    return notebook


def student_notebook(notebook):
    """Apply nbgrader's generate_assignment steps that need no database to a notebook node."""
    resources = {}
    steps = [
        LockCells(),
        ClearSolutions(code_stub={"python": NOTEBOOK_STUB}),
        ClearOutput(),
        CheckCellMetadata(),
        ComputeChecksums(),
        ClearHiddenTests(),
        ClearMarkScheme(),
        ComputeChecksums(),
        CheckCellMetadata(),
    ]
    for step in steps:
        notebook, resources = step.preprocess(notebook, resources)
    return notebook


def student_requirements():
    """The student's requirements.txt: the packages a student installs, as ranges."""
    low, high = PYTHON_RANGE
    lines = [f"{name}{spec}" for name, spec in STUDENT_REQUIREMENTS.items()]
    return (f"# 学生用のインストール（Python {low}〜{high}）: pip install -r requirements.txt\n"
            "# torch は範囲で指定しています: すでに入っている torch（Colab の GPU 版など）はそのまま使われます。\n"
            + "\n".join(lines) + "\n")


def release(source=SOLUTIONS, target=ASSIGNMENTS):
    """Regenerate `target` from `source`; returns the list of written paths, relative to `target`."""
    source, target = Path(source), Path(target)
    if target.exists():
        shutil.rmtree(target)
    units = graded_units()
    points = {unit["name"]: unit["points"] for unit in units}
    written = []
    for path in _source_files(source):
        relative = path.relative_to(source)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            destination.write_text(stub_python(path.read_text(encoding="utf-8")), encoding="utf-8")
        elif path.suffix == ".ipynb":
            nbformat.write(student_notebook(_with_points(path, points)), destination)
        else:
            shutil.copyfile(path, destination)
        written.append(relative)
    generated = {
        Path("README.md"): bundle_readme(units, PYTHON_RANGE, TESTED_WITH, STUDENT_REQUIREMENTS),
        Path("requirements.txt"): student_requirements(),
        UNITS_FILE: json.dumps({"parts": parts_table(), "units": units}, ensure_ascii=False, indent=1) + "\n",
        **{FROM_GRADER / name: (ROOT / name).read_text(encoding="utf-8") for name in BUNDLED_GRADER_FILES},
    }
    for relative, text in generated.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(text, encoding="utf-8")
        written.append(relative)
    return sorted(written)


def _source_files(folder):
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not SKIPPED_NAMES.intersection(path.relative_to(folder).parts)
    )


def build_bundle(assignments=ASSIGNMENTS, zip_path=ROOT / "build" / "jisaku-transformer-student.zip"):
    """Zip the student version (byte-identical on every run: sorted names, fixed timestamps)."""
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in _source_files(Path(assignments)):
            info = zipfile.ZipInfo(f"{BUNDLE_FOLDER}/{path.relative_to(assignments).as_posix()}", ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            bundle.writestr(info, path.read_bytes())
    return zip_path
