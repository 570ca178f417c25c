"""Re-score stored results under a new rubric, from their recorded outcomes, without running any code again.

A rubric changes points only: a case that passed is worth its new points, one that failed is still
worth 0 of its new maximum, and every feedback text stays as it was. The gradebook keeps each
case's outcome and feedback and the submission's notes, so a stored submission is rebuilt as a
`SubmissionResult`, scored with the new points, and its `results.json` and `feedback.md` are
written again by the batch's own report writer (`write_reports`), then recorded: one gradebook and
its reports never mix two rubrics, and no student code runs for a rubric edit.

Chosen over grading those submissions again because the gradebook holds every student graded into
it, also those not among this run's inputs, whose files the run does not have. A stored result can
be re-scored only when its cases are exactly the catalog's (the same units and names, in order) and
their feedback was kept (a gradebook written before it was kept has none); any other is graded
again when its submission is among the inputs, and otherwise listed for the teacher.
"""

import json
import traceback

from autograder.grader.grading import CaseResult, SubmissionResult
from autograder.grader.rubric import fingerprint
from autograder.outputs.reports import write_reports


def rescored(submission, cases, points):
    """The stored result (`Gradebook.stored`) scored with `points` ((unit, case) -> points, in catalog order),
    or None when its cases are not exactly the catalog's or their feedback was not kept."""
    if [(case["unit"], case["name"]) for case in cases] != list(points) or any(case["output"] is None for case in cases):
        return None
    result = SubmissionResult(submission["student_id"], submission["content_hash"],
                              isolation=[p for p in submission["isolation"].split(",") if p],
                              problems=json.loads(submission["problems"]), execution_time=submission["execution_time"],
                              rubric=fingerprint(points))
    for case in cases:
        worth = points[case["unit"], case["name"]]
        result.cases.append(CaseResult(case["unit"], case["name"], worth if case["status"] == "passed" else 0.0, worth,
                                       case["status"], case["category"], case["output"]))
    return result


def rescore_stored(gradebook, points, out_dir, skip=()):
    """Re-score every stored result scored with points other than `points`, except those of the students in
    `skip` (about to be graded anyway); returns (the students re-scored, those whose stored result cannot be)."""
    done, left = [], []
    for student in gradebook.scored_under_another_rubric(fingerprint(points)):
        if student not in skip:
            (done if _rescore(gradebook, student, points, out_dir) else left).append(student)
    return done, left


def _rescore(gradebook, student, points, out_dir):
    """True when the student's stored result was re-scored, its reports written again and the new scores recorded."""
    try:
        result = rescored(*gradebook.stored(student), points)
        if result is None:
            return False
        write_reports(result, out_dir)
        gradebook.record(result)
        return True
    except Exception:  # a fault here costs only this student's re-scoring: graded again, or listed, instead
        traceback.print_exc()
        return False
