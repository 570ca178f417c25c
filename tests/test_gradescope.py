"""The Gradescope autograder zip, and run_autograder on a simulated /autograder tree."""

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.outputs import gradescope
from autograder.authoring.examples import EXAMPLES, build_example
from autograder.grader.grading import CaseResult, SubmissionResult
from autograder.outputs.gradescope_results import gradescope_results
from autograder.outputs.lateness import read_lateness
from autograder.paths import ROOT, SOLUTIONS
from autograder.grader.submissions import Submission

TEST_KEYS = {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"}


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    return gradescope.build_autograder_zip(tmp_path_factory.mktemp("zip") / "autograder.zip")


def _gradescope_tree(tmp_path, autograder_zip):
    """/autograder as Gradescope lays it out: source/ unpacked from the zip, run_autograder copied up."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    return root


def _run_autograder(root, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(
        AUTOGRADER_ROOT=str(root),
        JISAKU_VENV=str(tmp_path / "no-venv"),  # use the test's interpreter, not a venv setup.sh made
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    completed = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def _check_schema(results):
    assert {"score", "max_score", "execution_time", "tests"} <= results.keys()
    assert results["tests"]
    for test in results["tests"]:
        assert TEST_KEYS <= test.keys()
        assert test["status"] in ("passed", "failed")


# --- the zip ------------------------------------------------------------------------------------


def test_zip_is_deterministic(tmp_path, autograder_zip):
    again = gradescope.build_autograder_zip(tmp_path / "again.zip")
    assert again.read_bytes() == autograder_zip.read_bytes()


def test_zip_holds_the_scripts_and_the_kit_source(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    names = list(infos)
    assert names == sorted(names)
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[script].external_attr >> 16) & 0o111 == 0o111, script
    for required in ("pyproject.toml", "constraints.txt", "README.md", "autograder/grader/hidden_tests.py",
                     "autograder/grader/rubric.toml", "autograder/outputs/gradescope.py", "autograder/sandbox/zygote.py", "autograder/standins/__init__.py",
                     "solutions/transformer/attention.py", "solutions/00_pytorch_basics.ipynb"):
        assert required in infos, required
    assert {info.date_time for info in infos.values()} == {gradescope.ZIP_TIMESTAMP}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/." in n or n.startswith(".")]
    assert not [n for n in names if n.startswith(("tests/", ".venv/", "build/", "assignments/", "bench/"))]


def test_scripts_are_valid_bash_and_install_the_pinned_cpu_torch(tmp_path):
    for name, text in (("setup.sh", gradescope.SETUP_SH), ("run_autograder", gradescope.run_autograder_script())):
        (tmp_path / name).write_text(text)
        subprocess.run(["bash", "-n", str(tmp_path / name)], check=True)
    assert "-c \"$SOURCE/constraints.txt\"" in gradescope.SETUP_SH
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in gradescope.SETUP_SH
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().splitlines()
    assert 'python -m autograder.outputs.gradescope run --root "$ROOT"' in gradescope.RUN_AUTOGRADER


def test_the_hidden_visibility_option_reaches_every_run(tmp_path, monkeypatch):
    built = gradescope.build_autograder_zip(tmp_path / "hidden.zip", "hidden")
    with zipfile.ZipFile(built) as archive:
        script = archive.read("run_autograder").decode()
    assert 'run --root "$ROOT" --hidden-visibility hidden\n' in script
    with pytest.raises(ValueError):
        gradescope.build_autograder_zip(tmp_path / "typo.zip", "after_due")
    seen = {}

    def grade_folder(folder, hidden_visibility, lateness):
        seen.update(visibility=hidden_visibility, lateness=lateness)
        return {"score": 0.0, "tests": []}

    monkeypatch.setattr(gradescope, "grade_folder", grade_folder)
    _metadata(tmp_path, created_at="2026-05-01T10:00:00+09:00", due_date="2026-05-01T09:00:00+09:00")
    assert gradescope.main(["run", "--root", str(tmp_path), "--hidden-visibility", "hidden"]) == 0
    assert seen["visibility"] == "hidden" and seen["lateness"].late


# --- results.json for the student ----------------------------------------------------------------

WHAT = {("softmax", "last axis"): "最後の次元での softmax", ("softmax", "dim=0"): "dim=0 を指定したとき",
        ("gelu", "range -6..6"): "GELU（erf を使う厳密な形）"}
MISMATCH = "確かめたこと: dim=0 を指定したとき\n戻り値: 値が違います。最大の差 0.5（位置 (0, 1)、期待 0.731059、実際 0.231059）、許容 1e-05。"
EXCEPTION = "確かめたこと: GELU（erf を使う厳密な形）\n実行中に例外が起きました: NameError: name 'erf' is not defined"


def _result():
    result = SubmissionResult("submission", "hash", isolation=["rlimits"], problems=["ノートブックの名前が違いました。"])
    result.cases = [CaseResult("softmax", "last axis", 1.0, 1.0, "passed", "passed", ""),
                    CaseResult("softmax", "dim=0", 0.0, 2.0, "failed", "mismatch", MISMATCH),
                    CaseResult("gelu", "range -6..6", 0.0, 1.0, "failed", "exception", EXCEPTION)]
    return result


def _metadata(root, created_at, due_date, users=()):
    path = root / "submission_metadata.json"
    path.write_text(json.dumps({"created_at": created_at, "assignment": {"due_date": due_date}, "users": list(users)}), encoding="utf-8")
    return path


@pytest.mark.parametrize("visibility", ["after_due_date", "hidden"])
def test_a_hidden_case_shows_its_score_at_once_and_its_expected_values_only_when_allowed(visibility):
    tests = gradescope_results(_result(), WHAT, visibility)["tests"]
    mismatch, details = [t for t in tests if t["tags"] == ["softmax"] and "dim=0" in t["name"]]
    assert (mismatch["score"], mismatch["max_score"], mismatch["status"], mismatch["visibility"]) == (0.0, 2.0, "failed", "visible")
    assert "期待 0.731059" not in mismatch["output"] and "dim=0 を指定したとき" in mismatch["output"]
    assert details["output"] == MISMATCH and details["visibility"] == visibility and details["max_score"] == 0.0
    exception = next(t for t in tests if t["tags"] == ["gelu"])
    assert exception["output"] == EXCEPTION and exception["visibility"] == "visible"  # the student's own error holds no expected value
    assert sum(t["score"] for t in tests) == 1.0 and sum(t["max_score"] for t in tests) == 4.0


def test_visible_shows_every_output_at_once_under_japanese_names():
    results = gradescope_results(_result(), WHAT, "visible")
    assert [t["name"] for t in results["tests"]] == [f"{unit}: {what}" for (unit, _), what in WHAT.items()]
    assert [t["output"] for t in results["tests"]] == ["", MISMATCH, EXCEPTION]
    assert {t["visibility"] for t in results["tests"]} == {"visible"} and results["stdout_visibility"] == "hidden"


def test_the_top_level_output_summarises_the_submission_never_the_isolation():
    output = gradescope_results(_result(), WHAT)["output"]
    assert "合計 1 / 4 点" in output and "すべてのケースに合格したユニット: 0 / 2" in output
    assert "softmax（✗ 1 ケース失敗）" in output and "gelu（✗ 1 ケース失敗）" in output and "テスト一覧" in output
    assert "締め切り" in output and "ノートブックの名前が違いました。" in output
    assert "隔離" not in output and "rlimit" not in output


def test_lateness_comes_from_the_submission_metadata(tmp_path):
    late = read_lateness(_metadata(tmp_path, "2026-05-01T11:15:30+09:00", "2026-05-01T09:00:00+09:00"))
    results = gradescope_results(_result(), WHAT, lateness=late)
    assert results["extra_data"]["late"] is True and results["extra_data"]["seconds_late"] == 2 * 3600 + 15 * 60 + 30
    assert "2 時間 15 分遅れて提出されました" in results["output"] and "2026-05-01 09:00+09:00" in results["output"]
    on_time = read_lateness(_metadata(tmp_path, "2026-04-30T23:59:00+00:00", "2026-05-01T09:00:00+09:00"))
    assert not on_time.late and "遅れて" not in gradescope_results(_result(), WHAT, lateness=on_time)["output"]
    extended = read_lateness(_metadata(tmp_path, "2026-05-02T10:00:00+09:00", "2026-05-01T09:00:00+09:00",
                                       [{"name": "学生", "assignment": {"due_date": "2026-05-03T09:00:00+09:00"}}]))
    assert not extended.late  # the student's own (extended) due date counts
    for text in ("", "{", '{"created_at": "yesterday"}', '{"created_at": "2026-05-01T10:00:00", "assignment": {"due_date": "2026-05-01T09:00:00+09:00"}}'):
        (tmp_path / "submission_metadata.json").write_text(text, encoding="utf-8")
        assert read_lateness(tmp_path / "submission_metadata.json") is None, text
    assert read_lateness(tmp_path / "missing.json") is None
    assert "late" not in gradescope_results(_result(), WHAT)["extra_data"]


# --- run() --------------------------------------------------------------------------------------


def test_grader_failure_still_writes_a_zero_result(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(gradescope, "grade_folder", explode)
    path = gradescope.run(tmp_path)  # no submission/ folder, and grading raises: run() must not
    results = json.loads(path.read_text(encoding="utf-8"))
    assert path == tmp_path / "results" / "results.json"
    assert results["score"] == 0
    assert "採点できませんでした" in results["output"] and "エラー: RuntimeError" in results["output"]
    assert "boom" not in results["output"] and results["output_format"] == "text"  # the details go to the log, for the teacher


def test_flat_upload_is_read_as_the_package(tmp_path):
    (tmp_path / "attention.py").write_text("x = 1\n")
    (tmp_path / "notes.py").write_text("not a module of the kit\n")
    submission = Submission("submission")
    gradescope._accept_flat_upload(submission, tmp_path)
    assert submission.files["transformer/attention.py"] == b"x = 1\n"
    assert "transformer/notes.py" not in submission.files
    # the exercise-free modules come from the kit; the exercises never do
    for name in ("__init__.py", "data.py"):
        assert submission.files[f"transformer/{name}"] == (SOLUTIONS / "transformer" / name).read_bytes()
    assert "transformer/masks.py" not in submission.files


def test_flat_upload_is_ignored_when_the_package_folder_is_there(tmp_path):
    (tmp_path / "attention.py").write_text("loose\n")
    submission = Submission("submission", files={"transformer/attention.py": b"in the folder\n"})
    gradescope._accept_flat_upload(submission, tmp_path)
    assert submission.files == {"transformer/attention.py": b"in the folder\n"}


@pytest.mark.slow
def test_run_autograder_gives_the_reference_full_marks(tmp_path, autograder_zip):
    root = _gradescope_tree(tmp_path, autograder_zip)
    assert EXAMPLES[0].name == "perfect"
    build_example(EXAMPLES[0], root / "submission")
    results = _run_autograder(root, tmp_path)
    _check_schema(results)
    assert results["score"] == results["max_score"] > 0
    assert all(test["status"] == "passed" for test in results["tests"])


@pytest.mark.slow
def test_empty_submission_scores_zero_without_raising(tmp_path):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    completed = subprocess.run([sys.executable, "-m", "autograder.outputs.gradescope", "run", "--root", str(root)],
                               cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    _check_schema(results)
    assert results["score"] == 0 and results["max_score"] > 0
    assert all(test["status"] == "failed" and test["score"] == 0 for test in results["tests"])
    assert any("提出にありません" in test["output"] for test in results["tests"])
    assert f"合計 0 / {results['max_score']:g} 点" in results["output"] and "隔離" not in results["output"]
