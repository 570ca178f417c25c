"""Generate the student version (`assignments/`) from the source of truth (`solutions/`).

- `.py` files: every `### BEGIN SOLUTION … ### END SOLUTION` region becomes a TODO comment and
  `raise NotImplementedError("未実装: <name>")`, through nbgrader's own region replacement.
- `.ipynb` files: nbgrader's generate_assignment preprocessors (without its database): answers
  cleared, hidden tests removed, cells locked, checksums computed, outputs cleared.
- `requirements.txt`: the student's minimal install, pinned from `constraints.txt`.
- everything else is copied byte for byte.
"""

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

from autograder.paths import ASSIGNMENTS, ROOT, SOLUTIONS

NAME_PLACEHOLDER = "__JISAKU_UNIT_NAME__"
PYTHON_STUB = f'# TODO: 上のコメントと docstring の約束どおりに実装してください。\nraise NotImplementedError("未実装: {NAME_PLACEHOLDER}")'
NOTEBOOK_STUB = '# TODO: 上の説明のとおりに実装してください。\nraise NotImplementedError("未実装です")'
STUDENT_REQUIREMENTS = ["torch", "numpy", "matplotlib", "matplotlib-fontja", "tqdm", "pytest"]
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


def student_requirements(constraints=ROOT / "constraints.txt"):
    """The pinned lines of `constraints.txt` for the packages a student installs."""
    pins = {}
    for line in constraints.read_text().splitlines():
        name, _, version = line.partition("==")
        if version:
            pins[name.lower()] = line
    lines = [pins[name] for name in STUDENT_REQUIREMENTS]
    return "# 学生用の最小限のインストール: pip install -r requirements.txt\n" + "\n".join(lines) + "\n"


def release(source=SOLUTIONS, target=ASSIGNMENTS):
    """Regenerate `target` from `source`; returns the list of written paths, relative to `target`."""
    source, target = Path(source), Path(target)
    if target.exists():
        shutil.rmtree(target)
    written = []
    for path in _source_files(source):
        relative = path.relative_to(source)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            destination.write_text(stub_python(path.read_text(encoding="utf-8")), encoding="utf-8")
        elif path.suffix == ".ipynb":
            nbformat.write(student_notebook(nbformat.read(path, as_version=4)), destination)
        else:
            shutil.copyfile(path, destination)
        written.append(relative)
    (target / "requirements.txt").write_text(student_requirements(), encoding="utf-8")
    written.append(Path("requirements.txt"))
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
