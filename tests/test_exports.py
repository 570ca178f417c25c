"""Per-student grade exports (grades.csv, Moodle, Canvas), read back with the csv module."""

import codecs
import csv

import pytest

from autograder import cli
from autograder.grader.grading import CaseResult, SubmissionResult
from autograder.outputs.exports import write_exports
from autograder.outputs.gradebook import Gradebook

# student id -> (unit, case, points earned, points possible), in catalog order; Japanese ids on purpose
CLASS = {
    "田中太郎": [("softmax", "last axis", 1.0, 1.0), ("softmax", "dim=0", 0.0, 2.0), ("gelu", "float64", 0.5, 0.5)],
    "学生-02": [("softmax", "last axis", 1.0, 1.0), ("softmax", "dim=0", 2.0, 2.0), ("gelu", "float64", 0.0, 0.5)],
    "s003": [("softmax", "last axis", 0.0, 1.0), ("softmax", "dim=0", 0.0, 2.0), ("gelu", "float64", 0.0, 0.5)],
}
TOTALS = {"田中太郎": "1.5", "学生-02": "3", "s003": "0"}  # worked out by hand from CLASS
UNIT_POINTS = {"田中太郎": ["1", "0.5"], "学生-02": ["3", "0"], "s003": ["0", "0"]}


@pytest.fixture
def graded(tmp_path):
    gradebook = Gradebook(tmp_path / "gradebook.sqlite")
    for student, cases in CLASS.items():
        result = SubmissionResult(student, "hash")
        result.cases = [CaseResult(unit, case, got, full, "passed" if got == full else "failed", "passed", "") for unit, case, got, full in cases]
        gradebook.record(result)
    yield gradebook, tmp_path
    gradebook.close()


def _read(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))


def test_grades_csv_has_a_bom_and_one_row_per_student_whose_total_is_its_units_sum(graded):
    gradebook, out = graded
    write_exports(gradebook, out, ["grades"])
    assert (out / "grades.csv").read_bytes().startswith(codecs.BOM_UTF8)  # Excel on Japanese Windows reads UTF-8 only with it
    header, *rows = _read(out / "grades.csv")
    assert header == ["student_id", "total", "max_score", "softmax", "gelu"]  # the units in catalog order
    assert sorted(row[0] for row in rows) == sorted(CLASS)  # one row per student, Japanese ids intact
    for student, total, max_score, *units in rows:
        assert total == TOTALS[student] and max_score == "3.5" and units == UNIT_POINTS[student]
        assert float(total) == sum(map(float, units))


def test_moodle_csv_has_an_identifier_and_the_assignment_column(graded):
    gradebook, out = graded
    write_exports(gradebook, out, ["moodle"])
    header, *rows = _read(out / "moodle.csv")
    assert header == ["ID number", "自作Transformer"]
    assert dict(rows) == TOTALS


def test_canvas_csv_has_the_student_columns_a_points_possible_row_and_the_id_where_asked(graded):
    gradebook, out = graded
    assert cli.main(["export", str(out), "--format", "canvas", "--assignment", "課題 1 (123)", "--canvas-id-column", "ID"]) == 0
    header, possible, *rows = _read(out / "canvas.csv")
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "課題 1 (123)"]
    assert possible == ["Points Possible", "", "", "", "", "3.5"]
    assert {row[1]: row[5] for row in rows} == TOTALS and all(row[0] == row[1] and row[2] == "" for row in rows)
    assert not (out / "grades.csv").exists()  # only the format asked for


def test_export_without_a_gradebook_says_so(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path)]) == 2
    assert "成績簿" in capsys.readouterr().err
    assert not (tmp_path / "gradebook.sqlite").exists()
