"""Gradescope's results.json for one graded submission, written for the student who reads it there.

Gradescope's spec (gradescope-autograders.readthedocs.io, "Autograder Specifications"): each test
has a `visibility` (`visible`, `after_due_date`, `after_published`, `hidden`), the top level has
a default `visibility` and a `stdout_visibility`, and instructors always see every test.

- Tests are named in Japanese after what each case checks (`softmax: dim=0 を指定したとき`) and
  tagged with their unit.
- `hidden_visibility` (`jisaku gradescope --hidden-visibility`) decides when a student sees a hidden
  case's expected values. `visible`: every test's output in full, at once. `after_due_date`
  (the default) and `hidden`: every test still shows its score, its status and what it checked
  at once, but the output of a mismatch (the only output that holds the reference's values) is
  withheld; the full output goes into a zero-point companion test, "（詳細）", whose visibility is
  `after_due_date` (students see it once the due date has passed) or `hidden` (instructors only).
  Gradescope hides the total from students while a test is not yet visible to them; the
  top-level output below still states it.
- The top-level `output` summarises the submission: the total, the units passed and failed,
  where to look, the notes about the submission, and its lateness (`lateness.py`). The sandbox's
  protections are for the teacher: they stay in `extra_data`, with the lateness.
- `stdout_visibility` is `hidden`: the log holds the grader's own tracebacks, for instructors.
"""

from autograder.outputs.gradescope import DEFAULT_HIDDEN_VISIBILITY
from autograder.outputs.lateness import shown_time
from autograder.outputs.reports import cases_by_unit, results_json, unit_status
from autograder.protocol.messages import Outcome


def gradescope_results(result, what, hidden_visibility=DEFAULT_HIDDEN_VISIBILITY, lateness=None):
    """results.json for `result`; `what` maps (unit, case name) to the Japanese of what the case checks,
    `lateness` is a lateness.Lateness or None (no metadata)."""
    results = results_json(result)
    results["tests"] = _tests(result, what, hidden_visibility, lateness)
    results["output"] = summary(result, hidden_visibility, lateness)
    results["visibility"] = "visible"
    results["stdout_visibility"] = "hidden"
    if lateness is not None:
        results["extra_data"].update(lateness.extra_data())
    return results


def _withholds(case, hidden_visibility):
    return hidden_visibility != "visible" and case.category == Outcome.MISMATCH.value


def _tests(result, what, hidden_visibility, lateness):
    tests = []
    for number, case in enumerate(result.cases, start=1):
        name = f"{case.unit}: {what[case.unit, case.case]}"
        test = {"name": name, "number": str(number), "score": case.score, "max_score": case.max_score,
                "status": case.status, "output": case.output, "visibility": "visible", "tags": [case.unit]}
        if not _withholds(case, hidden_visibility):
            tests.append(test)
            continue
        withheld = f"確かめたこと: {what[case.unit, case.case]}\n参照解の出力と一致しませんでした。{_when_shown(hidden_visibility, lateness)}"
        tests.append({**test, "output": withheld})
        tests.append({**test, "name": f"{name}（詳細）", "number": f"{number}.1", "score": 0.0, "max_score": 0.0,
                      "visibility": hidden_visibility})
    return tests


def _when_shown(hidden_visibility, lateness):
    if hidden_visibility == "hidden":
        return "期待値は公開されません。"
    due = f"（{shown_time(lateness.due_date)}）" if lateness is not None else ""
    return f"期待値を含む詳しい結果は、締め切り{due}の後に「（詳細）」のテストで表示されます。"


def summary(result, hidden_visibility=DEFAULT_HIDDEN_VISIBILITY, lateness=None):
    """The top-level output: what the student should know about the submission as a whole, in Japanese."""
    by_unit = cases_by_unit(result)
    failed = {unit: cases for unit, cases in by_unit.items() if any(case.status != "passed" for case in cases)}
    lines = [f"合計 {result.score:g} / {result.max_score:g} 点",
             f"すべてのケースに合格したユニット: {len(by_unit) - len(failed)} / {len(by_unit)}"]
    if failed:
        lines.append("うまくいかなかったユニット: " + "、".join(f"{unit}（{unit_status(cases)}）" for unit, cases in failed.items()))
        lines.append("ケースごとの結果と、よくある原因の手がかりは、下のテスト一覧（ユニット名で始まる名前）にあります。")
        if any(_withholds(case, hidden_visibility) for case in result.cases):
            lines.append(f"参照解と一致しなかったケースの{_when_shown(hidden_visibility, lateness)}")
    else:
        lines.append("すべてのケースに合格しました。")
    if result.problems:
        lines += ["", "提出物について:", *(f"- {problem}" for problem in result.problems)]
    late = lateness.line() if lateness is not None else None
    if late:
        lines += ["", late]
    return "\n".join(lines)
