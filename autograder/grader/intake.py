"""Which inputs are submissions, and whose: the student ids, validated and unique.

A path given is a submission (a folder holding `transformer/` or the graded notebook, or a `.zip`),
or a class folder whose children are submissions; anything else in a class folder (a stray
notebook, the output folder) is skipped and said, never graded as a student. A student id is the
folder's name or the zip's stem; it names the student's report folder, so it must be a plain
name: letters and digits of any script, then also `. _ - + @` and spaces, starting and ending
with a letter or digit. Two inputs
with one id (`control.zip` beside `control/`) are both refused, and neither is graded until the
teacher renames one: grading either would silently replace the other's results.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from autograder.paths import NOTEBOOK
from autograder.protocol.text import shown_name

STUDENT_ID = re.compile(r"\w(?:[\w.\-+@ ]{0,98}\w)?")


@dataclass(frozen=True)
class Refusal:
    path: Path
    reason: str  # Japanese, for the teacher
    blocks: bool = True  # a submission that cannot be graded until the teacher acts (not a stray file)

    def line(self):
        return f"{shown_name(str(self.path))}: {self.reason}"


IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"}


def is_submission_folder(path):
    """A folder that is one student's work: it holds the package or the graded notebook."""
    return (path / "transformer").is_dir() or (path / NOTEBOOK).is_file()


def find_submissions(paths, skip=()):
    """(submission paths, [Refusal] for what was skipped). Each path is a submission (a folder holding
    `transformer/` or the notebook, or a .zip), or a class folder whose children are the submissions:
    there, a file that is not a .zip (a stray notebook, notes) is skipped with a warning, system
    clutter (`.DS_Store`, `__MACOSX`) silently, and so is any folder in `skip` (the output folder)."""
    skip = {Path(p).resolve() for p in skip}
    found, skipped = [], []
    for path in map(Path, paths):
        if not path.is_dir() or is_submission_folder(path):
            found.append(path)
            continue
        for child in sorted(path.iterdir()):
            if child.name in IGNORED_NAMES or child.resolve() in skip:
                continue
            if child.is_dir() or child.suffix == ".zip":
                found.append(child)
            else:
                skipped.append(Refusal(child, "提出物（フォルダか .zip）ではないので採点していません。", blocks=False))
    return found, skipped


def student_id(path):
    """The id a submission's path gives, or None when it is not a safe, plain name."""
    name = path.stem if path.suffix == ".zip" else path.name
    return name if STUDENT_ID.fullmatch(name) else None


def take_in(paths, skip=()):
    """({student id: path}, [Refusal]) for the inputs `paths` name; `skip` as for `find_submissions`."""
    by_id = defaultdict(list)
    submissions, refused = find_submissions(paths, skip)
    for path in submissions:
        sid = student_id(path)
        if sid is None:
            refused.append(Refusal(path, "学生 ID として使えない名前です（英数字・かな漢字で始まり、終わる名前にしてください。"
                                         "「.」「..」、先頭の「.」、/ や制御文字は使えません）。採点していません。"))
        else:
            by_id[sid].append(path)
    accepted = {}
    for sid, found in by_id.items():
        if len(found) == 1:
            accepted[sid] = found[0]
            continue
        names = "、".join(shown_name(str(p)) for p in found)
        refused += [Refusal(p, f"学生 ID {shown_name(sid)} の提出が複数あります（{names}）。どちらも採点していません。"
                               "1 つを残すか名前を変えてから、もう一度採点してください。") for p in found]
    return accepted, refused
