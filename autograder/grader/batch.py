"""Grade a batch: N sandbox workers, a progress bar, reports per submission, the gradebook, its CSV and the
per-student grade exports (`outputs/exports.py`).

Every step of one submission (reading it, grading it, writing its reports, recording it) fails
for that submission alone: it is recorded as a grader fault with a Japanese message that says so
(not the student's doing), the batch goes on, and the next run grades it again.
"""

import errno
import gc
import queue
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

from autograder.grader.catalog import Catalog
from autograder.grader.grading import Grader, Limits
from autograder.grader.hidden_tests import all_units
from autograder.grader.intake import Refusal, take_in
from autograder.grader.launcher import SandboxPool, ZygoteBroken
from autograder.grader.rescore import rescore_stored
from autograder.grader.rubric import RUBRIC, applied_points, load_rubric
from autograder.grader.submissions import Submission, load_submission
from autograder.outputs.exports import write_exports
from autograder.outputs.gradebook import Gradebook
from autograder.outputs.html_report import write_report
from autograder.outputs.plots import plot_batch
from autograder.outputs.reports import protections_lines, summary_table, write_reports
from autograder.outputs.similarity import Comparison

GRADEBOOK = "gradebook.sqlite"
SUMMARY_PLOT = "summary.png"
REFUSED = "refused.txt"  # the submissions not graded until the teacher acts, and why: written anew by every run
FAULT_REASONS = {errno.ENOSPC: "ディスクがいっぱい", errno.EDQUOT: "ディスクの割り当てを超えた",
                 errno.EACCES: "書き込みの権限がない", errno.EROFS: "書き込めないディスク"}
FAULT_KINDS = {ZygoteBroken: "サンドボックスが途中で止まった", MemoryError: "採点側のメモリ不足"}
NOT_RESCORED = ("配点が変わりましたが、保存された結果からは採点し直せません（前の版の採点キットで採点された結果です）。"
                "この学生の提出物も渡して、もう一度 jisaku grade を実行してください。")


def grade_batch(paths, out_dir, jobs=1, regrade=False, limits=Limits(), progress=True, unsandboxed=False, roster=None,
                rubric=RUBRIC):
    """Grade every submission not yet graded with the same content; returns the gradebook's summary rows.
    `roster` (an intake.Roster) maps LMS ids and names to student ids. The rubric at `rubric` is checked
    first (RubricError); every stored result scored under other points is re-scored (`rescore.py`)."""
    rubric_table = load_rubric(rubric)  # before anything else: a rubric with a problem grades nothing
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    accepted, refused = take_in(paths, skip=[out_dir], roster=roster)
    gradebook = Gradebook(out_dir / GRADEBOOK)
    submissions = [_load(path, sid) for sid, path in sorted(accepted.items())]
    _report_problems(submissions)
    todo = [s for s in submissions if regrade or gradebook.graded_hash(s.student_id) != s.content_hash]
    again, not_regraded = _rescore(gradebook, rubric_table, submissions, todo, out_dir)
    todo += again
    _report_refusals(refused + not_regraded, out_dir)
    with Comparison(submissions) as comparison, _collections_skip_what_lives_for_the_batch():  # all read above: compared while graded
        if todo:
            with SandboxPool(min(jobs, len(todo)), unsandboxed) as pool:  # the zygotes warm up while the catalog is built
                _grade_all(Grader(_catalog(rubric_table), limits), pool, todo, gradebook, out_dir, progress)
        _write_outputs(gradebook, out_dir, comparison)
    rows = gradebook.rows()
    gradebook.close()
    return rows


@contextmanager
def _collections_skip_what_lives_for_the_batch():
    """Keep the objects made so far (every module loaded) out of the garbage collector's full collections until
    the batch ends (`gc.freeze`); `_catalog` adds the catalog. Each full collection walks every object the
    process holds: about a second of a batch of 50, spent finding nothing."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _catalog(rubric_table):
    """The batch's catalog, built with the collector paused (2.6 s with it, 1.7 s without, measured alone),
    then kept out of its collections too."""
    gc.disable()
    try:
        catalog = Catalog(rubric=rubric_table)
    finally:
        gc.enable()
    gc.collect()  # what building it left behind
    gc.freeze()
    return catalog


def _write_outputs(gradebook, out_dir, comparison):
    """The gradebook's CSV and exports; then the summary plot and the HTML report, whose faults cost nothing else."""
    gradebook.export_csv(out_dir / "gradebook.csv")
    write_exports(gradebook, out_dir)
    if not gradebook.score_fractions():
        return
    try:
        plot_batch(gradebook, out_dir / SUMMARY_PLOT)
    except Exception:  # a picture must never cost a graded batch its gradebook
        traceback.print_exc()
    try:  # the teacher's HTML report, with the similarity of this run's submissions
        write_report(gradebook, out_dir, comparison)
    except Exception:  # nor must the report
        traceback.print_exc()


def _rescore(gradebook, rubric_table, submissions, todo, out_dir):
    """Re-score every stored result scored under other points than `rubric_table`'s, except those in `todo`; returns
    (the submissions to grade again instead, a Refusal for each such result whose submission is not an input)."""
    rescored, left = rescore_stored(gradebook, applied_points(rubric_table, all_units()), out_dir, skip={s.student_id for s in todo})
    if rescored:
        print(f"配点が変わったため、{len(rescored)} 件の結果を保存済みの結果から採点し直しました（コードは実行していません）。"
              f" / re-scored {len(rescored)} stored result(s) under the new rubric.", file=sys.stderr)
    again = [s for s in submissions if s.student_id in left]
    inputs = {s.student_id for s in submissions}
    return again, [Refusal(out_dir / student, NOT_RESCORED) for student in left if student not in inputs]


def grader_fault(error):
    """The Japanese words for a fault of the grader's (never the student's)."""
    reason = FAULT_REASONS.get(getattr(error, "errno", None)) or FAULT_KINDS.get(type(error)) or type(error).__name__
    return f"採点側の問題（{reason}）で採点できませんでした。あなたの提出のせいではありません。先生に知らせてください。"


def _report_refusals(refused, out_dir):
    """Say what was skipped (a warning) and what was refused (the teacher must act: listed in REFUSED)."""
    for refusal in refused:
        print(f"{'採点しない入力' if refusal.blocks else '飛ばしたファイル'}: {refusal.line()}", file=sys.stderr)
    lines = [refusal.line() for refusal in refused if refusal.blocks]
    (out_dir / REFUSED).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    if lines:
        print(f"{len(lines)} input(s) were not graded; see {out_dir / REFUSED}.", file=sys.stderr)


def _report_problems(submissions):
    """Say, for the teacher, what each submission's feedback will say about the submission as a whole
    (a renamed notebook, nothing to grade, a damaged member)."""
    for submission in submissions:
        for problem in submission.problems:
            print(f"提出物の注意: {submission.student_id}: {problem}", file=sys.stderr)


def read_refusals(out_dir):
    """The lines of the last run's refused inputs."""
    path = Path(out_dir) / REFUSED
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _load(path, student_id):
    """The submission at `path`; one the reader itself failed on carries the fault, to be graded as one."""
    try:
        return load_submission(path, student_id)
    except Exception as error:  # a fault of the reader: this submission alone, graded as a grader fault
        traceback.print_exc()
        submission = Submission(student_id)
        submission.fault = error
        return submission


def _grade_all(grader, pool, submissions, gradebook, out_dir, progress):
    idle = queue.Queue()
    for zygote in pool.start():
        idle.put(zygote)

    def grade_one(submission):
        if submission.fault is not None:
            return grader.failed(submission, grader_fault(submission.fault))
        zygote = idle.get()
        try:
            for attempt in range(2):  # a sandbox that broke down is replaced, and the submission graded again once
                try:
                    return grader.grade(submission, zygote)
                except ZygoteBroken as error:
                    zygote = pool.replace(zygote)
                    if attempt:
                        return grader.failed(submission, grader_fault(error))
        except Exception as error:  # a fault of the grader itself costs this submission, never the batch
            traceback.print_exc()
            try:
                zygote = pool.replace(zygote)
            except Exception:  # no fresh zygote: the next submission on this slot fails and tries again
                traceback.print_exc()
            return grader.failed(submission, grader_fault(error))
        finally:
            idle.put(zygote)

    with ThreadPoolExecutor(max_workers=idle.qsize()) as executor:
        by_future = {executor.submit(grade_one, s): s for s in submissions}
        try:
            for future in tqdm(as_completed(by_future), total=len(by_future), desc="採点中", unit="件", disable=not progress):
                _keep(grader, by_future[future], future.result(), gradebook, out_dir)
        except KeyboardInterrupt:
            for future in by_future:
                future.cancel()
            raise


def _keep(grader, submission, result, gradebook, out_dir):
    """Write the result's reports and record it; a fault here is recorded as the submission's grader fault."""
    try:
        write_reports(result, out_dir)
        gradebook.record(result)
        return
    except Exception as error:
        traceback.print_exc()
        result = grader.failed(submission, grader_fault(error))
    try:  # the fault itself: recorded, so that the next run grades this submission again
        gradebook.record(result)
        write_reports(result, out_dir)
    except Exception:
        traceback.print_exc()
        print(f"{submission.student_id}: 結果を保存できませんでした。もう一度採点してください。/ could not store the result.", file=sys.stderr)


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
