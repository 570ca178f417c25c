"""The grader on the bundled examples and on a catalog of classic bugs: each bug costs points in its own unit only."""

import json
import shutil
import sqlite3
import subprocess
import sys

import nbformat
import pytest

from autograder.grader.batch import GRADEBOOK, SUMMARY_PLOT, grade_batch
from autograder.outputs.gradebook import Gradebook
from autograder.authoring.examples import EXAMPLES, build_example
from autograder.authoring.mutants import FAST, MUTANTS, VARIANTS
from autograder.grader.catalog import Catalog, load_rubric
from autograder.grader.grading import Grader
from autograder.grader.hidden_tests import all_units
from autograder.paths import ASSIGNMENTS, NOTEBOOK, SOLUTIONS

# The fast subset of the grader's mutants (one student bug each; `bench/grader_mutations.py` grades them all),
# and every correct answer in another style.
FAST_MUTANTS = [mutant for mutant in MUTANTS if mutant.name in FAST]


def _units_with_lost_points(results):
    return {test["tags"][0] for test in results["tests"] if test["score"] < test["max_score"]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every bundled example, the fast mutants and the correct variants, graded in one batch with two workers."""
    folder = tmp_path_factory.mktemp("submissions")
    for example in [*EXAMPLES, *VARIANTS, *(mutant.example() for mutant in FAST_MUTANTS)]:
        build_example(example, folder / example.name)
    out = tmp_path_factory.mktemp("out")
    rows = grade_batch([folder], out, jobs=2, progress=False)
    results = {row[0]: json.loads((out / row[0] / "results.json").read_text(encoding="utf-8")) for row in rows}
    return folder, out, results


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_each_example_loses_points_only_in_its_units(graded, example):
    results = graded[2][example.name]
    assert _units_with_lost_points(results) == set(example.expected_failures)
    if not example.expected_failures:
        assert results["score"] == results["max_score"] > 0


@pytest.mark.slow
def test_the_untouched_skeleton_scores_nothing(tmp_path):
    """Points come only from the student's own work, never from what the kit hands out."""
    shutil.copytree(ASSIGNMENTS / "transformer", tmp_path / "subs" / "skeleton" / "transformer")  # the released stubs
    shutil.copy(ASSIGNMENTS / NOTEBOOK, tmp_path / "subs" / "skeleton" / NOTEBOOK)
    grade_batch([tmp_path / "subs"], tmp_path / "out", progress=False)
    results = json.loads((tmp_path / "out" / "skeleton" / "results.json").read_text(encoding="utf-8"))
    assert results["score"] == 0, [t["name"] for t in results["tests"] if t["score"]]


@pytest.mark.slow
@pytest.mark.parametrize("mutant", FAST_MUTANTS, ids=[m.name for m in FAST_MUTANTS])
def test_a_realistic_bug_is_caught_in_its_own_unit_only(graded, mutant):
    assert _units_with_lost_points(graded[2][mutant.name]) == {mutant.unit}


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_a_correct_answer_in_another_style_keeps_every_point(graded, variant):
    results = graded[2][variant.name]
    assert results["score"] == results["max_score"], [t["name"] for t in results["tests"] if t["score"] < t["max_score"]]


@pytest.mark.slow
def test_cheating_gains_nothing_and_sees_nothing(graded):
    results = graded[2]["cheating"]
    attention = [t for t in results["tests"] if t["tags"] == ["scaled_dot_product_attention"]]
    assert attention and all(t["score"] == 0 and "使えない" in t["output"] and "scaled_dot_product_attention" in t["output"] for t in attention)
    text = json.dumps(results, ensure_ascii=False)
    assert "BEGIN SOLUTION" not in text and "score: 100" not in text


@pytest.mark.slow
def test_results_follow_gradescope_schema(graded):
    for results in graded[2].values():
        assert {"score", "max_score", "execution_time", "tests"} <= results.keys()
        assert "隔離" in results["output"]
        for number, test in enumerate(results["tests"], 1):
            assert test.keys() >= {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"}
            assert test["name"].startswith(test["tags"][0] + ": ") and test["number"] == str(number)
            assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")


@pytest.mark.slow
def test_feedback_explains_each_failure_in_japanese(graded):
    feedback = (graded[1] / "bug_softmax_axis" / "feedback.md").read_text(encoding="utf-8")
    assert "確かめたこと" in feedback and "よくある原因" in feedback and "最大の差" in feedback
    assert "softmax の軸が違う" in feedback


@pytest.mark.slow
def test_sandbox_reports_its_protections(graded):
    isolation = graded[2]["perfect"]["output"]
    assert "rlimit" in isolation or "上限" in isolation


@pytest.mark.slow
def test_unchanged_submissions_are_skipped_and_regrade_is_deterministic(graded, tmp_path):
    folder, out, results = graded
    database = out / GRADEBOOK
    before = sqlite3.connect(database).execute("SELECT student_id, execution_time FROM submissions").fetchall()
    grade_batch([folder / "perfect", folder / "bug_softmax_axis"], out, jobs=1, progress=False)
    assert sqlite3.connect(database).execute("SELECT student_id, execution_time FROM submissions").fetchall() == before
    grade_batch([folder / "perfect", folder / "bug_softmax_axis"], out, jobs=1, regrade=True, progress=False)
    for name in ("perfect", "bug_softmax_axis"):
        again = json.loads((out / name / "results.json").read_text(encoding="utf-8"))
        assert {**again, "execution_time": 0} == {**results[name], "execution_time": 0}
    assert sqlite3.connect(database).execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.slow
def test_csv_has_a_row_per_submission_and_case(graded):
    lines = (graded[1] / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    cases = sum(len(unit.cases) for unit in all_units())
    assert len(lines) == 1 + cases * len(graded[2])


@pytest.mark.slow
def test_the_summary_shows_exactly_the_units_someone_lost_points_in(graded):
    assert (graded[1] / SUMMARY_PLOT).read_bytes().startswith(b"\x89PNG")
    shares = dict(Gradebook(graded[1] / GRADEBOOK).unit_fractions())
    broken = set().union(*(e.expected_failures for e in EXAMPLES), {mutant.unit for mutant in FAST_MUTANTS})
    assert {unit for unit, share in shares.items() if share < 1} == broken
    assert list(shares) == [unit.name for unit in all_units()]


@pytest.mark.slow
def test_the_summary_draws_japanese_without_font_warnings(graded, tmp_path):
    """In a fresh process: matplotlib caches font lookups, so this process could not warn twice."""
    draw = ("import sys; from pathlib import Path; from autograder.outputs.gradebook import Gradebook; from autograder.outputs.plots import plot_batch; "
            "plot_batch(Gradebook(Path(sys.argv[1])), Path(sys.argv[2]))")
    run = subprocess.run([sys.executable, "-W", "always", "-c", draw, str(graded[1] / GRADEBOOK), str(tmp_path / "summary.png")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert not [line for line in run.stderr.splitlines() if "font" in line.lower()]  # findfont, "Glyph … missing from font"


def test_rubric_names_exactly_the_catalog_cases():
    rubric = load_rubric()
    catalog = {unit.name: {case.name for case in unit.cases} for unit in all_units()}
    assert {unit: set(cases) for unit, cases in rubric.items()} == catalog


def test_every_mutant_edits_code_and_every_unit_has_mutants():
    """A mutant's edit must change the code it means to (the first match is what is replaced), not a comment."""
    notebook = nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4)
    cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source for cell in notebook.cells}
    for mutant in MUTANTS:
        for edit in mutant.edits:
            text = cells[edit.file.removeprefix("cell:")] if edit.file.startswith("cell:") else (SOLUTIONS / edit.file).read_text(encoding="utf-8")
            at = text.index(edit.old)
            line = text[text.rfind("\n", 0, at) + 1:]
            assert not line.lstrip().startswith("#"), f"{mutant.name} edits a comment"
    assert len(MUTANTS) >= 80 and {m.unit for m in MUTANTS} == {unit.name for unit in all_units()}


def test_every_unit_has_at_least_three_cases():
    thin = [unit.name for unit in all_units() if len(unit.cases) < 3]
    assert not thin


@pytest.fixture(scope="module")
def grader():
    return Grader(Catalog())


def _case(catalog, unit_name, case_name):
    unit = next(u for u in catalog.units if u.name == unit_name)
    index = next(i for i, c in enumerate(unit.cases) if c.name == case_name)
    return unit, index, unit.cases[index]


def test_a_precision_loss_is_not_blamed_on_the_dtype(grader):
    unit, index, case = _case(grader.catalog, "softmax", "float64")
    expected = grader.catalog.expected[unit.name, index]
    message = grader._judge(unit, index, case, {"ok": True, "outputs": expected + 1e-7}).output
    assert "値が違います" in message and "よくある原因" not in message and "float32 に変換" not in message
    message = grader._judge(unit, index, case, {"ok": True, "outputs": expected.float()}).output
    assert "dtype が違います" in message and "float32 に変換" in message


def test_an_exception_is_shown_as_it_was_with_a_hint_only_where_it_applies(grader):
    unit, index, case = _case(grader.catalog, "split_heads", "B=2, L=3, D=20, H=4")
    outcome = {"ok": False, "kind": "exception", "error": "NameError", "message": "name 'torch' is not defined", "where": "<cell split_heads>:5"}
    message = grader._judge(unit, index, case, outcome).output
    assert "NameError: name 'torch' is not defined" in message and "import を忘れていないか" in message
    assert case.cause not in message
