"""A new student's first hour, in CI: the zip, a fresh virtual environment from its requirements.txt, the
self-check on the skeleton and on finished work, and a submission that the grader scores in full.

The fresh environment takes torch from the grader's own pin first (as a student on Colab already has
one), then `pip install -r requirements.txt` must keep it. The resolution of the rest is also asked
of pip for the other Python versions the bundle promises, without installing them.
"""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from bundle_copies import edit_function, students_environment
from packaging.requirements import Requirement

from autograder.authoring.release import BUNDLE_FOLDER, PYTHON_RANGE, build_bundle
from autograder.grader.batch import grade_batch
from autograder.paths import NOTEBOOK, ROOT, SOLUTIONS

pytestmark = pytest.mark.slow
PIP_TIMEOUT = 900
OTHER_PYTHONS = ("3.10", "3.12", "3.13")
assert PYTHON_RANGE == ("3.10", "3.13")


def _pin(name):
    return next(line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.lower().startswith(f"{name}=="))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The student zip, unpacked as a student would."""
    folder = tmp_path_factory.mktemp("student")
    with zipfile.ZipFile(build_bundle(zip_path=folder / "jisaku-transformer-student.zip")) as archive:
        archive.extractall(folder)
    return folder / BUNDLE_FOLDER


@pytest.fixture(scope="module")
def student_python(bundle):
    """The python of a fresh venv made from the bundle's requirements.txt (torch installed first, as on Colab)."""
    venv = bundle.parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, _pin("torch")], check=True, timeout=PIP_TIMEOUT)
    subprocess.run([*pip, "-r", str(bundle / "requirements.txt")], check=True, timeout=PIP_TIMEOUT)
    return python


def _run(python, folder, *args):
    done = subprocess.run([str(python), *args], cwd=folder, capture_output=True, text=True, timeout=600,
                          env=students_environment())
    return done.returncode, done.stdout + done.stderr


def _copy(bundle, name, solved):
    folder = bundle.parent / name
    shutil.copytree(bundle, folder)
    if solved:
        for path in (SOLUTIONS / "transformer").glob("*.py"):
            shutil.copyfile(path, folder / "transformer" / path.name)
        shutil.copyfile(SOLUTIONS / NOTEBOOK, folder / NOTEBOOK)
    return folder


def test_requirements_keep_the_installed_torch_and_bring_jupyter(student_python):
    code, out = _run(student_python, ".", "-c", "import torch, notebook, matplotlib_fontja, pytest; print(torch.__version__)")
    assert code == 0, out
    assert out.split()[-1].split("+")[0] == _pin("torch").split("==")[1]


def test_the_skeleton_check_says_everything_is_unwritten_and_fails(student_python, bundle):
    code, out = _run(student_python, _copy(bundle, "skeleton", solved=False), "check.py")
    assert code == 1
    assert out.count("未実装") >= 8 and re.search(r"合計\s+0/\d+ 点", out)


def test_finished_work_passes_and_its_submission_gets_full_marks(student_python, bundle, tmp_path):
    folder = _copy(bundle, "finished", solved=True)
    code, out = _run(student_python, folder, "check.py")
    assert code == 0, out[-3000:]
    code, out = _run(student_python, folder, "check.py", "--submit", "24A1234")
    assert code == 0 and (folder / "24A1234.zip").exists(), out[-3000:]
    rows = grade_batch([folder / "24A1234.zip"], tmp_path / "grades", jobs=1, progress=False)
    (student, score, max_score, *_), = rows
    assert student == "24A1234" and score == max_score > 0


def test_a_syntax_error_an_endless_loop_and_a_forbidden_call_are_each_told(student_python, bundle):
    folder = _copy(bundle, "mistakes", solved=True)
    edit_function(folder / "transformer" / "training.py", "greedy_decode", "while True:\n    pass")
    edit_function(folder / "transformer" / "multi_head.py", "forward", "unused = nn.MultiheadAttention(4, 2)")
    code, out = _run(student_python, folder, "check.py", "multi_head", "training")
    assert code == 1
    assert "無限ループの可能性" in out and "MultiHeadAttention のコードに、この課題では使えないものがあります" in out
    attention = folder / "transformer" / "attention.py"
    attention.write_text(attention.read_text(encoding="utf-8").replace("d_k = q.size(-1)", "d_k = q.size(-1", 1), encoding="utf-8")
    code, out = _run(student_python, folder, "check.py", "attention")
    assert code == 1 and re.search(r"文法の誤り.*\n\s+場所: transformer/attention\.py の \d+ 行目", out)


@pytest.mark.parametrize("version", OTHER_PYTHONS)
def test_the_rest_of_the_requirements_resolve_on_every_promised_python(bundle, tmp_path, version):
    """torch is left out (pip would fetch a multi-GB build to look at); every other requirement must resolve."""
    requirements = [line for line in (bundle / "requirements.txt").read_text(encoding="utf-8").splitlines()
                    if line and not line.startswith("#") and Requirement(line).name != "torch"]
    (tmp_path / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--only-binary=:all:",
                           "--python-version", version, "--target", str(tmp_path / "target"), "--report", str(tmp_path / "report.json"),
                           "-r", str(tmp_path / "requirements.txt")], capture_output=True, text=True, timeout=PIP_TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    installed = {item["metadata"]["name"].lower() for item in json.loads(Path(tmp_path / "report.json").read_text())["install"]}
    assert {Requirement(line).name.lower() for line in requirements} <= installed
