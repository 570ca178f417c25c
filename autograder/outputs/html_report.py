"""The teacher's report: static HTML pages written with every batch, to read on a computer or a phone.

    OUT/@report/index.html        the class: score histogram, each unit's share of points, one row per
                                  student, the flags, the similar submissions, every hidden case's item analysis
    OUT/@report/students/N.html   one student: their flags, the submissions like theirs, their feedback
    OUT/@report/pairs/N.html      two similar submissions, the code they share side by side

No server and nothing fetched: CSS and SVG are inline, there is no script (and the pages' security
policy allows none), so the folder opens from a disk, a USB stick or an LMS upload. Its name starts
with "@", which no student id can (`intake.STUDENT_ID`), so it is never a student's folder; it is
written anew by every batch.

Everything that comes from a submission is text: Jinja2 escapes it (the code of a pair, the
feedback's outputs), and the feedback's Markdown is rendered with its raw HTML escaped. The data are
the gradebook (scores, every case's outcome), each student's `results.json` (the outputs, for the
likely causes) and `feedback.md`, and the similarity of the submissions given (the ones read this
run: a student graded by an earlier run from another folder is listed, not compared).
"""

import json
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

import jinja2
import mistune
from markupsafe import Markup
from mistune.util import safe_entity

from autograder.outputs.item_analysis import analyse, best_separating
from autograder.outputs.similarity import NEAR_IDENTICAL
from autograder.protocol.messages import Outcome

REPORT_FOLDER = "@report"
TEMPLATES = Path(__file__).with_name("report_templates")
FLAGS = {  # the outcomes a teacher should look at, whatever the score
    Outcome.FORBIDDEN.value: "使えない API",
    Outcome.CRASHED.value: "異常終了",
    Outcome.TIMEOUT.value: "時間切れ",
    Outcome.BUDGET.value: "提出全体の時間切れ",
    Outcome.VIOLATION.value: "採点の決まりに反する動き",
    Outcome.GRADER_ERROR.value: "採点側のエラー",
}
TOP_UNFLAGGED_PAIRS = 10  # the most similar pairs below the threshold, shown for the ranking
MAX_PAIR_PAGES = 100
CONTEXT_LINES = 2  # lines kept around a matching region
LEVELS = ((50, "low"), (80, "mid"), (101, "high"))  # a unit's share of points: the bar's colour


class _FeedbackRenderer(mistune.HTMLRenderer):
    """mistune's renderer with raw HTML escaped, reading character references as CommonMark does.

    `reports.markdown_text` writes the student's "<" and "&" as `&lt;` and `&amp;`; mistune 3.4
    with escape=True would show those references literally. The text is escaped on the way out either way.
    """

    def text(self, text):
        return safe_entity(text)


_markdown = mistune.create_markdown(renderer=_FeedbackRenderer(escape=True), plugins=["table"])
_templates = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)


@dataclass(frozen=True)
class Flag:
    label: str
    units: tuple


@dataclass(frozen=True)
class Student:
    student_id: str
    page: str  # relative to the report folder
    score: float
    max_score: float
    flags: tuple
    similar: int = 0  # flagged pairs the student is in

    @property
    def percent(self):
        return _percent(self.score / self.max_score if self.max_score else 0.0)


@dataclass(frozen=True)
class PairRow:
    left: str
    right: str
    left_page: str
    right_page: str
    left_percent: float
    right_percent: float
    identical: bool
    flagged: bool
    page: str | None  # its side-by-side page, where it has one


def write_report(gradebook, out_dir, comparison):
    """Write the report of the batch in `gradebook` into OUT/@report/; returns the index page's path.

    `comparison`: the similarity.Comparison of the submissions read this run.
    """
    folder = Path(out_dir) / REPORT_FOLDER
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "students").mkdir(parents=True)
    (folder / "pairs").mkdir()
    outcomes, rows = gradebook.outcomes(), gradebook.rows()
    graded = {row[0] for row in rows}
    pairs = [pair for pair in comparison.pairs() if pair.left in graded and pair.right in graded]
    flagged = [pair for pair in pairs if pair.flagged]
    shown = flagged + [pair for pair in pairs if not pair.flagged][:TOP_UNFLAGGED_PAIRS]
    flags = _flags(outcomes)
    students = [Student(student_id, f"students/{index}.html", score, max_score, flags.get(student_id, ()),
                        sum(student_id in (pair.left, pair.right) for pair in flagged))
                for index, (student_id, score, max_score, *_) in enumerate(rows, 1)]
    by_id = {student.student_id: student for student in students}
    pair_rows = [_pair_row(pair, by_id, f"pairs/{index}.html" if index <= MAX_PAIR_PAGES else None) for index, pair in enumerate(shown, 1)]
    common = {"threshold": NEAR_IDENTICAL, "not_compared": sorted(graded - comparison.student_ids),
              "pages_capped": MAX_PAIR_PAGES if len(shown) > MAX_PAIR_PAGES else 0}
    stats = analyse(outcomes, _outputs(out_dir, graded))
    fractions = gradebook.score_fractions()
    _write(folder / "index.html", "index.html", root="", students=students, pairs=pair_rows, **common,
           mean=100 * statistics.fmean(fractions) if fractions else 0.0,
           median=100 * statistics.median(fractions) if fractions else 0.0,
           flagged_students=sum(bool(s.flags or s.similar) for s in students),
           histogram=_histogram(fractions), units=_units(gradebook.unit_fractions()),
           flag_rows=[(s, flag) for s in students for flag in s.flags], cases=stats, separating=best_separating(stats))
    for student in students:
        own = [row for row in pair_rows if student.student_id in (row.left, row.right)]
        _write(folder / student.page, "student.html", root="../", student=student, pairs=own, **common,
               feedback=_feedback(out_dir, student.student_id))
    for row, pair in zip(pair_rows, shown):
        if row.page:
            _write(folder / row.page, "pair.html", root="../", pair=row, matches=[_match_view(match, pair) for match in pair.matches])
    return folder / "index.html"


def _write(path, template, **context):
    path.write_text(_templates.get_template(template).render(**context), encoding="utf-8")


def _percent(fraction):
    return round(100 * fraction, 1)


def _flags(outcomes):
    """{student id: (Flag, ...)}: the units of each flagged outcome, in FLAGS' order."""
    units = {}
    for student, _, unit, _, _, _, category in outcomes:
        if category in FLAGS:
            found = units.setdefault(student, {}).setdefault(category, [])
            if unit not in found:
                found.append(unit)
    return {student: tuple(Flag(label, tuple(by_category[category])) for category, label in FLAGS.items() if category in by_category)
            for student, by_category in units.items()}


def _student_file(out_dir, student_id, name):
    """OUT/<student>/<name>, or None where it is missing or would lie outside OUT."""
    out_dir = Path(out_dir).resolve()
    path = (out_dir / student_id / name).resolve()
    return path if path.is_relative_to(out_dir) and path.is_file() else None


def _outputs(out_dir, students):
    """{(student id, case number): output} from each student's results.json (an unreadable one gives none)."""
    outputs = {}
    for student_id in sorted(students):
        path = _student_file(out_dir, student_id, "results.json")
        try:
            tests = json.loads(path.read_text(encoding="utf-8"))["tests"] if path else []
            outputs.update({(student_id, int(test["number"])): str(test["output"]) for test in tests})
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return outputs


def _feedback(out_dir, student_id):
    """The student's feedback.md as HTML (raw HTML in it escaped), or None where there is none."""
    path = _student_file(out_dir, student_id, "feedback.md")
    try:
        return Markup(_markdown(path.read_text(encoding="utf-8"))) if path else None  # mistune's output: escaped text and its own tags
    except (OSError, UnicodeDecodeError):
        return None


def _histogram(fractions, width=320, height=160, bins=10):
    """The SVG geometry of a histogram of `fractions` (0..1) in `bins` bins; the last bin holds 100%."""
    counts = [0] * bins
    for fraction in fractions:
        counts[min(bins - 1, max(0, int(fraction * bins)))] += 1
    top, bottom, step = 14, height - 16, width / bins
    scale = (bottom - top) / max(1, *counts)
    bars = [{"x": round(i * step + 1, 1), "y": round(bottom - count * scale, 1), "width": round(step - 2, 1),
             "height": round(count * scale, 1), "count": count, "label": f"{100 * i // bins}〜{100 * (i + 1) // bins}%"}
            for i, count in enumerate(counts)]
    ticks = [{"x": round(i * step, 1) if 0 < i < bins else (8 if i == 0 else width - 10), "label": f"{100 * i // bins}"} for i in range(bins + 1)]
    return {"width": width, "height": height, "bars": bars, "ticks": ticks}


def _units(unit_fractions):
    return [{"name": unit, "percent": _percent(share), "level": next(level for limit, level in LEVELS if 100 * share < limit)}
            for unit, share in unit_fractions]


def _pair_row(pair, by_id, page):
    return PairRow(pair.left, pair.right, by_id[pair.left].page, by_id[pair.right].page,
                   _percent(pair.shares[0]), _percent(pair.shares[1]), pair.identical, pair.flagged, page)


def _match_view(match, pair):
    sides = [{"student_id": student, "lines": _excerpt(text, spans)}
             for student, text, spans in ((pair.left, match.left, match.left_spans), (pair.right, match.right, match.right_spans))]
    return {"document": match.document, "percent": _percent(match.share), "sides": sides}


def _excerpt(text, spans):
    """The lines of `text` near its marked `spans`, each as [(piece, marked), ...]; None where lines are left out."""
    marked = bytearray(len(text))
    for start, end in spans:
        marked[start:end] = b"\x01" * (end - start)
    lines, start = [], 0
    for line in text.split("\n"):
        flags, pieces, offset = marked[start:start + len(line)], [], 0
        while offset < len(line):  # one piece per run of equally marked characters
            flag = flags[offset]
            end = flags.find(0 if flag else 1, offset)
            end = len(line) if end < 0 else end
            pieces.append((line[offset:end], bool(flag)))
            offset = end
        lines.append(pieces)
        start += len(line) + 1
    near = {i + d for i, line in enumerate(lines) if any(flag for _, flag in line) for d in range(-CONTEXT_LINES, CONTEXT_LINES + 1)}
    shown = []
    for i, line in enumerate(lines):
        if i in near:
            shown.append(line)
        elif not shown or shown[-1] is not None:
            shown.append(None)
    return shown
