"""Grade one submission: its units, one by one, in a sandbox; each case's result compared on this side.

The trusted process holds the reference and the expected values; it never runs student code.
A submission is one job for a zygote (`launcher.py`). The conversation (`protocol/messages.py`)
goes in lockstep: a unit's process is started, reports its protections and loads the student's
code; then each case's inputs are sent only after the previous case's result is in. A case that
hangs or crashes ends the unit's process; the unit's first stop gets a second run (a machine that
stalls under load must not cost a case), later ones count at once, and the rest of the unit runs
in a fresh process.
"""

import ast
import copy
import functools
import signal
import time
from dataclasses import dataclass, field

import nbformat

from autograder.grader.bytecode import pyc
from autograder.grader.compare import compare
from autograder.grader.forbidden import find_forbidden, forbidden_message
from autograder.grader.hints import error_hint
from autograder.grader.launcher import ZygoteBroken
from autograder.grader.syntax import parse
from autograder.paths import NOTEBOOK
from autograder.protocol import wire
from autograder.protocol.messages import Op, Outcome, Protection, Stop
from autograder.protocol.text import untrusted_text

REPLY_GRACE_SECONDS = 10.0  # past a case's own limit, how long the sandbox may take to say so


@dataclass(frozen=True)
class Limits:
    """Per case, per unit and per submission limits, documented in the README."""

    case_seconds: float = 3.0
    cpu_seconds: int = 300
    memory_mb: int = 2048
    output_mb: int = 8
    work_mb: int = 64  # each of the unit's tmpfs folders (work, /tmp, /dev/shm)
    max_processes: int = 64
    submission_seconds: float = 300.0

    def for_sandbox(self):
        return {"case_seconds": self.case_seconds, "cpu_seconds": self.cpu_seconds, "memory_mb": self.memory_mb,
                "output_mb": self.output_mb, "work_mb": self.work_mb, "max_processes": self.max_processes}


@dataclass
class CaseResult:
    unit: str
    case: str
    score: float
    max_score: float
    status: str  # "passed" | "failed"
    category: str  # an Outcome value
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
    rubric: str = ""  # the fingerprint of the points the cases were scored with (rubric.py)

    @property
    def score(self):
        return round(sum(c.score for c in self.cases), 6)

    @property
    def max_score(self):
        return round(sum(c.max_score for c in self.cases), 6)

    @property
    def forbidden_units(self):
        """The units that used what they may not (a flag for the teacher, beyond the lost points)."""
        return list(dict.fromkeys(c.unit for c in self.cases if c.category == Outcome.FORBIDDEN.value))


def failed_outcome(outcome, error, message):
    """A case's outcome decided on this side (never claimed by the sandbox)."""
    return {"ok": False, "kind": outcome.value, "error": error, "message": message}


class Grader:
    def __init__(self, catalog, limits=Limits()):
        self.catalog = catalog
        self.limits = limits

    def grade(self, submission, zygote):
        """Grade a loaded `Submission` in `zygote`; ZygoteBroken when the sandbox itself failed."""
        started = time.monotonic()
        result = self._new_result(submission)
        settled, runnable, cells = {}, [], {}
        for unit in self.catalog.units:
            problem = self._prepare_unit(unit, submission, cells)
            if problem:
                settled[unit.name] = self._results(unit, *problem)
            else:
                runnable.append(unit)
        job = _Job(self, zygote, submission, cells, started + self.limits.submission_seconds)
        outcomes = job.run(runnable)
        result.isolation = job.isolation
        for unit in self.catalog.units:
            if unit.name in settled:
                result.cases += settled[unit.name]
            else:
                result.cases += self._judge_unit(unit, [outcomes[unit.name, i] for i in range(len(unit.cases))])
        result.execution_time = round(time.monotonic() - started, 3)
        return result

    def failed(self, submission, message):
        """The result when grading itself broke down: every case failed, with the Japanese `message` saying why."""
        result = self._new_result(submission)
        for unit in self.catalog.units:
            result.cases += self._results(unit, Outcome.GRADER_ERROR, message)
        return result

    def _new_result(self, submission):
        return SubmissionResult(submission.student_id, submission.content_hash, problems=list(submission.problems),
                                rubric=self.catalog.rubric_fingerprint)

    def _results(self, unit, outcome, message):
        """Every case of `unit` failed for one reason."""
        return [CaseResult(unit.name, case.name, 0.0, self.catalog.points(unit, case), "failed", outcome.value, message)
                for case in unit.cases]

    def _prepare_unit(self, unit, submission, cells):
        """Note the unit's notebook cell in `cells`; return (Outcome, message) when it cannot run."""
        imports = ""
        if unit.source["kind"] == "package":
            package = submission.package_files()
            module_file = f"{unit.source['module']}.py"
            if module_file not in package:
                return Outcome.MISSING, f"transformer/{module_file} が提出にありません。"
            source = package[module_file].decode("utf-8", errors="replace")
        else:
            cell, problem = _notebook_cell(unit.source["name"], submission)
            if problem:
                return Outcome.MISSING, problem
            cells[unit.source["name"]] = cell
            source, imports = cell
        findings = find_forbidden(source, unit.source["name"], unit.forbidden, frozenset(unit.standins), imports)
        if findings:
            return Outcome.FORBIDDEN, forbidden_message(unit.name, unit.source, findings)
        return None

    def _judge_unit(self, unit, outcomes):
        """Each case's result; a forbidden call seen in any case costs every case of the unit."""
        forbidden = next((o for o in outcomes if o.get("kind") == Outcome.FORBIDDEN.value), None)
        if forbidden is not None:
            outcomes = [forbidden] * len(outcomes)
        return [self._judge(unit, i, case, outcome) for i, (case, outcome) in enumerate(zip(unit.cases, outcomes))]

    def _judge(self, unit, index, case, outcome):
        points = self.catalog.points(unit, case)
        header = f"確かめたこと: {case.what}"
        if outcome.get("ok"):
            mismatch = compare(self.catalog.expected[unit.name, index], outcome["outputs"], case.atol)
            if mismatch is None:
                return CaseResult(unit.name, case.name, points, points, "passed", Outcome.PASSED.value, "")
            message = f"{header}\n{mismatch.message}"
            if not case.cause_when or mismatch.kind in case.cause_when:  # the cause only where the difference shows it
                message += f"\nよくある原因: {case.cause}"
            return CaseResult(unit.name, case.name, 0.0, points, "failed", Outcome.MISMATCH.value, message)
        category = Outcome(outcome.get("kind", Outcome.GRADER_ERROR.value))
        explanation = EXPLANATIONS.get(category, "実行に失敗しました")
        where = f"（{outcome['where']}）" if outcome.get("where") else ""
        detail = f"{outcome.get('error', '')}: {outcome.get('message', '')}".strip(": ")
        message = f"{header}\n{explanation}{where}: {detail}"
        hint = error_hint(outcome.get("error"), outcome.get("message")) if category is Outcome.EXCEPTION else None
        if hint:
            message += f"\nヒント: {hint}"
        elif category is Outcome.TIMEOUT:
            message += f"\nよくある原因: 無限ループ、または {case.cause}"
        return CaseResult(unit.name, case.name, 0.0, points, "failed", category.value, message)


EXPLANATIONS = {
    Outcome.IMPORT: "コードを読み込めませんでした",
    Outcome.EXCEPTION: "実行中に例外が起きました",
    Outcome.FORBIDDEN: "使ってはいけない関数が呼ばれました",
    Outcome.TIMEOUT: "時間内に終わりませんでした",
    Outcome.CRASHED: "プロセスが異常終了しました",
    Outcome.VIOLATION: "採点の決まりに反する動きをしました",
    Outcome.BUDGET: "提出全体の制限時間を超えました",
}


class _Job:
    """One submission's conversation with its sandbox: every runnable unit's cases, in order."""

    def __init__(self, grader, zygote, submission, cells, deadline):
        self.zygote, self.cells, self.deadline = zygote, cells, deadline
        self.catalog, self.limits = grader.catalog, grader.limits
        package = {name: data for name, data in submission.files.items() if name.startswith("transformer/")}
        self.files = {name: data.decode("latin-1") for name, data in package.items()}
        self.compiled = {name: wire.blob(compiled) for name, data in package.items() if name.endswith(".py") and (compiled := pyc(data)) is not None}
        self.outcomes, self.poisoned, self.isolation = {}, set(), []
        self.reply_limit = self.limits.output_mb * 2**20 + 2**16

    def _receive(self, *ops):
        return self.zygote.receive(ops, self.reply_limit, self.limits.case_seconds + REPLY_GRACE_SECONDS)

    def run(self, units):
        """(unit name, case index) -> outcome, for every case of `units`."""
        self.zygote.send({"op": Op.JOB.value, "files": self.files, "compiled": self.compiled, "limits": self.limits.for_sandbox()})
        ready = self._receive(Op.READY)
        self.isolation = _protections(ready.get("isolation"))
        for unit in units:
            self._run_unit(unit)
        self.zygote.send({"op": Op.END_JOB.value})
        if not self._receive(Op.JOB_DONE).get("clean"):
            raise ZygoteBroken("the job did not end cleanly")
        return self.outcomes

    def _run_unit(self, unit):
        pending, stopped_once = list(range(len(unit.cases))), False
        while pending:
            if time.monotonic() > self.deadline:
                for index in pending:
                    self.outcomes[unit.name, index] = failed_outcome(Outcome.BUDGET, "時間切れ", "提出全体の制限時間を超えたため、このケースは実行しませんでした。")
                return
            stop, during = self._unit_process(unit, pending)
            if stop is None:
                return
            if not stopped_once and stop["stop"] != Stop.VIOLATION.value:
                stopped_once = True  # the first stop in a unit is run again: the machine may have stalled
                continue
            if during is None:  # while loading: the whole unit fails, and the module that hung is not imported again
                if stop.get("module"):
                    self.poisoned.add(stop["module"])
                outcome = _stopped(stop, f"コードの読み込み中（{stop.get('module') or 'セルの実行'}）に止まりました: ")
                for index in pending:
                    self.outcomes[unit.name, index] = outcome
                return
            self.outcomes[unit.name, during] = _stopped(stop)
            pending.remove(during)

    def _unit_process(self, unit, pending):
        """Run `pending` cases in one unit process; returns (None, None) when it ran to the end, else
        (the STOPPED message, the case index it stopped in or None while loading). Finished cases leave `pending`."""
        self.zygote.send({"op": Op.UNIT.value, "unit": self._unit_spec(unit), "standins": self.catalog.standin_names(unit),
                          "standin_code": self.catalog.standin_code[unit.name], "standin_homes": self.catalog.standin_homes,
                          "poisoned": sorted(self.poisoned),
                          "cell": self.cells.get(unit.source["name"])})  # (source, the imports run before it) or None
        module = None
        message = self._receive(Op.CONFINED, Op.STOPPED)
        if message["op"] == Op.CONFINED.value:
            self.isolation = sorted(set(self.isolation) | set(_protections(message.get("protections"))))
            while (message := self._receive(Op.LOADING, Op.LOADED, Op.STOPPED))["op"] == Op.LOADING.value:
                reported = untrusted_text(message.get("module"), 200)
                module = reported if reported.startswith("transformer.") else module
        if message["op"] == Op.STOPPED.value:
            self._receive(Op.UNIT_DONE)
            if message.get("stop") == Stop.FAULT.value:
                raise ZygoteBroken("a unit's process failed before the student's code ran")
            return {**message, "module": module}, None
        if message.get("result") is not None:  # the code did not load: every pending case reports it
            outcome = _checked(message["result"])
            for index in pending:
                self.outcomes[unit.name, index] = outcome
            pending.clear()
        for index in list(pending):
            if time.monotonic() > self.deadline:
                break
            self.zygote.send_encoded(self.catalog.case_frames[unit.name, index])
            reply = self._receive(Op.RESULT, Op.STOPPED)
            if reply["op"] == Op.STOPPED.value:
                self._receive(Op.UNIT_DONE)
                return reply, index
            if reply.get("index") != index:
                raise ZygoteBroken("a result for another case")
            self.outcomes[unit.name, index] = _checked(reply.get("result"))
            pending.remove(index)
        self.zygote.send({"op": Op.END_UNIT.value})
        self._receive(Op.UNIT_DONE)
        return None, None

    @staticmethod
    def _unit_spec(unit):
        return {"name": unit.name, "source": unit.source, "runner": unit.runner, "forbidden": unit.forbidden,
                "cases": [{**case.spec, "seed": case.seed} for case in unit.cases]}


def _protections(values):
    allowed = {p.value for p in Protection}
    return [v for v in values or [] if v in allowed]


def _checked(result):
    """A case result from the sandbox, if it is of the worker's form; a violation otherwise."""
    try:
        return wire.check_result(result)
    except ValueError as error:
        return failed_outcome(Outcome.VIOLATION, "結果の形が不正です", f"採点側が受け取れない結果が送られました（{error}）。")


SIGNAL_MESSAGES = {
    signal.SIGXCPU: "CPU 時間の上限を超えました",
    signal.SIGXFSZ: "出力（ファイルへの書き込み）が多すぎます",
    signal.SIGKILL: "強制終了されました（メモリの使いすぎなど）",
    signal.SIGSEGV: "セグメンテーション違反で落ちました",
}


def _stopped(stop, prefix=""):
    """The outcome of the case that was running when the unit's process stopped early."""
    if stop["stop"] == Stop.TIMEOUT.value:
        return failed_outcome(Outcome.TIMEOUT, "時間切れ", prefix + "1 ケースの制限時間を超えました（無限ループや長すぎる待ち時間）")
    if stop["stop"] == Stop.VIOLATION.value:
        return failed_outcome(Outcome.VIOLATION, "約束違反", prefix + "採点の手順にない書き込みをしました（結果の偽造や先回りなど）。このケースは 0 点です。")
    sig = stop.get("signal") or 0
    message = SIGNAL_MESSAGES.get(sig, f"終了コード {stop.get('returncode')}（sys.exit や os._exit でプロセスが終わった可能性があります）")
    return failed_outcome(Outcome.CRASHED, "異常終了", prefix + message)


@functools.lru_cache(maxsize=16)
def _graded_cells(raw):
    """The notebook's cells by nbgrader grade_id, each with the imports the notebook's ungraded code cells
    above it make (Jupyter runs those first), or why the notebook cannot be read; parsed once per submission."""
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as error:  # invalid JSON, wrong encoding: the notebook as a whole is unreadable
        return None, f"{NOTEBOOK} をノートブックとして読めません（{type(error).__name__}）。"
    cells, imports = {}, []
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            cells.setdefault(grade_id, []).append((cell, _imports_used(imports, cell.source)))
        elif cell.cell_type == "code":
            imports += _imports_of(cell.source)
    return cells, None


def _imports_of(source):
    """The top-level import statements of a code cell (a cell that does not parse has none)."""
    try:
        tree = parse(source)
    except (SyntaxError, ValueError):
        return []
    return [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]


def _imports_used(imports, source):
    """The names of `imports` that the cell `source` uses, as import lines: Jupyter would have them bound,
    and importing what the cell never touches (a plotting library, say) would only cost time."""
    try:
        used = {node.id for node in ast.walk(parse(source)) if isinstance(node, ast.Name)}
    except (SyntaxError, ValueError):
        return ""
    lines = []
    for node in imports:
        kept = copy.copy(node)
        kept.names = [alias for alias in node.names if (alias.asname or alias.name.split(".")[0]) in used or alias.name == "*"]
        if kept.names:
            lines.append(ast.unparse(kept))
    return "\n".join(lines)


def _notebook_cell(grade_id, submission):
    """((the cell's source, the imports run before it), None), or (None, why the cell cannot be graded)."""
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
    cell, imports = cells[0]
    if cell.cell_type != "code":
        return None, f"セル {grade_id} がコードセルではありません。"
    return (cell.source, imports), None
