"""Which inputs are submissions, and whose: the student ids, validated and unique.

A path given is a submission (a folder holding `transformer/` or a notebook, or a `.zip`), or a
class folder whose children are submissions. A student id is the folder's name or the zip's stem;
it names the student's report folder, so it must be a plain name: letters and digits of any
script, then also `. _ - + @` and spaces, starting and ending with a letter or digit. Two inputs
with one id (`control.zip` beside `control/`) are both refused, and neither is graded until the
teacher renames one: grading either would silently replace the other's results.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from autograder.protocol.text import shown_name

STUDENT_ID = re.compile(r"\w(?:[\w.\-+@ ]{0,98}\w)?")


@dataclass(frozen=True)
class Refusal:
    path: Path
    reason: str  # Japanese, for the teacher

    def line(self):
        return f"{shown_name(str(self.path))}: {self.reason}"


def find_submissions(paths):
    """Each path is a submission (folder or .zip), or a folder whose children are submissions."""
    found = []
    for path in map(Path, paths):
        if path.is_dir() and not (path / "transformer").exists() and not list(path.glob("*.ipynb")):
            found += sorted(p for p in path.iterdir() if p.is_dir() or p.suffix == ".zip")
        else:
            found.append(path)
    return found


def student_id(path):
    """The id a submission's path gives, or None when it is not a safe, plain name."""
    name = path.stem if path.suffix == ".zip" else path.name
    return name if STUDENT_ID.fullmatch(name) else None


def take_in(paths):
    """({student id: path}, [Refusal]) for the inputs `paths` name."""
    by_id, refused = defaultdict(list), []
    for path in find_submissions(paths):
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
