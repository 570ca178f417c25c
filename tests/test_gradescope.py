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
    for name, text in (("setup.sh", gradescope.SETUP_SH), ("run_autograder", gradescope.RUN_AUTOGRADER)):
        (tmp_path / name).write_text(text)
        subprocess.run(["bash", "-n", str(tmp_path / name)], check=True)
    assert "-c \"$SOURCE/constraints.txt\"" in gradescope.SETUP_SH
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in gradescope.SETUP_SH
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().splitlines()
    assert 'python -m autograder.outputs.gradescope run --root "$ROOT"' in gradescope.RUN_AUTOGRADER


# --- run() --------------------------------------------------------------------------------------


def test_grader_failure_still_writes_a_zero_result(tmp_path, monkeypatch):
    def explode(folder, hide=()):
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
