"""Gradescope: build the autograder zip, and grade the one submission Gradescope hands us.

Gradescope unpacks the zip to /autograder/source, runs setup.sh there once when it builds the
image, then for each submission runs /autograder/run_autograder with the student's files in
/autograder/submission; the grade must end up in /autograder/results/results.json.

Only the standard library is imported at the top, so that even a broken install still writes
a results.json (score 0, with a Japanese explanation) instead of leaving the student without one.

The build option `hidden_visibility` (see `gradescope_results.py`) is written into run_autograder,
which passes it to every run; Gradescope's submission_metadata.json gives the lateness.
"""

import argparse
import json
import stat
import sys
import time
import traceback
import zipfile
from pathlib import Path

from autograder.paths import ROOT, SOLUTIONS

DEFAULT_ROOT = Path("/autograder")
HIDDEN_VISIBILITIES = ("after_due_date", "hidden", "visible")  # when students see a hidden case's expected values
DEFAULT_HIDDEN_VISIBILITY = HIDDEN_VISIBILITIES[0]
STUDENT_ID = "submission"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
SOURCE_FILES = ["pyproject.toml", "constraints.txt", "README.md"]
SOURCE_FOLDERS = ["autograder", "solutions"]
SKIPPED_NAMES = {"__pycache__"}
SKIPPED_SUFFIXES = {".pyc", ".pyo", ".egg-info"}

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, when it builds the autograder image.
set -euxo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${JISAKU_VENV:-/opt/jisaku-venv}"
export DEBIAN_FRONTEND=noninteractive

# The pinned tree (numpy, ipython, tomllib in the grader) needs Python 3.11 or newer, with venv.
usable() { command -v "$1" >/dev/null && "$1" -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
PYTHON=""
for candidate in python3 python3.13 python3.12 python3.11; do
    if usable "$candidate"; then PYTHON="$candidate"; break; fi
done
if [ -z "$PYTHON" ]; then
    apt-get update
    apt-get install -y --no-install-recommends ca-certificates python3 python3-venv python3-pip
    if usable python3; then
        PYTHON=python3
    else  # Ubuntu 22.04 ships Python 3.10: take 3.11 from its universe component
        apt-get install -y --no-install-recommends python3.11 python3.11-venv
        PYTHON=python3.11
    fi
fi

"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --no-cache-dir --upgrade pip
# constraints.txt pins every package, torch included (torch==2.13.0). PyPI's Linux torch wheel
# pulls several GB of CUDA libraries that Gradescope's GPU-less machines never use; the CPU
# wheel index offers 2.13.0+cpu, which satisfies the same pin (a local version label is ignored
# by ==) and sorts above the PyPI build, so pip takes the CPU one.
# Editable install: the grader finds solutions/ next to autograder/, so the code must stay here.
"$VENV/bin/python" -m pip install --no-cache-dir -c "$SOURCE/constraints.txt" \
    --extra-index-url https://download.pytorch.org/whl/cpu -e "$SOURCE"

# The sandbox: bubblewrap builds each zygote's fresh root (the grader refuses to run without it).
command -v bwrap >/dev/null || { apt-get update; apt-get install -y --no-install-recommends bubblewrap libseccomp2; }
# Defence in depth: the sandbox's root never holds the solutions, and only root may read them here.
chmod -R go-rwx "$SOURCE/solutions"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this once per submission, as root; the student's files are in $ROOT/submission.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="${JISAKU_VENV:-/opt/jisaku-venv}"
if [ -x "$VENV/bin/python" ]; then PATH="$VENV/bin:$PATH"; fi
export LANG=C.UTF-8
cd "$ROOT/source"
python -m autograder.outputs.gradescope run --root "$ROOT" --hidden-visibility HIDDEN_VISIBILITY
# Last resort, when Python itself could not start: the student still gets a result.
if [ ! -s "$ROOT/results/results.json" ]; then
    mkdir -p "$ROOT/results"
    printf '%s\n' '{"score": 0, "output": "採点プログラムを起動できませんでした。担当教員に連絡してください。", "tests": []}' \
        > "$ROOT/results/results.json"
fi
"""


# --- the autograder zip -------------------------------------------------------------------------


def _kit_files():
    """(name in the zip, path on disk) for the kit source that grading needs, sorted."""
    files = [(name, ROOT / name) for name in SOURCE_FILES]
    for folder in SOURCE_FOLDERS:
        for path in (ROOT / folder).rglob("*"):
            parts = path.relative_to(ROOT).parts
            skipped = any(p in SKIPPED_NAMES or p.startswith(".") or Path(p).suffix in SKIPPED_SUFFIXES for p in parts)
            if path.is_file() and not skipped:
                files.append(("/".join(parts), path))
    return sorted(files)


def _add(archive, name, data, mode):
    info = zipfile.ZipInfo(name, ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so that unzip honours the permission bits
    info.external_attr = (stat.S_IFREG | mode) << 16
    archive.writestr(info, data)


def run_autograder_script(hidden_visibility=DEFAULT_HIDDEN_VISIBILITY):
    """RUN_AUTOGRADER with the build's visibility for hidden cases in place of its placeholder."""
    if hidden_visibility not in HIDDEN_VISIBILITIES:
        raise ValueError(f"hidden_visibility must be one of {HIDDEN_VISIBILITIES}, not {hidden_visibility!r}")
    return RUN_AUTOGRADER.replace("HIDDEN_VISIBILITY", hidden_visibility)


def build_autograder_zip(zip_path, hidden_visibility=DEFAULT_HIDDEN_VISIBILITY):
    """Write Gradescope's autograder zip (byte-identical on every run with the same options) and return its path."""
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    entries = [("run_autograder", run_autograder_script(hidden_visibility).encode(), 0o755), ("setup.sh", SETUP_SH.encode(), 0o755)]
    entries += [(name, path.read_bytes(), 0o644) for name, path in _kit_files()]
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name, data, mode in sorted(entries):
            _add(archive, name, data, mode)
    return zip_path


# --- grading one submission on Gradescope ----------------------------------------------------


def _accept_flat_upload(submission, folder):
    """Gradescope's drag-and-drop upload puts files side by side: read loose module files as transformer/.

    Modules with no exercise in them (`__init__.py`, `data.py`) are the same in every student's
    copy; the ones the student left out are taken from the kit so that the package imports.
    """
    from autograder.grader.submissions import MAX_FILE_BYTES, NOTHING_TO_GRADE

    folder = Path(folder)
    if not folder.is_dir() or any(name.startswith("transformer/") for name in submission.files):
        return
    reference = {path.name: path for path in (SOLUTIONS / "transformer").glob("*.py")}
    for path in sorted(folder.glob("*.py")):
        if path.name in reference and path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_FILE_BYTES:
            submission.files[f"transformer/{path.name}"] = path.read_bytes()
    if not submission.package_files():
        return
    if NOTHING_TO_GRADE in submission.problems:  # said before the loose modules were found
        submission.problems.remove(NOTHING_TO_GRADE)
    for name, path in sorted(reference.items()):
        data = path.read_bytes()
        if b"### BEGIN SOLUTION" not in data:
            submission.files.setdefault(f"transformer/{name}", data)


def grade_folder(folder, hidden_visibility=DEFAULT_HIDDEN_VISIBILITY, lateness=None):
    """Grade the submission in `folder` as one student; returns the results.json dictionary."""
    from autograder.grader.catalog import Catalog
    from autograder.grader.grading import Grader
    from autograder.grader.launcher import SandboxPool
    from autograder.outputs.gradescope_results import gradescope_results
    from autograder.grader.submissions import load_submission

    submission = load_submission(folder, STUDENT_ID)
    _accept_flat_upload(submission, folder)
    with SandboxPool(1) as pool:  # it warms up while the catalog is built
        grader = Grader(Catalog())
        result = grader.grade(submission, pool.start()[0])
    what = {(unit.name, case.name): case.what for unit in grader.catalog.units for case in unit.cases}
    return gradescope_results(result, what, hidden_visibility, lateness)


def failure_results(error, seconds):
    """The results.json for a grading run that blew up: 0 points and what happened, in Japanese."""
    return {
        "score": 0.0,
        "execution_time": round(seconds, 3),
        "output": (
            "採点中に採点プログラム側でエラーが起きたため、この提出は採点できませんでした（0 点）。\n"
            "提出物の形（transformer/*.py と 00_pytorch_basics.ipynb）を確かめて再提出し、"
            "それでも直らなければ担当教員に連絡してください。\n"
            f"エラー: {type(error).__name__}"
        ),
        "output_format": "text",
        "tests": [],
    }


def run(root=DEFAULT_ROOT, hidden_visibility=DEFAULT_HIDDEN_VISIBILITY):
    """Grade root/submission and write root/results/results.json; never raises on a bad submission."""
    from autograder.outputs.lateness import read_lateness

    root = Path(root)
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        lateness = read_lateness(root / "submission_metadata.json")
        results = grade_folder(root / "submission", hidden_visibility, lateness)  # the sandbox sees neither the upload folder nor the results
    except Exception as error:  # the grader itself failed: the student still gets a result
        traceback.print_exc()  # into Gradescope's stdout log, shown to instructors only
        results = failure_results(error, time.monotonic() - started)
    results["execution_time"] = round(time.monotonic() - started, 3)  # the whole run, reference included
    path = results_dir / "results.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"score {results['score']} / {results.get('max_score', '?')} -> {path}")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.outputs.gradescope", description="Gradescope autograder entry point")
    commands = parser.add_subparsers(dest="command", required=True)
    run_command = commands.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json")
    run_command.add_argument("--root", default=str(DEFAULT_ROOT), help="Gradescope's folder (default: /autograder)")
    run_command.add_argument("--hidden-visibility", choices=HIDDEN_VISIBILITIES, default=DEFAULT_HIDDEN_VISIBILITY,
                             help="when students see a hidden case's expected values (gradescope_results.py)")
    args = parser.parse_args(argv)
    run(args.root, args.hidden_visibility)
    return 0


if __name__ == "__main__":
    sys.exit(main())
