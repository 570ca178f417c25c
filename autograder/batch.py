"""Grade a batch: N sandbox workers, a progress bar, reports per submission, the gradebook and its CSV."""

import queue
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm.auto import tqdm

from .gradebook import Gradebook
from .plots import plot_batch
from .grading import Catalog, Grader, Limits
from .workers import Workers
from .reports import summary_table, write_reports
from .submissions import load_submission

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


def grade_batch(paths, out_dir, jobs=1, regrade=False, limits=Limits(), progress=True):
    """Grade every submission not yet graded with the same content; returns the gradebook's summary rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    submissions = [load_submission(path) for path in find_submissions(paths)]
    gradebook = Gradebook(out_dir / GRADEBOOK)
    todo = [s for s in submissions if regrade or gradebook.graded_hash(s.student_id) != s.content_hash]
    if todo:
        hide = [out_dir.resolve(), *(Path(p).resolve() for p in paths)]
        with Workers(min(jobs, len(todo)), hide) as workers:  # they warm up while the catalog is built
            grader = Grader(Catalog(), limits)
            _grade_all(grader, workers, todo, gradebook, out_dir, progress)
    gradebook.export_csv(out_dir / "gradebook.csv")
    if gradebook.score_fractions():
        try:
            plot_batch(gradebook, out_dir / SUMMARY_PLOT)
        except Exception:  # a picture must never cost a graded batch its gradebook
            traceback.print_exc()
    rows = gradebook.rows()
    gradebook.close()
    return rows


def _grade_all(grader, workers, submissions, gradebook, out_dir, progress):
    idle = queue.Queue()
    for zygote in workers.start(grader.catalog):
        idle.put(zygote)

    def grade_one(submission):
        zygote = idle.get()
        try:
            return grader.grade(submission, zygote, workers.scratch)
        except Exception as error:  # a fault of the grader itself costs this submission, never the batch
            traceback.print_exc()
            try:
                zygote = workers.replace(zygote)
            except Exception:  # no fresh zygote: the next submission on this slot fails and tries again
                traceback.print_exc()
            return grader.failed(submission, error)
        finally:
            idle.put(zygote)

    with ThreadPoolExecutor(max_workers=idle.qsize()) as pool:
        futures = [pool.submit(grade_one, s) for s in submissions]
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
