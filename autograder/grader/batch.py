"""Grade a batch: N sandbox workers, a progress bar, reports per submission, the gradebook and its CSV."""

import queue
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm.auto import tqdm

from autograder.outputs.gradebook import Gradebook
from autograder.outputs.plots import plot_batch
from autograder.grader.catalog import Catalog
from autograder.grader.grading import Grader, Limits
from autograder.grader.launcher import SandboxPool, ZygoteBroken
from autograder.outputs.reports import protections_lines, summary_table, write_reports
from autograder.grader.submissions import load_submission

GRADEBOOK = "gradebook.sqlite"
SUMMARY_PLOT = "summary.png"


def find_submissions(paths):
    """Each path is a submission (folder or .zip), or a folder whose children are submissions."""
    found = []
    for path in map(Path, paths):
        if path.is_dir() and not (path / "transformer").exists() and not list(path.glob("*.ipynb")):
            found += sorted(p for p in path.iterdir() if p.is_dir() or p.suffix == ".zip")
        else:
            found.append(path)
    return found


def grade_batch(paths, out_dir, jobs=1, regrade=False, limits=Limits(), progress=True, unsandboxed=False):
    """Grade every submission not yet graded with the same content; returns the gradebook's summary rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    submissions = [load_submission(path) for path in find_submissions(paths)]
    gradebook = Gradebook(out_dir / GRADEBOOK)
    todo = [s for s in submissions if regrade or gradebook.graded_hash(s.student_id) != s.content_hash]
    if todo:
        with SandboxPool(min(jobs, len(todo)), unsandboxed) as pool:  # the zygotes warm up while the catalog is built
            grader = Grader(Catalog(), limits)
            _grade_all(grader, pool, todo, gradebook, out_dir, progress)
    gradebook.export_csv(out_dir / "gradebook.csv")
    if gradebook.score_fractions():
        try:
            plot_batch(gradebook, out_dir / SUMMARY_PLOT)
        except Exception:  # a picture must never cost a graded batch its gradebook
            traceback.print_exc()
    rows = gradebook.rows()
    gradebook.close()
    return rows


def _grade_all(grader, pool, submissions, gradebook, out_dir, progress):
    idle = queue.Queue()
    for zygote in pool.start():
        idle.put(zygote)

    def grade_one(submission):
        zygote = idle.get()
        try:
            for attempt in range(2):  # a sandbox that broke down is replaced, and the submission graded again once
                try:
                    return grader.grade(submission, zygote)
                except ZygoteBroken as error:
                    zygote = pool.replace(zygote)
                    if attempt:
                        return grader.failed(submission, error)
        except Exception as error:  # a fault of the grader itself costs this submission, never the batch
            traceback.print_exc()
            try:
                zygote = pool.replace(zygote)
            except Exception:  # no fresh zygote: the next submission on this slot fails and tries again
                traceback.print_exc()
            return grader.failed(submission, error)
        finally:
            idle.put(zygote)

    with ThreadPoolExecutor(max_workers=idle.qsize()) as executor:
        futures = [executor.submit(grade_one, s) for s in submissions]
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc="採点中", unit="件", disable=not progress):
                result = future.result()
                write_reports(result, out_dir)
                gradebook.record(result)
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise


def print_summary(rows):
    print(summary_table(rows))


def print_protections(out_dir):
    """The protections in force, and the submissions the grader failed on; True when there were none of those."""
    gradebook = Gradebook(Path(out_dir) / GRADEBOOK)
    print(protections_lines(gradebook.protections()))
    failures = gradebook.grader_failures()
    gradebook.close()
    if failures:
        print(f"採点側のエラーで採点できなかった提出があります（{', '.join(failures)}）。もう一度 jisaku grade を実行すると、その提出だけを採点し直します。\n"
              f"The grader failed on {len(failures)} submission(s); run jisaku grade again to grade just those.", file=sys.stderr)
    return not failures
