"""The student's side, measured: the bundle's install in a fresh venv, and the full self-check against plain pytest.

    .venv/bin/python bench/student_bundle.py [--runs 5]

1. Builds the student zip, unpacks it, makes a fresh venv, installs the grader's pinned torch into it
   (as Colab or a student's PC already has one: not timed), then times `pip install -r requirements.txt`
   (pip's cache as it is on this machine: the first run on a new machine downloads more).
2. On a finished copy of the bundle (the solutions' answers in place), runs `python check.py` and,
   as the peer, `python -m pytest -q` over the same tests, each `--runs` times, and prints the medians
   and their ratio. The self-check runs everything pytest runs, plus the forbidden-API check and the table.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.authoring.release import BUNDLE_FOLDER, build_bundle  # noqa: E402
from autograder.paths import NOTEBOOK, SOLUTIONS  # noqa: E402


def timed(command, cwd):
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=False, capture_output=True)
    return time.perf_counter() - started


def torch_pin():
    return next(line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("torch=="))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        with zipfile.ZipFile(build_bundle(zip_path=scratch / "student.zip")) as archive:
            archive.extractall(scratch)
        bundle = scratch / BUNDLE_FOLDER
        subprocess.run([sys.executable, "-m", "venv", str(scratch / "venv")], check=True)
        python = str(scratch / "venv" / "bin" / "python")
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, torch_pin()], check=True)
        install = timed([*pip, "-r", "requirements.txt"], bundle)
        print(f"pip install -r requirements.txt in a fresh venv (torch already there): {install:.1f} s")

        for path in (SOLUTIONS / "transformer").glob("*.py"):
            shutil.copyfile(path, bundle / "transformer" / path.name)
        shutil.copyfile(SOLUTIONS / NOTEBOOK, bundle / NOTEBOOK)
        check = [timed([python, "check.py"], bundle) for _ in range(args.runs)]
        plain = [timed([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], bundle) for _ in range(args.runs)]
        print(f"python check.py (finished bundle), median of {args.runs}: {statistics.median(check):.2f} s  {[round(t, 2) for t in check]}")
        print(f"python -m pytest -q (same tests),     median of {args.runs}: {statistics.median(plain):.2f} s  {[round(t, 2) for t in plain]}")
        print(f"check.py / pytest: {statistics.median(check) / statistics.median(plain):.2f}")


if __name__ == "__main__":
    main()
