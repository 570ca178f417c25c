"""The batch gradebook: SQLite, one row per submission and case, written per submission in one transaction.

It keeps what the reports are made from (each case's outcome and feedback, the submission's notes), so
that a new rubric re-scores every stored submission without running any code (`grader/rescore.py`).
"""

import csv
import json
import sqlite3
from pathlib import Path

from autograder.protocol.messages import Outcome

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    student_id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    isolation TEXT NOT NULL,
    execution_time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    student_id TEXT NOT NULL REFERENCES submissions(student_id),
    number INTEGER NOT NULL,
    unit TEXT NOT NULL,
    name TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    status TEXT NOT NULL,
    category TEXT NOT NULL,
    PRIMARY KEY (student_id, number)
);
"""
COLUMNS_ADDED_LATER = [  # added to every gradebook that lacks them, so that one written before still opens
    ("submissions", "rubric", "TEXT NOT NULL DEFAULT ''"),  # the fingerprint of the points applied (grader/rubric.py)
    ("submissions", "problems", "TEXT NOT NULL DEFAULT '[]'"),  # the notes about the submission, a JSON list
    ("cases", "output", "TEXT"),  # the case's feedback; NULL where the gradebook did not keep it yet
]


class Gradebook:
    def __init__(self, path):
        self.path = Path(path)
        self.connection = sqlite3.connect(self.path)
        self.connection.executescript(SCHEMA)
        for table, column, declaration in COLUMNS_ADDED_LATER:
            if column not in {row[1] for row in self.connection.execute(f"PRAGMA table_info({table})")}:
                self.connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def graded_hash(self, student_id):
        row = self.connection.execute("SELECT content_hash FROM submissions WHERE student_id = ?", (student_id,)).fetchone()
        return row[0] if row else None

    def record(self, result):
        """Replace the submission's rows atomically: a crash leaves the old rows or the new, never half.

        A submission the grader itself failed on is recorded without its content hash, so the next
        run grades it again instead of skipping it as unchanged.
        """
        grader_failed = any(case.category == Outcome.GRADER_ERROR.value for case in result.cases)
        content_hash = "" if grader_failed else result.content_hash
        with self.connection:
            self.connection.execute("DELETE FROM cases WHERE student_id = ?", (result.student_id,))
            self.connection.execute("DELETE FROM submissions WHERE student_id = ?", (result.student_id,))
            self.connection.execute(
                "INSERT INTO submissions (student_id, content_hash, score, max_score, isolation, execution_time, rubric, problems) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (result.student_id, content_hash, result.score, result.max_score, ",".join(result.isolation), result.execution_time,
                 result.rubric, json.dumps(result.problems, ensure_ascii=False)),
            )
            self.connection.executemany(
                "INSERT INTO cases (student_id, number, unit, name, score, max_score, status, category, output) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(result.student_id, n, c.unit, c.case, c.score, c.max_score, c.status, c.category, c.output) for n, c in enumerate(result.cases, 1)],
            )

    def scored_under_another_rubric(self, rubric):
        """The students whose stored result was scored with points other than those of fingerprint `rubric`."""
        return [student for (student,) in self.connection.execute(
            "SELECT student_id FROM submissions WHERE rubric != ? ORDER BY student_id", (rubric,))]

    def stored(self, student_id):
        """The student's recorded submission row and its case rows, in order, as sqlite3.Row objects
        (a case's `output` is None where the gradebook did not keep it yet)."""
        cursor = self.connection.cursor()
        cursor.row_factory = sqlite3.Row
        submission = cursor.execute("SELECT * FROM submissions WHERE student_id = ?", (student_id,)).fetchone()
        cases = cursor.execute("SELECT * FROM cases WHERE student_id = ? ORDER BY number", (student_id,)).fetchall()
        return submission, cases

    def grader_failures(self):
        """The students whose grading the grader itself failed on (not their fault)."""
        return [student for (student,) in self.connection.execute(
            "SELECT DISTINCT student_id FROM cases WHERE category = ? ORDER BY student_id", (Outcome.GRADER_ERROR.value,))]

    def protections(self):
        """The distinct sets of protections the batch's submissions were graded under."""
        return [tuple(filter(None, text.split(","))) for (text,) in self.connection.execute("SELECT DISTINCT isolation FROM submissions ORDER BY isolation")]

    def rows(self):
        """(student id, score, max score, failed units, units with forbidden use) per submission, by student id."""
        rows = []
        for student_id, score, max_score in self.connection.execute("SELECT student_id, score, max_score FROM submissions ORDER BY student_id"):
            failed = self._units(student_id, "status != 'passed'")
            rows.append((student_id, score, max_score, failed, self._units(student_id, f"category = '{Outcome.FORBIDDEN.value}'")))
        return rows

    def _units(self, student_id, condition):
        return [u for (u,) in self.connection.execute(
            f"SELECT unit FROM cases WHERE student_id = ? AND {condition} GROUP BY unit ORDER BY MIN(number)", (student_id,))]

    def score_fractions(self):
        """Each submission's score as a fraction of its maximum."""
        return [score / max_score if max_score else 0.0
                for score, max_score in self.connection.execute("SELECT score, max_score FROM submissions ORDER BY student_id")]

    def unit_fractions(self):
        """(unit, fraction of its points earned over all submissions), in the catalog's order."""
        return self.connection.execute(
            "SELECT unit, SUM(score) / SUM(max_score) FROM cases GROUP BY unit HAVING SUM(max_score) > 0 ORDER BY MIN(number)").fetchall()

    def unit_points(self):
        """(student id, unit, points, max points) per submission and unit, by student id and in the catalog's order."""
        return self.connection.execute(
            "SELECT student_id, unit, ROUND(SUM(score), 6), ROUND(SUM(max_score), 6) FROM cases "
            "GROUP BY student_id, unit ORDER BY student_id, MIN(number)").fetchall()

    def outcomes(self):
        """(student id, case number, unit, case name, score, max score, category) per submission and case, in order."""
        return self.connection.execute(
            "SELECT student_id, number, unit, name, score, max_score, category FROM cases ORDER BY student_id, number").fetchall()

    def export_csv(self, path):
        """One row per submission and case."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["student_id", "content_hash", "unit", "case", "score", "max_score", "status", "category"])
            writer.writerows(self.connection.execute(
                "SELECT c.student_id, s.content_hash, c.unit, c.name, c.score, c.max_score, c.status, c.category "
                "FROM cases c JOIN submissions s USING (student_id) ORDER BY c.student_id, c.number"))

    def close(self):
        self.connection.close()
