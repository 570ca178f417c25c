"""Reading a submission: a folder or a .zip laid out like assignments/, into memory, safely.

Only the files the grader uses are read (`transformer/*.py` and `*.ipynb` at the top level or one
folder down); zip members with absolute or `..` paths, links, encrypted or damaged members, and
archives over the size, ratio or count limits are refused with a Japanese message (names shown
with `repr`, since they are the student's text), and never extracted to disk.
"""

import hashlib
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.protocol.text import shown_name

MAX_FILES = 2000
MAX_FILE_BYTES = 5 * 2**20
MAX_TOTAL_BYTES = 50 * 2**20
MAX_RATIO = 100
UNREADABLE_MEMBER = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError, ValueError)


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
        return {name.split("/", 1)[1]: data for name, data in self.files.items() if name.startswith("transformer/")}

    def notebook(self, name):
        return self.files.get(name)


def _graded_name(parts):
    """The path a graded file has in the submission's layout, or None if the grader does not read it."""
    if len(parts) == 2 and parts[0] == "transformer" and parts[1].endswith(".py"):
        return "/".join(parts)
    if len(parts) == 1 and parts[0].endswith(".ipynb"):
        return parts[0]
    return None


def _strip_wrapper(names):
    """Zips often hold one top folder (`taro/transformer/...`): grade what is inside it."""
    tops = {name.parts[0] for name in names if len(name.parts) > 1}
    if len(tops) == 1 and not any(len(name.parts) == 1 for name in names):
        return lambda parts: parts[1:]
    return lambda parts: parts


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
    return submission


def _read_folder(folder, submission):
    candidates = [p for p in sorted(folder.rglob("*")) if len(p.relative_to(folder).parts) <= 3]
    strip = _strip_wrapper([PurePosixPath(p.relative_to(folder).as_posix()) for p in candidates])
    for file in candidates:
        if file.is_symlink():
            submission.problems.append(f"{shown_name(str(file.relative_to(folder)))}: シンボリックリンクは読みません。")
            continue
        name = _graded_name(strip(file.relative_to(folder).parts))
        if name and file.is_file() and file.stat().st_size <= MAX_FILE_BYTES:
            submission.files[name] = file.read_bytes()


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
            elif not member.is_dir():
                safe.append((name, member))
        strip = _strip_wrapper([name for name, _ in safe])
        for name, member in safe:
            graded = _graded_name(strip(name.parts))
            if graded and member.file_size <= MAX_FILE_BYTES:
                try:
                    submission.files[graded] = archive.read(member)
                except UNREADABLE_MEMBER as error:
                    submission.problems.append(f"{shown_name(member.filename)}: 壊れていて読めません（{type(error).__name__}: CRC の不一致など）。zip を作り直してください。")
