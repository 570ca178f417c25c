"""Benchmark: grading throughput, our sandboxed grader against nbgrader's autograde.

    python bench/grade_throughput.py [--submissions N] [--jobs J] [--nbgrader-submissions M]

Defaults: N=50, J=2, M=min(N, 4).

What is measured, wall-clock, in one run on the same machine:

- ours: `grade_batch` on N synthetic submissions with J sandbox workers and regrade=True. It grades
  the whole kit (notebook 00's 9 graded functions and the whole `transformer` package, 110 hidden
  cases), and the time includes everything a teacher waits for: building the reference catalog,
  starting the workers, grading, writing the reports, the gradebook and its CSV.
- nbgrader: `nbgrader generate_assignment kit` in a temporary course built from a copy of
  solutions/ (not timed), then `nbgrader autograde kit --create --force` on the first M of the same
  submissions (timed). nbgrader can grade only the notebook: it runs 00_pytorch_basics.ipynb in a
  fresh kernel per submission, one submission after another. M is small because it is slow.

The submissions cycle through the bundled examples (autograder/examples.py), except "hanging":
a submission that never returns costs its time limit, so it would measure the limit, not the
throughput. Torch threads are pinned to one where we control them: in this process and, through
OMP_NUM_THREADS/MKL_NUM_THREADS, in nbgrader's kernels (our workers pin themselves).
The target for ours is 50 submissions in under 60 s.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from autograder.grader.batch import grade_batch
from autograder.authoring.examples import EXAMPLES, build_example
from autograder.authoring.nbgrader_course import ASSIGNMENT, make_course, run_nbgrader
from autograder.paths import NOTEBOOK
TARGET_SUBMISSIONS, TARGET_SECONDS = 50, 60.0


def build_submissions(folder, count):
    """student_000 … student_{count-1}, cycling through the examples (each built once, then copied)."""
    examples = [e for e in EXAMPLES if e.name != "hanging"]
    built = [build_example(e, folder / "_examples" / e.name) for e in examples]
    submissions = folder / "submissions"
    for index in range(count):
        shutil.copytree(built[index % len(built)], submissions / f"student_{index:03d}")
    return submissions, examples


def count_as_expected(rows, examples):
    """How many submissions lost points in exactly their example's expected units."""
    return sum(set(failed) == examples[int(student.removeprefix("student_")) % len(examples)].expected_failures
               for student, _, _, failed, _ in rows)


def time_ours(submissions, out_dir, jobs):
    start = time.perf_counter()
    rows = grade_batch([submissions], out_dir, jobs=jobs, regrade=True, progress=False)
    return time.perf_counter() - start, rows


def time_nbgrader(course, students):
    """Copy the notebook and the package of each student into submitted/, then time autograde."""
    for student in students:
        target = course / "submitted" / student.name / ASSIGNMENT
        target.mkdir(parents=True)
        shutil.copy(student / NOTEBOOK, target / NOTEBOOK)
        shutil.copytree(student / "transformer", target / "transformer")
    start = time.perf_counter()
    run_nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force")
    return time.perf_counter() - start


def nbgrader_scores(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {s.student.id: (s.score, s.max_score) for s in gradebook.assignment_submissions(ASSIGNMENT)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=50, help="N submissions for our grader")
    parser.add_argument("--jobs", type=int, default=2, help="J sandbox workers for our grader")
    parser.add_argument("--nbgrader-submissions", type=int, default=None, help="M submissions for nbgrader (default min(N, 4))")
    args = parser.parse_args(argv)
    count, jobs = args.submissions, args.jobs
    nb_count = min(count, 4) if args.nbgrader_submissions is None else min(count, args.nbgrader_submissions)
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="jisaku-bench-") as tmp:
        tmp = Path(tmp)
        submissions, examples = build_submissions(tmp, count)
        print(f"{count} submissions cycling through {len(examples)} examples: {', '.join(e.name for e in examples)}")

        ours_total, rows = time_ours(submissions, tmp / "out", jobs)
        ours = ours_total / count
        print(f"ours: {len(rows)} graded in {ours_total:.2f} s with jobs={jobs} -> {ours:.2f} s/submission (whole kit)")
        print(f"  {count_as_expected(rows, examples)} / {len(rows)} lost points in exactly their example's expected units")

        course = tmp / "course"
        make_course(course)
        students = sorted(submissions.iterdir())[:nb_count]
        nb_total = time_nbgrader(course, students)
        theirs = nb_total / nb_count
        scores = nbgrader_scores(course)
        print(f"nbgrader: {len(scores)} graded in {nb_total:.2f} s -> {theirs:.2f} s/submission (notebook only)")
        for student, (score, max_score) in sorted(scores.items()):
            print(f"  {student}: {score:g} / {max_score:g}")

    print(f"ours {ours:.2f} s/submission (whole kit, jobs={jobs}) vs nbgrader {theirs:.2f} s/submission "
          f"(notebook only): {theirs / ours:.1f}x faster")
    projected = ours * TARGET_SUBMISSIONS
    met = "met" if projected < TARGET_SECONDS else "NOT met"
    basis = "measured" if count == TARGET_SUBMISSIONS else f"projected from {count}"
    print(f"target {TARGET_SUBMISSIONS} submissions in under {TARGET_SECONDS:.0f} s: {met} "
          f"({projected:.1f} s, {basis})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
