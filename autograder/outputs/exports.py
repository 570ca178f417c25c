"""Grades out of the gradebook, one row per student: for a spreadsheet, for Moodle and for Canvas.

One row builder (`student_rows`) and one file writer (`write_table`, UTF-8 with a BOM) serve three
small table builders, one per format:

- `grades.csv`: student id, total, max score, then each unit's points in the catalog's order. The
  BOM is what Excel on Japanese Windows needs to read UTF-8 (without it the text is mojibake).
- `moodle.csv`, for Moodle's "Import grades from CSV": an identifier column `ID number` holding the
  student id, and one column per grade item: the assignment's total, titled with the assignment's
  name. On import, map `ID number` to the user field the ids are (useridnumber, username or
  useremail) and the assignment column to its grade item, or to a new one (whose maximum must be at
  least the max score). Moodle removes a BOM when it reads UTF-8 (`csv_import_reader`).
- `canvas.csv`, for Canvas's gradebook import: `Student, ID, SIS User ID, SIS Login ID, Section`,
  then the assignment, titled `Name (Canvas assignment id)` or just by name (Canvas then matches it by
  title, or creates it), with a `Points Possible` row under the header. Canvas finds a student by
  `ID` (its own user id), then `SIS User ID`, then `SIS Login ID`, then the name in `Student`; the
  student id goes in the column the teacher names (`SIS User ID` by default, a school's student
  number; `ID` when the ids are Canvas user ids, as in a download of Canvas submissions) and, for
  the import's preview, in `Student`. Canvas's importer (`GradebookImporter`) finds its header
  columns by pattern (`Student` anywhere in the first cell), so a BOM before it does not disturb it.

Numbers are plain decimals (`98`, `0.5`). Student ids come from intake (a plain name starting and
ending with a letter or digit), so no cell can start a spreadsheet formula.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ASSIGNMENT = "自作Transformer"
CANVAS_ID_COLUMNS = ("SIS User ID", "ID", "SIS Login ID")
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


@dataclass(frozen=True)
class StudentRow:
    student_id: str
    total: float
    max_score: float
    units: dict  # unit -> points, in the catalog's order


@dataclass(frozen=True)
class ExportSettings:
    assignment: str = DEFAULT_ASSIGNMENT  # the grade item's (Moodle) or assignment's (Canvas) name
    canvas_id_column: str = CANVAS_ID_COLUMNS[0]  # the Canvas column that holds the student id


def student_rows(gradebook):
    """One StudentRow per submission in `gradebook`, by student id; the total is the sum of the units' points."""
    units_of = {}
    for student, unit, points, max_points in gradebook.unit_points():
        units_of.setdefault(student, []).append((unit, points, max_points))
    return [StudentRow(student, round(sum(points for _, points, _ in units), 6), round(sum(full for *_, full in units), 6),
                       {unit: points for unit, points, _ in units})
            for student, units in units_of.items()]


def number(value):
    """`value` as a plain decimal: 98.0 -> "98", 0.25 -> "0.25"."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def grades_table(rows, settings):
    units = list(dict.fromkeys(unit for row in rows for unit in row.units))
    table = [["student_id", "total", "max_score", *units]]
    for row in rows:
        table.append([row.student_id, number(row.total), number(row.max_score),
                      *(number(row.units[unit]) if unit in row.units else "" for unit in units)])
    return table


def moodle_table(rows, settings):
    return [["ID number", settings.assignment], *([row.student_id, number(row.total)] for row in rows)]


def canvas_table(rows, settings):
    id_at = CANVAS_STUDENT_COLUMNS.index(settings.canvas_id_column)
    possible = max((row.max_score for row in rows), default=0.0)  # the same for every row: one gradebook, one rubric
    table = [[*CANVAS_STUDENT_COLUMNS, settings.assignment], ["Points Possible", "", "", "", "", number(possible)]]
    for row in rows:
        student = [row.student_id, "", "", "", ""]
        student[id_at] = row.student_id
        table.append([*student, number(row.total)])
    return table


FORMATS = {"grades": ("grades.csv", grades_table), "moodle": ("moodle.csv", moodle_table), "canvas": ("canvas.csv", canvas_table)}


def write_table(table, path):
    """Write `table` (a list of rows) as CSV in UTF-8 with a BOM, CRLF line ends as spreadsheets expect."""
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        csv.writer(handle).writerows(table)


def write_exports(gradebook, out_dir, formats=tuple(FORMATS), settings=ExportSettings()):
    """Write the files of `formats` (names of FORMATS) into `out_dir` from `gradebook`; returns their paths."""
    rows = student_rows(gradebook)
    paths = []
    for name in formats:
        file_name, table = FORMATS[name]
        path = Path(out_dir) / file_name
        write_table(table(rows, settings), path)
        paths.append(path)
    return paths
