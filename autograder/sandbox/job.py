"""A submission's leader: pid 1 of the job's own PID, mount and IPC namespaces.

It lays the student's files out on a fresh tmpfs, each with the grader's .pyc of it, and makes it
read-only, then, for each UNIT the grader sends, gives the unit fresh, size- and inode-limited tmpfs
folders (`/job/work`, `/tmp`, `/dev/shm`), forks the unit's process and relays its frames one case at a time, timing each.
When the unit ends (done, timed out, crashed or in breach of the protocol) every process of the
job but this one is killed before the grader hears UNIT_DONE, and reaped before the next unit starts. The student's code never
runs in this process, which stays not dumpable so that no process of the same uid can reach into it.
"""

import importlib.util
import os
import re
import signal
import time
from pathlib import Path

from autograder.protocol import wire
from autograder.protocol.messages import Op, Protection, Stop
from autograder.sandbox import confine, unit

FILE_NAME = re.compile(r"transformer/[A-Za-z_][A-Za-z0-9_]*\.py")
TEMPORARY = ["/tmp", "/dev/shm"]
CODE_INODES, WORK_INODES, TEMP_INODES = 256, 4096, 4096
GRADER_LIMIT = 2**30  # the grader's own requests
MAX_LOADING_REPORTS = 64


class Leader:
    def __init__(self, settings, limits, isolation):
        self.settings, self.limits, self.isolation = settings, limits, isolation
        root = Path(settings["job_root"])
        self.code_dir, self.work_dir = root / "code", root / "work"
        self.mounts = Protection.MOUNT_NAMESPACE in isolation

    # --- the job ------------------------------------------------------------------------------

    def lead(self, files, compiled):
        """Serve the grader on stdin/stdout until END_JOB."""
        confine.not_dumpable()
        if os.getpid() != 1:
            confine.prctl(confine.PR_SET_CHILD_SUBREAPER, 1)  # unsandboxed: what the unit leaves comes back here
        if self.mounts and Protection.PID_NAMESPACE in self.isolation and not confine.mount_proc():
            self.isolation.remove(Protection.PID_NAMESPACE)  # the unit could still see the zygote's processes
        if self.mounts and not confine.make_private():
            raise OSError("the job's mounts cannot be made private")
        if self._lay_out_code(files, compiled):
            self.isolation.append(Protection.READ_ONLY_CODE)
        wire.write_frame(1, {"op": Op.READY.value, "isolation": [p.value for p in self.isolation]})
        while True:
            request = wire.read_frame(0, GRADER_LIMIT)
            if request["op"] == Op.END_JOB.value:
                return
            self._run_unit(request)
            wire.write_frame(1, {"op": Op.UNIT_DONE.value})

    def _lay_out_code(self, files, compiled):
        """The student's files under code/, and in __pycache__ the grader's .pyc of each that compiled (so
        that the import system loads it instead of compiling it); True when that folder is a read-only tmpfs."""
        size_mb = 1 + (sum(len(text) for text in files.values()) + sum(code.numel() for code in compiled.values())) // 2**20
        fresh = self.mounts and confine.mount_tmpfs(str(self.code_dir), size_mb, CODE_INODES + len(compiled), 0o755)
        (self.code_dir / "transformer" / "__pycache__").mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            if FILE_NAME.fullmatch(name):
                path = self.code_dir / name
                _write_read_only(path, text.encode("latin-1"))
                if name in compiled:
                    _write_read_only(Path(importlib.util.cache_from_source(str(path))), wire.blob_bytes(compiled[name]))
        return fresh and confine.remount_read_only(str(self.code_dir))

    def _fresh_temporary(self):
        """Empty, limited tmpfs folders for the unit about to run. Where the sandbox has mounts and they
        fail, OSError: a unit must never see what an earlier one left there."""
        owner = self.settings.get("job_uid")
        if not self.mounts:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            return
        kept = self.settings.get("keep_in_tmp", [])  # (path, stash): a venv under /tmp steps aside, then comes back
        for path, stash in kept:
            _require(confine.move_mount(path, stash), f"move {path} aside")
        work_owner = owner if owner is not None else os.getuid()
        _require(confine.mount_tmpfs(str(self.work_dir), self.limits["work_mb"], WORK_INODES, 0o700, work_owner), f"tmpfs on {self.work_dir}")
        for path in filter(os.path.isdir, TEMPORARY):
            _require(confine.mount_tmpfs(path, self.limits["work_mb"], TEMP_INODES, 0o1777), f"tmpfs on {path}")
        for path, stash in kept:
            os.makedirs(path, exist_ok=True)
            _require(confine.move_mount(stash, path), f"move {path} back")

    # --- one unit -----------------------------------------------------------------------------

    def _run_unit(self, request):
        self._reap_all()
        self._fresh_temporary()
        to_unit, requests = os.pipe()
        replies, from_unit = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(requests)
            os.close(replies)
            self._become_unit(to_unit, from_unit, request)
        os.close(to_unit)
        os.close(from_unit)
        try:
            stop = self._relay(requests, replies)
        finally:
            os.close(requests)
            os.close(replies)
        status = self._end_unit_processes(pid, stop)
        if stop is not None:
            code = os.waitstatus_to_exitcode(status) if status is not None else 0
            wire.write_frame(1, {"op": Op.STOPPED.value, "stop": stop.value, "returncode": code, "signal": -code if code < 0 else 0})

    def _become_unit(self, requests_fd, replies_fd, request):
        """In the forked child: away from the grader's pipes, into the work folder, then the unit. Never returns."""
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            for fd in map(int, os.listdir("/proc/self/fd")):  # nothing of the leader's but the unit's two pipes
                if fd > 2 and fd not in (requests_fd, replies_fd):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            os.setsid()
            os.environ.clear()
            os.environ.update({"PATH": "/usr/bin:/bin", "HOME": str(self.work_dir), "LANG": "C.UTF-8", "TMPDIR": "/tmp"})
            unit.serve(requests_fd, replies_fd, request, self.settings, self.limits, self.code_dir, self.work_dir)
        finally:
            os._exit(70)

    def _relay(self, requests, replies):
        """Pass the unit's frames to the grader in the protocol's order; returns a Stop, or None when it ended well.

        Each frame of the unit's is decoded here, so that a malformed one ends the unit as a violation,
        and passed on as it came; the grader decodes it again and checks what it says.
        """
        timeout, limit = self.limits["case_seconds"], self.limits["output_mb"] * 2**20
        deadline = time.monotonic() + timeout

        def next_reply(*ops):
            data = wire.read_encoded(replies, limit, max(0.0, deadline - time.monotonic()))
            message = wire.decode(data)
            if type(message) is not dict or message.get("op") not in {op.value for op in ops}:
                raise ValueError("a frame out of turn")
            return message, data

        try:
            _, data = next_reply(Op.CONFINED)
        except (wire.Closed, BrokenPipeError, TimeoutError, ValueError):
            return Stop.FAULT  # no student code has run yet: whatever happened is the sandbox's own failure
        try:
            wire.write_encoded(1, data)
            for _ in range(MAX_LOADING_REPORTS + 1):
                message, data = next_reply(Op.LOADING, Op.LOADED)
                if message["op"] == Op.LOADED.value:
                    break
                wire.write_frame(1, {"op": Op.LOADING.value, "module": str(message.get("module"))[:200]})
            else:
                raise ValueError("too many loading reports")
            wire.write_encoded(1, data)
            while True:
                request = wire.read_encoded(0, GRADER_LIMIT)
                routing = wire.header(request)
                if routing["op"] == Op.END_UNIT.value:
                    return None
                deadline = time.monotonic() + timeout
                wire.write_encoded(requests, request, timeout)
                reply, data = next_reply(Op.RESULT)
                if reply.get("index") != routing["index"]:
                    raise ValueError("a result for another case")
                wire.write_encoded(1, data)
        except TimeoutError:
            return Stop.TIMEOUT
        except (wire.Closed, BrokenPipeError):
            return Stop.CRASHED
        except ValueError:
            return Stop.VIOLATION

    def _end_unit_processes(self, pid, stop):
        """Kill every process of the unit; returns the unit's own wait status when it died by itself (else None).

        As the PID namespace's init, one kill(-1) reaches every other process of the job, and none of
        them runs another instruction of its own (a fork under way either is reached too or fails);
        they are reaped before the next unit starts, so that tearing down their memory overlaps
        with the grader's own work.
        """
        status = None
        if stop is Stop.CRASHED:  # it closed its pipe: give it a moment to finish dying by itself
            for _ in range(50):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                status = None
                time.sleep(0.01)
        if os.getpid() == 1:
            try:
                os.kill(-1, signal.SIGKILL)  # every process of the namespace but this one
            except ProcessLookupError:
                pass  # none left
            return status
        reaped = end_children(session=pid)  # unsandboxed: no namespace to end them all at once
        return status if status is not None else reaped

    @staticmethod
    def _reap_all():
        """Wait for every process a finished unit left dying."""
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return


def _write_read_only(path, data):
    path.write_bytes(data)
    path.chmod(0o444)


def _require(took, what):
    if not took:
        raise OSError(f"a unit's fresh temporary folders could not be made: {what}: {confine.last_error()}")


def end_children(session=None):
    """Without a PID namespace (unsandboxed): SIGKILL `session`'s process group and every child of this
    process (a subreaper: what descendants leave comes here), and reap them until none is left.
    Returns the wait status of the process `session` if it was reaped here."""
    status = None
    while True:
        targets = [(os.killpg, session)] if session is not None else []
        for kill, pid in targets + [(os.kill, child) for child in children()]:
            try:
                kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            done, child_status = os.waitpid(-1, 0)
        except ChildProcessError:
            return status
        if done == session:
            status = child_status


def children():
    """This process's child processes, from /proc/self/task/*/children."""
    found = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as handle:
                found.update(int(pid) for pid in handle.read().split())
        except OSError:
            pass
    return found
