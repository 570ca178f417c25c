"""Grade submissions: submission → sandboxed worker → plain tensors → trusted comparison → case results.

The trusted process holds the reference and the expected values; it never runs student code.
A submission is one job for a zygote (`workers.py`, `sandbox.py`), in a fresh scratch folder
holding only that student's code; the job restarts after a case that hangs or crashes.
"""

import copy
import functools
import io
import json
import os
import shutil
import signal
import stat
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import torch

from . import wire, worker
from .compare import compare
from .forbidden import find_forbidden
from .hidden_tests import all_units
from .paths import SOLUTIONS, reference_package

RUBRIC = Path(__file__).with_name("rubric.toml")
NOTEBOOK = "00_pytorch_basics.ipynb"


@dataclass(frozen=True)
class Limits:
    """Per case, per unit job and per submission limits, documented in the README."""

    case_seconds: float = 3.0
    cpu_seconds: int = 300
    memory_mb: int = 2048
    output_mb: int = 8
    max_processes: int = 64
    submission_seconds: float = 300.0


@dataclass
class CaseResult:
    unit: str
    case: str
    score: float
    max_score: float
    status: str  # "passed" | "failed"
    category: str  # passed, mismatch, error, import, timeout, crashed, forbidden, missing, budget
    output: str  # Japanese feedback for this case

    @property
    def name(self):
        return f"{self.unit}: {self.case}"


@dataclass
class SubmissionResult:
    student_id: str
    content_hash: str
    cases: list = field(default_factory=list)
    isolation: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    execution_time: float = 0.0

    @property
    def score(self):
        return round(sum(c.score for c in self.cases), 6)

    @property
    def max_score(self):
        return round(sum(c.max_score for c in self.cases), 6)


def load_rubric(path=RUBRIC):
    """unit -> {case name -> points}, from the teacher-editable rubric file."""
    return tomllib.loads(Path(path).read_text(encoding="utf-8"))


# --- the expected values, computed once per batch on the trusted side ----------------------------


def _reference_target(unit):
    if unit.source["kind"] == "package":
        module = getattr(reference_package(), unit.source["module"])
        return getattr(module, unit.source["name"])
    from .notebook import run_solution_cells

    return run_solution_cells(SOLUTIONS / NOTEBOOK)[unit.source["name"]]


class Catalog:
    """Every unit with its cases, serialized inputs and the reference's outputs."""

    def __init__(self, units=None, rubric=None):
        self.units = units or all_units()
        self.rubric = rubric or load_rubric()
        self.inputs = b""  # torch.save of {unit name: [per-case input dicts]}, loaded once by each zygote
        self.expected = {}  # (unit name, case index) -> plain outputs
        worker.make_torch_deterministic()
        inputs = {unit.name: self._prepare(unit) for unit in self.units}
        buffer = io.BytesIO()
        torch.save(inputs, buffer)
        self.inputs = buffer.getvalue()

    def points(self, unit, case):
        return float(self.rubric.get(unit.name, {}).get(case.name, 1))

    def _prepare(self, unit):
        case_inputs = []
        standins = worker._load_standins(unit.standins)
        target = _reference_target(unit)
        for index, case in enumerate(unit.cases):
            inputs = case.make_inputs()
            case_inputs.append(inputs)
            reference_case = {**case.spec, "swap_modules": {}, "swap_functions": [], "seed": case.seed}
            worker._seed(case.seed)
            outputs = worker.RUNNERS[unit.runner](target, reference_case, copy.deepcopy(inputs), standins)
            self.expected[unit.name, index] = worker.to_plain(outputs)
        return case_inputs


# --- grading one submission -------------------------------------------------------------------


class Grader:
    def __init__(self, catalog, limits=Limits()):
        self.catalog = catalog
        self.limits = limits

    def grade(self, submission, zygote, scratch_base):
        """Grade a loaded `Submission` with `zygote`, using a folder under `scratch_base`."""
        started = time.monotonic()
        result = SubmissionResult(submission.student_id, submission.content_hash, problems=list(submission.problems))
        scratch = Path(tempfile.mkdtemp(prefix=f"{submission.student_id[:40]}-", dir=scratch_base))
        for folder in (Path(scratch_base), scratch):
            folder.chmod(0o711)  # traversable by the sandbox's user, not listable; the job folder is its own
        try:
            settled, runnable, files = {}, [], {}
            for unit in self.catalog.units:
                problem = self._prepare_unit(unit, submission, files)
                if problem:
                    settled[unit.name] = self._results(unit, *problem)
                else:
                    runnable.append(unit)
            outcomes = self._run_job(runnable, files, scratch / "job", zygote, result)
            first = 0
            for unit in self.catalog.units:
                if unit.name in settled:
                    result.cases += settled[unit.name]
                    continue
                result.cases += [self._judge(unit, i, case, outcomes[first + i]) for i, case in enumerate(unit.cases)]
                first += len(unit.cases)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        result.execution_time = round(time.monotonic() - started, 3)
        return result

    def failed(self, submission, error):
        """The result when grading itself broke down: every case failed, the reason said."""
        result = SubmissionResult(submission.student_id, submission.content_hash, problems=list(submission.problems))
        message = f"採点の途中で採点側のエラーが起きました（{type(error).__name__}）。先生に知らせてください。"
        for unit in self.catalog.units:
            result.cases += self._results(unit, "error", message)
        return result

    def _results(self, unit, category, message):
        """Every case of `unit` failed for one reason."""
        return [CaseResult(unit.name, case.name, 0.0, self.catalog.points(unit, case), "failed", category, message)
                for case in unit.cases]

    def _prepare_unit(self, unit, submission, files):
        """Add the unit's files to `files`; return (category, message) when it cannot run."""
        if unit.source["kind"] == "package":
            package = submission.package_files()
            module_file = f"{unit.source['module']}.py"
            if module_file not in package:
                return "missing", f"transformer/{module_file} が提出にありません。"
            source = package[module_file].decode("utf-8", errors="replace")
            files.update({f"transformer/{name}": data for name, data in package.items()})
        else:
            source, problem = self._notebook_cell(unit.source["name"], submission)
            if problem:
                return "missing", problem
            files.setdefault("cells", {})[unit.source["name"]] = source
        forbidden = find_forbidden(source, unit.source["name"], unit.forbidden)
        if forbidden:
            return "forbidden", f"{unit.name} では {', '.join(forbidden)} は使えません（自分で実装する課題です）。このユニットは 0 点です。"
        return None

    @staticmethod
    def _notebook_cell(grade_id, submission):
        raw = submission.notebook(NOTEBOOK)
        if raw is None:
            return None, f"ノートブック {NOTEBOOK} が提出にありません。"
        cells, problem = _graded_cells(raw)
        if problem:
            return None, problem
        cells = cells.get(grade_id, [])
        if not cells:
            return None, f"{NOTEBOOK} に grade_id が {grade_id} の解答セルが見つかりません。"
        if len(cells) > 1:
            return None, f"grade_id が {grade_id} のセルが {len(cells)} 個あります。1 つだけにしてください。"
        if cells[0].cell_type != "code":
            return None, f"セル {grade_id} がコードセルではありません。"
        return cells[0].source, None

    def _job_spec(self, units, start, poisoned=()):
        spec, first = [], 0
        for unit in units:
            spec.append({"name": unit.name, "source": unit.source, "runner": unit.runner, "standins": unit.standins,
                         "forbidden": unit.forbidden, "first": first,
                         "cases": [{**case.spec, "seed": case.seed} for case in unit.cases]})
            first += len(unit.cases)
        return {"start": start, "units": spec, "poisoned": sorted(poisoned)}

    def _run_job(self, units, files, job_dir, zygote, result):
        """Run all runnable units' cases in one sandboxed job, restarting after a case that hangs or crashes.

        The first stop in a unit is given a second run: a machine that stalls under load must not
        cost a student a case. A unit that stops the job again has its stop recorded, and later
        stops in it are taken at once. Returns flat case index -> outcome.
        """
        total = sum(len(unit.cases) for unit in units)
        outcomes, start, deadline, poisoned = {}, 0, time.monotonic() + self.limits.submission_seconds, set()
        stopped_once = set()  # units that have stopped a job
        results_dir = job_dir.parent / "results"  # the grader's: the sandbox's user cannot write here
        results_dir.mkdir(mode=0o755)
        while start < total:
            self._lay_out_job(job_dir, files, self._job_spec(units, start, poisoned), units)
            remaining = max(0.0, deadline - time.monotonic())
            reply = zygote.run({"job_dir": str(job_dir), "results_dir": str(results_dir),
                                "case_timeout": self.limits.case_seconds, "total_seconds": remaining,
                                "cpu_seconds": self.limits.cpu_seconds, "memory_mb": self.limits.memory_mb,
                                "output_mb": self.limits.output_mb, "max_processes": self.limits.max_processes})
            result.isolation = reply.get("isolation") or result.isolation
            for index in range(start, total):
                path = results_dir / wire.result_name(index)
                if not path.exists():
                    break
                outcomes[index] = _load_result(path, self.limits.output_mb * 2**20)
            start = max(outcomes, default=start - 1) + 1
            if start < total and reply["status"] == "budget":
                for index in range(start, total):
                    outcomes[index] = {"ok": False, "kind": "budget", "error": "時間切れ",
                                       "message": "提出全体の制限時間を超えたため、このケースは実行しませんでした。"}
                break
            loading = _read_loading_marker(job_dir / worker.LOADING_MARKER, units)
            if start < total:
                unit = loading["unit"] if loading else _unit_of_case(units, start).name
                if unit not in stopped_once:
                    stopped_once.add(unit)
                    continue
            if start < total and loading:
                start = self._fail_loading_unit(units, loading, reply, outcomes, poisoned)
            elif start < total:
                outcomes[start] = _stopped(reply)
                start += 1
        return outcomes

    @staticmethod
    def _fail_loading_unit(units, loading, reply, outcomes, poisoned):
        """The job stopped while a unit's code was loading: the whole unit fails, and its module is not imported again."""
        if loading.get("module"):
            poisoned.add(loading["module"])
        first = 0
        for unit in units:
            if unit.name == loading["unit"]:
                stopped = _stopped(reply)
                stopped["message"] = f"コードの読み込み中（{loading.get('module') or 'セルの実行'}）に止まりました: {stopped['message']}"
                for index in range(first, first + len(unit.cases)):
                    outcomes[index] = stopped
                return first + len(unit.cases)
            first += len(unit.cases)
        raise ValueError(f"unknown unit {loading['unit']}")

    def _lay_out_job(self, job_dir, files, spec, units):
        if job_dir.exists():
            shutil.rmtree(job_dir)
        job_dir.mkdir(parents=True)
        for name, data in files.items():
            if name == "cells":
                (job_dir / "cells.json").write_text(json.dumps(data), encoding="utf-8")
                continue
            (job_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (job_dir / name).write_bytes(data)
        (job_dir / "job.json").write_text(json.dumps(spec), encoding="utf-8")

    def _judge(self, unit, index, case, outcome):
        points = self.catalog.points(unit, case)
        header = f"確かめたこと: {case.what}"
        if outcome.get("ok"):
            mismatch = compare(self.catalog.expected[unit.name, index], outcome["outputs"], case.atol)
            if mismatch is None:
                return CaseResult(unit.name, case.name, points, points, "passed", "passed", "")
            message = f"{header}\n{mismatch.message}\nよくある原因: {case.cause}"
            return CaseResult(unit.name, case.name, 0.0, points, "failed", "mismatch", message)
        category = outcome.get("kind", "error")
        explanation = {
            "import": "コードを読み込めませんでした",
            "exception": "実行中に例外が起きました",
            "forbidden": "使ってはいけない関数が呼ばれました",
            "timeout": "時間内に終わりませんでした",
            "crashed": "プロセスが異常終了しました",
        }.get(category, "実行に失敗しました")
        where = f"（{outcome['where']}）" if outcome.get("where") else ""
        detail = f"{outcome.get('error', '')}: {outcome.get('message', '')}".strip(": ")
        message = f"{header}\n{explanation}{where}: {detail}"
        if category in ("exception", "timeout") and "未実装" not in detail:
            message += f"\nよくある原因: {case.cause}"
        return CaseResult(unit.name, case.name, 0.0, points, "failed", category, message)


def _unit_of_case(units, index):
    """The unit whose cases include flat case index `index`."""
    for unit in units:
        if index < len(unit.cases):
            return unit
        index -= len(unit.cases)
    raise IndexError(index)


@functools.lru_cache(maxsize=16)
def _graded_cells(raw):
    """The notebook's cells by nbgrader grade_id, or why it cannot be read; parsed once per submission."""
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as error:  # invalid JSON, wrong encoding: the notebook as a whole is unreadable
        return None, f"{NOTEBOOK} をノートブックとして読めません（{type(error).__name__}）。"
    cells = {}
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            cells.setdefault(grade_id, []).append(cell)
    return cells, None


def _read_untrusted(path, limit):
    """The bytes of a file the student's process may have made: a regular file only, never through a
    link, never blocking (a FIFO), at most `limit` bytes. OSError or ValueError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes")
    return data


MARKER_BYTES = 4096


def _read_loading_marker(path, units):
    """The worker's note of which unit (and module) was loading, or None. The job folder is the student's,
    so the note is checked, never trusted: an unreadable note or an unknown unit counts as no note."""
    try:
        loading = json.loads(_read_untrusted(path, MARKER_BYTES).decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(loading, dict) or loading.get("unit") not in {unit.name for unit in units}:
        return None
    module = loading.get("module")
    return {"unit": loading["unit"], "module": module if isinstance(module, str) and module.startswith("transformer.") else None}


def _load_result(path, limit):
    try:
        return wire.load_result(_read_untrusted(path, limit))
    except (OSError, ValueError) as error:  # a file the student's code forged or damaged: it earns nothing
        return {"ok": False, "kind": "crashed", "error": "結果ファイルが壊れています", "message": str(error)}


SIGNAL_MESSAGES = {
    signal.SIGXCPU: "CPU 時間の上限を超えました",
    signal.SIGXFSZ: "出力（print など）が多すぎます",
    signal.SIGKILL: "強制終了されました（メモリの使いすぎなど）",
    signal.SIGSEGV: "セグメンテーション違反で落ちました",
}


def _stopped(reply):
    """The outcome of the case that was running when the job stopped early."""
    if reply["status"] == "timeout":
        return {"ok": False, "kind": "timeout", "error": "時間切れ", "message": "1 ケースの制限時間を超えました（無限ループや長すぎる待ち時間）"}
    sig = reply.get("signal") or 0
    message = SIGNAL_MESSAGES.get(sig, f"終了コード {reply.get('returncode')}（sys.exit や os._exit でプロセスが終わった可能性があります）")
    return {"ok": False, "kind": "crashed", "error": "異常終了", "message": message}
