"""The rubric: checked against the catalog when loaded, and part of what decides whether a stored result is re-scored."""

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest

from autograder import cli
from autograder.authoring.examples import EXAMPLES, build_example
from autograder.grader import batch
from autograder.grader.batch import GRADEBOOK, REFUSED, grade_batch
from autograder.grader.rubric import RUBRIC, RubricError, applied_points, load_rubric
from autograder.grader.hidden_tests import all_units
from autograder.paths import ROOT

KIT_RUBRIC = RUBRIC.read_text(encoding="utf-8")


def _rubric(tmp_path, *replacements):
    """The kit's rubric with `(old line, new line)` replacements, written to a temporary file."""
    text = KIT_RUBRIC
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "rubric.toml"
    path.write_text(text, encoding="utf-8")
    return path


BROKEN = [('"size 4" = 1', '"size  4" = 1'), ("[gelu]", "[Gelu]"), ('"dim=0" = 1', '"dim=0" = -3'), ('"last axis" = 1', '"last axis" = "two"'),
          ('"float64, length 1" = 1', '"float64, length 1" = true'), ('"other sizes" = 1', '"other sizes" = nan')]


def test_every_problem_of_a_rubric_is_listed_with_its_section_and_key(tmp_path):
    with pytest.raises(RubricError) as raised:
        load_rubric(_rubric(tmp_path, *BROKEN))
    message = str(raised.value)
    assert len(raised.value.problems) == len(BROKEN)
    for where in ('[make_causal_mask] "size  4"', "[Gelu]", '[softmax] "dim=0" = -3', "[softmax] \"last axis\" = 'two'",
                  '[split_heads] "float64, length 1" = True', '[count_parameters] "other sizes" = nan'):
        assert where in message, where
    assert "問題があります" in message and "problem(s)" in message  # Japanese and English
    assert "'size 4'" in message and "'gelu'" in message  # the name probably meant


def test_a_rubric_that_is_not_toml_is_a_rubric_error(tmp_path):
    with pytest.raises(RubricError, match="TOML"):
        load_rubric(_rubric(tmp_path, ('"dim=0" = 1', '"dim=0" = two')))


def test_zero_points_are_allowed_and_a_case_left_out_is_worth_one(tmp_path):
    rubric = load_rubric(_rubric(tmp_path, ('"dim=0" = 1', '"dim=0" = 0'), ('"last axis" = 1\n', "")))
    points = applied_points(rubric, all_units())
    assert points["softmax", "dim=0"] == 0.0 and points["softmax", "last axis"] == 1.0


def test_jisaku_grade_refuses_a_broken_rubric_with_the_message_and_no_traceback(tmp_path):
    (tmp_path / "subs" / "s1").mkdir(parents=True)
    completed = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"),
                                "--rubric", str(_rubric(tmp_path, *BROKEN))], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert "[Gelu]" in completed.stderr and "配点ファイル" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()  # nothing graded, nothing written


def test_jisaku_demo_stops_with_the_rubric_message(monkeypatch, capsys):
    from autograder.authoring import examples, release

    def broken(*args, **kwargs):
        raise RubricError("rubric.toml", ["[Gelu]: そのような採点ユニットはありません / no such unit"])

    monkeypatch.setattr(release, "release", lambda: [])  # the demo's other steps are not what this test is about
    monkeypatch.setattr(examples, "build_examples", lambda folder: None)
    monkeypatch.setattr(batch, "grade_batch", broken)
    assert cli.main(["demo"]) == 2
    assert "[Gelu]" in capsys.readouterr().err


# --- a rubric edit re-scores every stored result ----------------------------------------------

CHANGES = [('"size 4" = 1', '"size 4" = 5'),  # make_causal_mask: both examples pass it (+4 each)
           ('"no mask, Lq != Lk" = 1', '"no mask, Lq != Lk" = 3')]  # scaled_dot_product_attention: the softmax bug fails it
EXTRA_MAX = 4 + 2


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Two examples graded with the kit's rubric: the reference and a bug in scaled_dot_product_attention."""
    folder = tmp_path_factory.mktemp("submissions")
    for example in (EXAMPLES[0], next(e for e in EXAMPLES if e.name == "bug_softmax_axis")):
        build_example(example, folder / example.name)
    out = tmp_path_factory.mktemp("out")
    rows = grade_batch([folder], out, progress=False)
    return folder, out, {row[0]: row[1:3] for row in rows}


def _copy(graded, tmp_path):
    folder, out, before = graded
    shutil.copytree(out, tmp_path / "out")
    return folder, tmp_path / "out", before


def _stored(out):
    return sqlite3.connect(out / GRADEBOOK).execute("SELECT student_id, score, max_score, execution_time FROM submissions ORDER BY student_id").fetchall()


@pytest.mark.slow
def test_a_rubric_edit_rescores_everyone_from_the_stored_outcomes_without_running_code(graded, tmp_path, monkeypatch):
    folder, out, before = _copy(graded, tmp_path)
    timings = {student: time for student, _, _, time in _stored(out)}

    def no_sandbox(*args, **kwargs):
        raise AssertionError("a rubric edit must not run any code")

    monkeypatch.setattr(batch, "SandboxPool", no_sandbox)
    rows = grade_batch([folder / "perfect"], out, progress=False, rubric=_rubric(tmp_path, *CHANGES))  # no --regrade
    assert before["perfect"][0] == before["perfect"][1]
    expected = {"perfect": (before["perfect"][0] + EXTRA_MAX, before["perfect"][1] + EXTRA_MAX),
                "bug_softmax_axis": (before["bug_softmax_axis"][0] + 4, before["bug_softmax_axis"][1] + EXTRA_MAX)}
    assert {row[0]: row[1:3] for row in rows} == expected
    assert {student: (score, full) for student, score, full, _ in _stored(out)} == expected
    assert {student: time for student, *_, time in _stored(out)} == timings  # nothing graded again
    for student, (score, full) in expected.items():  # the reports too, also of the student not among the inputs
        results = json.loads((out / student / "results.json").read_text(encoding="utf-8"))
        assert (results["score"], results["max_score"]) == (score, full)
        assert f"合計 {score:g} / {full:g} 点" in (out / student / "feedback.md").read_text(encoding="utf-8")
    grades = (out / "grades.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    assert sorted(line.split(",")[1:3] for line in grades) == sorted([f"{s:g}", f"{f:g}"] for s, f in expected.values())


@pytest.mark.slow
def test_regrading_one_student_after_a_rubric_edit_leaves_one_rubric_in_the_gradebook(graded, tmp_path):
    folder, out, before = _copy(graded, tmp_path)
    grade_batch([folder / "bug_softmax_axis"], out, regrade=True, progress=False, rubric=_rubric(tmp_path, *CHANGES))
    assert {full for _, _, full, _ in _stored(out)} == {before["perfect"][1] + EXTRA_MAX}


@pytest.mark.slow
def test_a_stored_result_that_cannot_be_rescored_is_graded_again_or_listed(graded, tmp_path, capfd):
    folder, out, before = _copy(graded, tmp_path)
    with sqlite3.connect(out / GRADEBOOK) as connection:  # as a gradebook written before the feedback was kept
        connection.execute("UPDATE cases SET output = NULL")
    rows = grade_batch([folder / "perfect"], out, progress=False, rubric=_rubric(tmp_path, *CHANGES))
    assert "Traceback" not in capfd.readouterr().err  # an older gradebook is expected, not a fault
    scores = {row[0]: row[1:3] for row in rows}
    assert scores["perfect"] == (before["perfect"][0] + EXTRA_MAX,) * 2  # graded again: its submission was an input
    assert scores["bug_softmax_axis"] == before["bug_softmax_axis"]  # not an input: kept, and listed for the teacher
    refused = (out / REFUSED).read_text(encoding="utf-8")
    assert "bug_softmax_axis" in refused and "perfect" not in refused
