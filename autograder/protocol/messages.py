"""The conversation between the grader (trusted) and one sandbox, and what a case can come to.

Every message is a dict with an "op" (an `Op`), sent as one frame (see `wire.py`). One sandbox
serves one submission (a *job*) at a time; within a job, one unit at a time, in its own process;
within a unit, one case at a time, each acknowledged before the next is sent.

    grader  -> sandbox   SETUP    {"seccomp": uint8 tensor (BPF), "job_uid": int | None}     once, first
    sandbox -> grader    WARM     {}                                                       torch is imported, SETUP read
    grader  -> sandbox   JOB      {"files": {path: latin-1 text}, "compiled": {path: .pyc, uint8 tensor},
                                   "limits": {...}}                                          a submission begins
    sandbox -> grader    READY    {"isolation": [Protection values]}                       its sandbox is made
    grader  -> sandbox   UNIT     {"unit": {...}, "standins": {name: stem}, "standin_code": {stem: uint8 tensor},
                                   "standin_homes": {name: [module, stem]}, "poisoned": [...], "cell": [source, imports] | None}
    sandbox -> grader    CONFINED {"protections": [...]}                                   the unit's process has locked itself in
    sandbox -> grader    LOADING  {"module": "transformer.x"}                              (any number, while importing)
    sandbox -> grader    LOADED   {"result": None | error result}                           the unit's code is in
    grader  -> sandbox   CASE     {"index": i, "inputs": plain}
    sandbox -> grader    RESULT   {"index": i, "result": result}                            or STOPPED, for any request
    grader  -> sandbox   END_UNIT {}
    sandbox -> grader    UNIT_DONE {}                                                     every process of the unit is gone
    grader  -> sandbox   END_JOB  {}
    sandbox -> grader    JOB_DONE {"clean": bool}                                          every process of the job is gone

    sandbox -> grader    STOPPED  {"stop": Stop, "returncode": int, "signal": int}          the unit's process ended early
                                                                                           (Stop.FAULT: before CONFINED)

What the sandbox says is checked, never trusted: a frame out of turn, for another case, or of a
form not listed here ends the unit as a protocol violation.
"""

from enum import Enum


class Op(str, Enum):
    SETUP = "setup"
    WARM = "warm"
    JOB = "job"
    READY = "ready"
    UNIT = "unit"
    CONFINED = "confined"
    LOADING = "loading"
    LOADED = "loaded"
    CASE = "case"
    RESULT = "result"
    STOPPED = "stopped"
    END_UNIT = "end_unit"
    UNIT_DONE = "unit_done"
    END_JOB = "end_job"
    JOB_DONE = "job_done"


class Stop(str, Enum):
    """Why a unit's process ended before its cases did."""

    TIMEOUT = "timeout"  # a case (or the import) ran past its time limit
    CRASHED = "crashed"  # the process died: a signal, sys.exit, os._exit, a limit
    VIOLATION = "violation"  # it said something the protocol does not allow
    FAULT = "fault"  # it died before any student code ran (before CONFINED): the sandbox's fault, never the student's


class ErrorKind(str, Enum):
    """The failures a sandboxed unit may report itself; the grader's own outcomes cannot be claimed."""

    EXCEPTION = "exception"
    IMPORT = "import"
    FORBIDDEN = "forbidden"


class Outcome(str, Enum):
    """What a graded case came to."""

    PASSED = "passed"
    MISMATCH = "mismatch"  # it ran and returned something else
    EXCEPTION = "exception"
    IMPORT = "import"  # the unit's code did not load
    FORBIDDEN = "forbidden"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    VIOLATION = "violation"  # the sandboxed process broke the protocol (forged or out-of-turn results)
    MISSING = "missing"  # the file or notebook cell is not in the submission
    BUDGET = "budget"  # the submission's whole time ran out before this case
    GRADER_ERROR = "error"  # the grader itself failed: not the student's fault


class Protection(str, Enum):
    """The protections a job ran under, as reported in results.json and the terminal."""

    FRESH_ROOT = "fresh-root"  # a new root holding only the allowlisted, read-only paths
    USER_NAMESPACE = "user-namespace"
    MOUNT_NAMESPACE = "mount-namespace"
    PID_NAMESPACE = "pid-namespace"
    NETWORK_NAMESPACE = "network-namespace"
    IPC_NAMESPACE = "ipc-namespace"
    PRIVATE_TMP = "private-tmp"  # /tmp and the work folder on fresh, size- and inode-limited tmpfs, per unit
    READ_ONLY_CODE = "read-only-code"
    OWN_UID = "own-uid"  # each concurrent job its own uid
    NO_CAPABILITIES = "no-capabilities"
    NO_NEW_PRIVS = "no-new-privs"
    SECCOMP = "seccomp"
    NOT_DUMPABLE = "not-dumpable"
    RLIMITS = "rlimits"
    UNSANDBOXED = "unsandboxed"  # the teacher asked for no sandbox (--unsandboxed)
