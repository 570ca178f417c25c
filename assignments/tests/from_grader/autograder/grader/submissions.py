"""Reading a submission: a folder or a .zip laid out like assignments/, into memory, safely.

What is read: `transformer/*.py` and the `*.ipynb` files at the submission's top level. The top
level is found the way a student's packaging makes it:
- system clutter is never part of it: `__MACOSX/`, `.DS_Store`, `Thumbs.db`, `desktop.ini` and
  AppleDouble `._*` files, wherever they are;
- a folder that holds nothing but one folder (`taro/taro/transformer/...`, at any depth) is opened,
  except `transformer/` itself;
- a folder that then holds nothing but one `.zip` (an LMS's per-student folder holding the upload)
  is read as that zip; a zip inside a zip is not opened.

The graded notebook is `NOTEBOOK`. A submission without a file of that name has its notebook found
by the nbgrader grade_ids of its answer cells, whatever its name (`00_pytorch_basics (1).ipynb` from
a browser, `copy.ipynb`): it is graded under `NOTEBOOK`'s name, and the student is told. Two such
notebooks and none of the exact name: neither is graded, and the student is told why. A submission
in which no graded file is found carries `NOTHING_TO_GRADE` among its problems.

Zip members with absolute or `..` paths, links, encrypted or damaged members, and archives over the
size, ratio or count limits are refused with a Japanese message (names shown with `repr`, since
they are the student's text), and never extracted to disk.

Only the standard library, `autograder.protocol.text` and `autograder.paths` are imported, and the
code runs on Python 3.10: the student bundle's submission checker ships a copy of this module.
"""

import functools
import hashlib
import json
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.paths import ASSIGNMENTS, NOTEBOOK, ROOT, SOLUTIONS
from autograder.protocol.text import shown_name

MAX_FILES = 2000
MAX_FILE_BYTES = 5 * 2**20
MAX_TOTAL_BYTES = 50 * 2**20
MAX_RATIO = 100
UNREADABLE_MEMBER = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError, ValueError)
PACKAGE = "transformer"
IGNORED_NAMES = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"})
KIT_NOTEBOOKS = (SOLUTIONS / NOTEBOOK, ASSIGNMENTS / NOTEBOOK, ROOT / NOTEBOOK)  # the grader's, the release's, a student kit's
NOTHING_TO_GRADE = f"採点できるファイルが見つかりません: zip の中身を確かめてください（採点するのは {PACKAGE}/*.py と {NOTEBOOK} です）。"


@dataclass
class Submission:
    student_id: str
    files: dict = field(default_factory=dict)  # relative posix path -> bytes (only the graded files)
    problems: list = field(default_factory=list)  # Japanese messages about the submission as a whole
    fault: Exception | None = None  # the reader itself failed on it (the grader's fault, not the student's)

    @property
    def content_hash(self):
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name] + b"\0")
        return digest.hexdigest()

    def package_files(self):
        return {name.split("/", 1)[1]: data for name, data in self.files.items() if name.startswith(f"{PACKAGE}/")}

    def notebook(self, name):
        return self.files.get(name)


def is_clutter(name):
    """A file or folder the operating system made, never the student's work."""
    return name in IGNORED_NAMES or name.startswith("._")


def answer_cell_ids(data):
    """The nbgrader grade_ids of the answer (solution) cells of the notebook `data` (bytes); none when it is no notebook."""
    try:
        notebook = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep: no notebook
        return set()
    cells = _field(notebook, "cells")
    nbgrader = [_field(cell, "metadata", "nbgrader") for cell in (cells if isinstance(cells, list) else [])]
    return {meta["grade_id"] for meta in nbgrader if _field(meta, "solution") is True and isinstance(_field(meta, "grade_id"), str)}


def _field(value, *keys):
    """value[key0][key1]..., or None where a level is missing or not a JSON object."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


@functools.lru_cache(maxsize=1)
def graded_cell_ids():
    """The grade_ids of the graded notebook's answer cells, from the first of `KIT_NOTEBOOKS` there is (none
    without one: then a notebook is found by its name alone)."""
    kit_copy = next((path for path in KIT_NOTEBOOKS if path.is_file()), None)
    return frozenset(answer_cell_ids(kit_copy.read_bytes())) if kit_copy else frozenset()


def load_submission(path, student_id):
    """The graded files of the folder or zip at `path`, as the submission of `student_id`."""
    path = Path(path)
    submission = Submission(student_id)
    if path.is_dir():
        _read_folder(path, submission)
    elif path.suffix == ".zip":
        _read_zip(path, submission)
    else:
        submission.problems.append(f"{shown_name(path.name)}: フォルダでも .zip でもないので採点できません。")
    _find_notebook(submission)
    if NOTEBOOK not in submission.files and not submission.package_files():
        submission.problems.append(NOTHING_TO_GRADE)
    return submission


def _graded_name(parts):
    """The path a graded file has in the submission's layout, or None if the grader does not read it."""
    if len(parts) == 2 and parts[0] == PACKAGE and parts[1].endswith(".py"):
        return "/".join(parts)
    if len(parts) == 1 and parts[0].endswith(".ipynb"):
        return parts[0]
    return None


def _wrapper(entries):
    """The folder to open when `entries` ({name: is a folder}, clutter left out) are that folder alone; else None."""
    if len(entries) == 1:
        [(name, is_folder)] = entries.items()
        if is_folder and name != PACKAGE:
            return name
    return None


def _listing(folder):
    """The entries of `folder` that are not clutter, sorted."""
    return sorted(entry for entry in folder.iterdir() if not is_clutter(entry.name))


def _read_folder(folder, submission):
    top = folder
    while (inner := _wrapper({entry.name: entry.is_dir() and not entry.is_symlink() for entry in _listing(top)})) is not None:
        top = top / inner
    entries = _listing(top)
    if len(entries) == 1 and entries[0].suffix == ".zip" and entries[0].is_file() and not entries[0].is_symlink():
        _read_zip(entries[0], submission)  # an LMS's folder holding the student's upload
        return
    package = top / PACKAGE
    if package.is_dir() and not package.is_symlink():
        entries += _listing(package)
    for file in entries:
        if file.is_symlink():
            submission.problems.append(f"{shown_name(file.relative_to(folder).as_posix())}: シンボリックリンクは読みません。")
            continue
        name = _graded_name(file.relative_to(top).parts)
        if name and file.is_file() and file.stat().st_size <= MAX_FILE_BYTES:
            submission.files[name] = file.read_bytes()


def _wrapper_depth(names):
    """How many leading folders all the member `names` (tuples of parts) share as wrappers to open."""
    depth = 0
    while True:
        level = {}
        for parts in names:
            if len(parts) > depth:
                level[parts[depth]] = level.get(parts[depth], False) or len(parts) > depth + 1
        if _wrapper(level) is None:
            return depth
        depth += 1


def _read_zip(zip_path, submission):
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        submission.problems.append(f"{shown_name(zip_path.name)}: zip として開けません（{type(error).__name__}）。")
        return
    with archive:
        members = archive.infolist()
        if len(members) > MAX_FILES:
            submission.problems.append(f"{shown_name(zip_path.name)}: ファイルが多すぎます（{len(members)} 個、上限 {MAX_FILES}）。")
            return
        total = sum(m.file_size for m in members)
        packed = max(1, sum(m.compress_size for m in members))
        if total > MAX_TOTAL_BYTES or total / packed > MAX_RATIO:
            submission.problems.append(f"{shown_name(zip_path.name)}: 展開後が大きすぎる zip です（{total} バイト、圧縮率 {total / packed:.0f} 倍）。")
            return
        safe = []
        for member in members:
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or member.filename.startswith(("/", "\\")):
                submission.problems.append(f"{shown_name(member.filename)}: 危険なパスなので読みません。")
            elif stat.S_ISLNK(member.external_attr >> 16):
                submission.problems.append(f"{shown_name(member.filename)}: シンボリックリンクは読みません。")
            elif member.flag_bits & 0x1:
                submission.problems.append(f"{shown_name(member.filename)}: 暗号化（パスワード付き）されているので読めません。パスワードなしの zip にしてください。")
            elif not member.is_dir() and not any(is_clutter(part) for part in name.parts):
                safe.append((name.parts, member))
        depth = _wrapper_depth([parts for parts, _ in safe])
        for parts, member in safe:
            graded = _graded_name(parts[depth:])
            if graded and member.file_size <= MAX_FILE_BYTES:
                try:
                    submission.files[graded] = archive.read(member)
                except UNREADABLE_MEMBER as error:
                    submission.problems.append(f"{shown_name(member.filename)}: 壊れていて読めません（{type(error).__name__}: CRC の不一致など）。zip を作り直してください。")


def _find_notebook(submission):
    """Put the notebook that carries the graded cells under `NOTEBOOK`'s name, and say what was done."""
    carriers = [name for name in sorted(submission.files)
                if name.endswith(".ipynb") and name != NOTEBOOK and answer_cell_ids(submission.files[name]) & graded_cell_ids()]
    if NOTEBOOK in submission.files:
        submission.problems += [f"{shown_name(name)} にも採点するセルがありますが、採点したのは {NOTEBOOK} です。" for name in carriers]
    elif len(carriers) == 1:
        submission.files[NOTEBOOK] = submission.files.pop(carriers[0])
        submission.problems.append(f"{shown_name(carriers[0])} を {NOTEBOOK} として採点しました（採点するセルが入っていたため）。"
                                   f"次からはファイル名を {NOTEBOOK} のままにして提出してください。")
    elif carriers:
        names = "、".join(shown_name(name) for name in carriers)
        submission.problems.append(f"採点するセルを含むノートブックが {len(carriers)} 個あり（{names}）、どれを採点するか決められないので、"
                                   f"ノートブック 00 は採点していません。採点してほしいものを 1 つだけ、{NOTEBOOK} という名前で提出してください。")
