"""One unit's process: confine itself, load the student's code, then run one case per request.

Forked by the job leader for each unit, it talks only to the leader, over two pipes:
LOADING / LOADED frames while the code loads, then for each CASE request one RESULT. It holds the
inputs of the case it runs and nothing else: no other unit's inputs, guards or results, and only
the stand-ins of the units below this one.
"""

import os
import sys

from autograder.protocol import wire
from autograder.protocol.calls import RUNNERS, Swaps, seed
from autograder.protocol.forbidden_apis import rules_for
from autograder.protocol.messages import ErrorKind, Op, Protection
from autograder.protocol.plain import from_plain, to_plain
from autograder.sandbox import confine
from autograder.sandbox.student_code import (
    StudentImportWatch, error_result, failure, load_standins, load_target, register_bare_package, student_where,
    substitutes_for,
)
from autograder.sandbox.operator_watch import OperatorWatch

REQUEST_LIMIT = 2**30  # the leader's requests are the grader's own


def confine_unit(settings, limits):
    """Every lock this process can close on itself, in order; returns the protections in force."""
    took = []
    if confine.set_limits(limits["cpu_seconds"], limits["memory_mb"], limits["output_mb"], limits["max_processes"]):
        took.append(Protection.RLIMITS)
    confine.drop_bounding_set()
    if settings.get("job_uid") is not None:
        confine.become(settings["job_uid"])  # as root, outside any user namespace: the slot's own uid
        took.append(Protection.OWN_UID)
    if confine.clear_capabilities():
        took.append(Protection.NO_CAPABILITIES)
    if confine.no_new_privs():
        took.append(Protection.NO_NEW_PRIVS)
    if confine.not_dumpable():
        took.append(Protection.NOT_DUMPABLE)
    if settings.get("seccomp") is not None and confine.install_seccomp(settings["seccomp"]):
        took.append(Protection.SECCOMP)
    return took


def serve(requests_fd, replies_fd, request, settings, limits, code_dir, work_dir):
    """Confine this process, then run the unit in `request` (a UNIT message) in `work_dir`; never returns."""
    unit = request["unit"]
    protections = confine_unit(settings, limits)
    os.chdir(work_dir)  # after the uid change: the folder is the job uid's alone
    wire.write_frame(replies_fd, {"op": Op.CONFINED.value, "protections": [p.value for p in protections]})
    report = lambda module: wire.write_frame(replies_fd, {"op": Op.LOADING.value, "module": module})  # noqa: E731
    substitutes = substitutes_for(request.get("standin_homes", {}), request.get("standin_code", {}))
    watch = StudentImportWatch(request.get("poisoned", []), report, substitutes)
    operators = OperatorWatch(rules_for(unit.get("forbidden", [])), lambda frames: student_where(frames, code_dir))
    try:
        standins = load_standins(request.get("standin_code", {}), request.get("standins", {}))
        sys.meta_path.insert(0, watch)
        register_bare_package(code_dir)
        with operators:
            target = load_target(unit["source"], request.get("cell"))
    except BaseException as error:  # the student's import failed: every case of the unit reports it
        kind = ErrorKind.FORBIDDEN if operators.violations else ErrorKind.IMPORT
        wire.write_frame(replies_fd, {"op": Op.LOADED.value, "result": error_result(kind, error, code_dir)})
        os._exit(0)
    wire.write_frame(replies_fd, {"op": Op.LOADED.value, "result": _forbidden(operators)})
    watch.report = None  # from here on, the protocol allows only one RESULT per CASE
    swaps = Swaps(standins, watch.patch_function)
    runner = RUNNERS[unit["runner"]]
    while True:
        try:
            message = wire.read_frame(requests_fd, REQUEST_LIMIT)
        except wire.Closed:
            os._exit(0)
        index = message["index"]
        case = unit["cases"][index]
        inputs = from_plain(message["inputs"])
        seed(case.get("seed", 0))
        try:
            with operators:
                result = {"ok": True, "outputs": to_plain(runner(target, case, inputs, swaps))}
        except BaseException as error:  # includes SystemExit and KeyboardInterrupt raised by student code
            result = error_result(ErrorKind.EXCEPTION, error, code_dir)
        result = _forbidden(operators) or result
        wire.write_frame(replies_fd, {"op": Op.RESULT.value, "index": index, "result": result})


def _forbidden(operators):
    """The failure a forbidden call, or a watch the code removed, makes of the result; None if neither."""
    if operators.violations:
        return failure(ErrorKind.FORBIDDEN, "ForbiddenCall", "、".join(sorted(set(operators.violations))), operators.first_line)
    if operators.tampered:
        return failure(ErrorKind.FORBIDDEN, "ForbiddenCall", "禁止 API の実行時チェックが外されました")
    return None
