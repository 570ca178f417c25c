"""Which inputs are submissions, and whose: the student ids, validated and unique.

A path given is a submission (a folder holding `transformer/` or the graded notebook, a folder or
zip named the way an LMS names one, or any `.zip`), or a class folder whose children are
submissions; anything else in a class folder (a stray notebook, the output folder) is skipped and
said, never graded as a student. Two inputs with one id (`control.zip` beside `control/`) are both
refused, and neither is graded until the teacher renames one: grading either would silently
replace the other's results.

Whose a submission is comes from its name (a folder's name, a zip's stem):
- Moodle's "Download all submissions": a folder `Tanaka Taro_12345_assignsubmission_file_` (the
  "download submissions in folders" option, on by default) or, without that option, a file
  `Tanaka Taro_12345_assignsubmission_file_taro.zip`. 12345 is Moodle's participant id for the
  assignment (the "Participant 12345" of its grading worksheet), not the user id; Moodle writes the
  full name with `_` turned into spaces. Folders of other submission plugins
  (`..._assignsubmission_onlinetext_`) are skipped with a warning.
- Canvas's "Download Submissions": files `tanakataro_12345_67890_taro.zip`, that is the sortable
  name lowercased with punctuation and spaces removed, `LATE` (any case) when late, the Canvas user
  id, the attachment id, and the uploaded file's own name. Anonymous grading (`anon_...`) is not
  recognised: such a name is taken as it is.
- Google Classroom: one folder per student, named after the student ("田中 太郎"): a plain name.
- Anything else is a plain name, taken as it is.
In every layout a student's work is one folder or one `.zip`; a notebook or a `.py` that an LMS
lists on its own is not a submission, and is skipped with a warning like any stray file.
The student id is then: with a roster (`Roster`, from `--roster`), the row whose `lms_id` is the
LMS id, else whose `student_id` or `name` is the name (names compared without case, spaces or
punctuation, after NFKC); a submission that matches no row is refused. Without a roster: the LMS
id, or the plain name. A student id names the student's report folder, so it must be a plain
name: letters and digits of any script, then also `. _ - + @` and spaces (the ideographic space of
a Japanese name too), starting and ending with a letter or digit.
"""

import csv
import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from autograder.grader.submissions import PACKAGE, is_clutter
from autograder.paths import NOTEBOOK
from autograder.protocol.text import shown_name

STUDENT_ID = re.compile(r"\w(?:[\w.\-+@ \u3000]{0,98}\w)?")
NOT_A_PLAIN_ID = ("学生 ID として使えない名前です（英数字・かな漢字で始まり、終わる名前にしてください。"
                  "「.」「..」、先頭の「.」、/ や制御文字は使えません）。採点していません。")
MOODLE = re.compile(r"(?P<name>.+)_(?P<lms_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.*)")
CANVAS = re.compile(r"(?P<name>.+?)_(?:(?i:late)_)?(?P<lms_id>\d+)_(?P<attachment>\d+)_(?P<file>.+)")


@dataclass(frozen=True)
class Refusal:
    path: Path
    reason: str  # Japanese, for the teacher
    blocks: bool = True  # a submission that cannot be graded until the teacher acts (not a stray file)

    def line(self):
        return f"{shown_name(str(self.path))}: {self.reason}"


@dataclass(frozen=True)
class Owner:
    """Whose a submission is, as its name tells."""
    name: str  # the student's name as the LMS wrote it, or the whole plain name
    lms_id: str | None = None  # the number the LMS knows the student by
    plugin: str = "file"  # Moodle's submission plugin; every other layout holds files


def submission_name(path):
    """The name a submission goes by: a folder's name, a zip's stem."""
    return path.stem if path.suffix == ".zip" else path.name


def owner(path):
    """Whose the submission at `path` is, read from its name."""
    name = submission_name(path)
    for layout in (MOODLE, CANVAS):
        match = layout.fullmatch(name)
        if match:
            return Owner(match["name"], match["lms_id"], match.groupdict().get("plugin", "file"))
    return Owner(name)


def is_submission_folder(path):
    """A folder that is one student's work: it holds the package or the graded notebook, or Moodle named it
    (Canvas names files, and a class folder may well be called `course_2024_01_hw`)."""
    return (path / PACKAGE).is_dir() or (path / NOTEBOOK).is_file() or MOODLE.fullmatch(path.name) is not None


def find_submissions(paths, skip=()):
    """(submission paths, [Refusal] for what was skipped). Each path is a submission (a folder holding
    `transformer/` or the notebook, one an LMS named, or a .zip), or a class folder whose children are the
    submissions: there, a file that is not a .zip (a stray notebook, notes) is skipped with a warning, system
    clutter (`.DS_Store`, `__MACOSX`) silently, and so is any folder in `skip` (the output folder)."""
    skip = {Path(p).resolve() for p in skip}
    found, skipped = [], []
    for path in map(Path, paths):
        if not path.is_dir() or is_submission_folder(path):
            found.append(path)
            continue
        for child in sorted(path.iterdir()):
            if is_clutter(child.name) or child.resolve() in skip:
                continue
            if child.is_dir() or child.suffix == ".zip":
                found.append(child)
            else:
                skipped.append(Refusal(child, "提出物（フォルダか .zip）ではないので採点していません。", blocks=False))
    return found, skipped


def student_id(path):
    """The id a submission's plain name gives, or None when it is not a safe, plain name."""
    name = submission_name(path)
    return name if STUDENT_ID.fullmatch(name) else None


def name_key(name):
    """A name as compared with the roster's: NFKC, without case, spaces, punctuation or `_`."""
    return re.sub(r"[\W_]", "", unicodedata.normalize("NFKC", name)).casefold()


class RosterError(ValueError):
    """The roster cannot be used; the message (Japanese, then English) says which rows and why."""


class Roster:
    """The class list: which student id an LMS id or a name stands for.

    A UTF-8 CSV (with or without a BOM, as Excel's "CSV UTF-8" writes it) with a header row naming the
    columns `student_id` (required: the id used in reports and the gradebook), `name` (the name as the LMS
    shows it, or the Google Classroom folder's name) and `lms_id` (Moodle's participant id or Canvas's user
    id); at least one of `name` and `lms_id`. Other columns are ignored.
    """

    def __init__(self, path):
        rows = _roster_rows(Path(path))
        self.by_lms_id, self.by_name = {}, defaultdict(set)
        errors = []
        seen = set()
        for line, row in rows:
            sid, lms_id = row.get("student_id", ""), row.get("lms_id", "")
            if not STUDENT_ID.fullmatch(sid):
                errors.append(f"{line} 行目: student_id {shown_name(sid)} は学生 ID として使えません")
            elif sid in seen:
                errors.append(f"{line} 行目: student_id {shown_name(sid)} が 2 回目です")
            if lms_id and lms_id in self.by_lms_id:
                errors.append(f"{line} 行目: lms_id {shown_name(lms_id)} が 2 回目です")
            seen.add(sid)
            if lms_id:
                self.by_lms_id[lms_id] = sid
            for name in (sid, row.get("name", "")):
                if name_key(name):
                    self.by_name[name_key(name)].add(sid)
        if errors:
            raise RosterError(f"名簿 {shown_name(str(path))} を使えません / the roster cannot be used:\n" + "\n".join(errors))

    def student_id(self, who):
        """(student id, None), or (None, why the roster gives none) for the submission's `who` (an Owner)."""
        if who.lms_id is not None and who.lms_id in self.by_lms_id:
            return self.by_lms_id[who.lms_id], None
        matches = self.by_name.get(name_key(who.name), set())
        if len(matches) == 1:
            return next(iter(matches)), None
        if matches:
            return None, f"名簿に {shown_name(who.name)} に当たる学生が {len(matches)} 人います（{', '.join(sorted(matches))}）。名簿に lms_id を書いてください。採点していません。"
        number = f"、LMS の番号 {who.lms_id}" if who.lms_id is not None else ""
        return None, f"名簿に当たる行がありません（名前 {shown_name(who.name)}{number}）。名簿に加えるか、提出物の名前を確かめてください。採点していません。"


def _roster_rows(path):
    """[(line number, {column: stripped value})] of the roster CSV at `path`."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise RosterError(f"名簿 {shown_name(str(path))} が UTF-8 ではありません（Excel なら「CSV UTF-8」で保存してください）"
                          f" / the roster is not UTF-8: {error}") from None
    except OSError as error:
        raise RosterError(f"名簿 {shown_name(str(path))} を読めません / cannot read the roster: {error}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = {(column or "").strip() for column in reader.fieldnames or []}
    if "student_id" not in columns or not columns & {"name", "lms_id"}:
        raise RosterError(f"名簿 {shown_name(str(path))} の 1 行目に列名 student_id と、name か lms_id が必要です"
                          f"（今は {', '.join(sorted(columns)) or 'なし'}） / the roster needs the columns student_id and name or lms_id")
    return [(reader.line_num, {(key or "").strip(): (value or "").strip() for key, value in row.items() if isinstance(value, str)})
            for row in reader]


def take_in(paths, skip=(), roster=None):
    """({student id: path}, [Refusal]) for the inputs `paths` name; `skip` as for `find_submissions`; `roster`
    a Roster, or None to take the LMS id or the plain name as the student id."""
    by_id = defaultdict(list)
    submissions, refused = find_submissions(paths, skip)
    for path in submissions:
        who = owner(path)
        if who.plugin != "file":
            refused.append(Refusal(path, f"Moodle の {shown_name(who.plugin)} の提出（ファイルではないもの）なので採点していません。", blocks=False))
            continue
        if roster is not None:
            sid, why = roster.student_id(who)
        else:
            sid, why = who.lms_id or student_id(path), NOT_A_PLAIN_ID
        if sid is None:
            refused.append(Refusal(path, why))
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
