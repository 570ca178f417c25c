"""Benchmark: the similarity check and the teacher's HTML report on N submissions.

    python bench/similarity.py [--submissions N] [--jobs J]

Defaults: N=50, J=2.

The submissions are made from three correct solutions written independently (the reference and the
two of autograder/authoring/independent.py): each synthetic student takes each `transformer/*.py`
file and the notebook from one of the three, at random (seed 0), with a comment of its own at the top of
each file and answer cell (so that no two students hand in the same bytes), and every fifth student
hands in a disguised copy (locals renamed, functions reordered) of the student before. So most pairs
share some files whole: a harder class than a real one, where most pairs share short idioms only.

What is timed, wall-clock, in one run on the same machine:
- similarity: `compare_submissions` on the N submissions read into memory (fingerprinting the
  skeleton and every submission, and comparing every pair), as `grade_batch` runs it;
- report: `write_report` on the graded batch (the gradebook, each results.json and feedback.md,
  the similarity again, every page written), after `grade_batch` (not timed here) graded it.
"""

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from autograder.authoring.disguise import disguised_copy, renamed, reordered
from autograder.authoring.examples import EXAMPLES, build_example
from autograder.authoring.independent import INDEPENDENT, build_from_skeleton
from autograder.grader.batch import GRADEBOOK, grade_batch
from autograder.grader.submissions import load_submission
from autograder.outputs.gradebook import Gradebook
from autograder.outputs.html_report import write_report
from autograder.outputs.similarity import Comparison, compare_submissions
from autograder.paths import NOTEBOOK

COPY_EVERY = 5


def build_submissions(folder, count, seed=0):
    """student_000 ... student_{count-1} under folder/submissions, mixed from the three independent solutions."""
    perfect = next(example for example in EXAMPLES if example.name == "perfect")
    sources = [build_example(perfect, folder / "_sources" / "reference"),
               *(build_from_skeleton(answers, folder / "_sources" / name) for name, answers in INDEPENDENT.items())]
    parts = [*sorted(path.relative_to(sources[0]) for path in (sources[0] / "transformer").glob("*.py")), Path(NOTEBOOK)]
    chooser, submissions = random.Random(seed), folder / "submissions"
    for index in range(count):
        name, mixed = f"student_{index:03d}", folder / "_mixed"
        if index % COPY_EVERY == COPY_EVERY - 1:
            disguised_copy(submissions / f"student_{index - 1:03d}", submissions / name, lambda source: reordered(renamed(source)))
            continue
        shutil.rmtree(mixed, ignore_errors=True)
        (mixed / "transformer").mkdir(parents=True)
        for part in parts:
            shutil.copy(chooser.choice(sources) / part, mixed / part)
        disguised_copy(mixed, submissions / name, lambda source: f"# {name}\n{source}")  # no two students' files the same bytes
    return submissions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=50, help="N submissions")
    parser.add_argument("--jobs", type=int, default=2, help="J sandbox workers for grading them (not timed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jisaku-bench-") as tmp:
        submissions = build_submissions(Path(tmp), args.submissions)
        loaded = [load_submission(path, path.name) for path in sorted(submissions.iterdir())]
        start = time.perf_counter()
        pairs = compare_submissions(loaded)
        similarity = time.perf_counter() - start
        flagged = {(pair.left, pair.right) for pair in pairs if pair.flagged}
        copies = {(f"student_{i - 1:03d}", f"student_{i:03d}") for i in range(args.submissions) if i % COPY_EVERY == COPY_EVERY - 1}
        print(f"similarity: {len(loaded)} submissions, {len(pairs)} pairs compared in {similarity:.2f} s; "
              f"{len(flagged)} flagged, among them {len(flagged & copies)} of the {len(copies)} disguised copies")
        out = Path(tmp) / "out"
        grade_batch([submissions], out, jobs=args.jobs, progress=False)
        gradebook = Gradebook(out / GRADEBOOK)
        start = time.perf_counter()
        with Comparison(loaded) as comparison:
            index = write_report(gradebook, out, comparison)
        report = time.perf_counter() - start
        gradebook.close()
        pages = sum(1 for _ in index.parent.rglob("*.html"))
        size = sum(path.stat().st_size for path in index.parent.rglob("*.html"))
        print(f"report: {pages} pages ({size / 2**20:.1f} MiB) written in {report:.2f} s, similarity included")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
