"""The batch's sandbox servers ("zygotes", see `sandbox.py`), their scratch folders and their inputs."""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .paths import ROOT, SOLUTIONS

SCRATCH_PREFIX = "jisaku-scratch-"
LOCK_NAME = ".grader.lock"


def make_scratch_base(base=None):
    """A folder for the jobs' scratch folders that the sandbox's user can reach, and the open lock
    file that marks it as this grader's: the folder is in use for as long as the lock is held.

    Under `base` when given; else preferably under build/, outside /tmp (which the sandbox replaces
    with a private tmpfs); when a folder above the checkout is closed to other users, in the
    system's temporary folder.
    """
    if base is None:
        base = ROOT / "build" / "scratch"
        base.mkdir(parents=True, exist_ok=True)
        if not all(folder.stat().st_mode & 0o001 for folder in [base, *base.parents]):
            base = Path(tempfile.gettempdir())
    _remove_stale_scratch(base)
    folder = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=base))
    lock = open(folder / f"{LOCK_NAME}.new", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.rename(folder / f"{LOCK_NAME}.new", folder / LOCK_NAME)  # others see the lock only once it is held
    return folder, lock


def _remove_stale_scratch(base):
    """Remove the scratch folders whose grader is gone (killed, say): those whose lock nobody holds.

    A lock, unlike a process id, means the same thing to graders in different containers sharing
    the checkout.
    """
    for folder in base.glob(f"{SCRATCH_PREFIX}*"):
        try:
            with open(folder / LOCK_NAME) as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # held by a live grader, or no lock yet (being made, or not ours to judge)
            pass


class Zygote:
    """One pre-warmed sandbox server (torch imported once), answering one job at a time.

    `inputs_fd` is an open, unnamed file that will hold the batch's case inputs; the zygote
    inherits it, reads it once when told, and closes it before any job runs.
    """

    def __init__(self, hide, scratch, inputs_fd):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LANG": "C.UTF-8",
        }
        self.inputs_fd = inputs_fd
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.sandbox", json.dumps([str(p) for p in hide]), str(scratch)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd="/",
            pass_fds=[inputs_fd],
        )

    def load_inputs(self):
        """The inputs file is written: the zygote loads it, then closes its sandbox."""
        self._send({"inputs_fd": self.inputs_fd})

    def run(self, request):
        self._send(request)
        return json.loads(self.process.stdout.readline())

    def _send(self, message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def close(self):
        """Close stdin (the zygote then exits at once) and reap it; kill it if it does not."""
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


class Workers:
    """The batch's zygotes, their scratch folder and the inputs they load.

    The zygotes start before the catalog exists, so their warm-up (importing torch) overlaps the
    reference's; `start(catalog)` gives them the inputs, through a file without a name that
    vanishes with the grader, however it ends. The reference, the hidden tests, the kit's own files
    and the `hide` paths are covered inside the sandbox.
    """

    def __init__(self, count, hide=(), scratch_base=None):
        self.scratch, self._scratch_lock = make_scratch_base(scratch_base)
        self.inputs = tempfile.TemporaryFile(prefix="jisaku-inputs-")
        self.hide = [str(p) for p in (SOLUTIONS, ROOT / "autograder", ROOT / "tests", ROOT / ".git", *hide)]
        self.zygotes = [self._spawn() for _ in range(max(1, count))]

    def _spawn(self):
        return Zygote(self.hide, self.scratch, self.inputs.fileno())

    def start(self, catalog):
        """Write the catalog's inputs and hand them to every zygote; returns the zygotes."""
        self.inputs.write(catalog.inputs)
        self.inputs.flush()
        for zygote in self.zygotes:
            zygote.load_inputs()
        return list(self.zygotes)

    def replace(self, broken):
        """A fresh zygote in place of one whose job broke down."""
        broken.close()
        self.zygotes.remove(broken)
        fresh = self._spawn()
        fresh.load_inputs()
        self.zygotes.append(fresh)
        return fresh

    def close(self):
        for zygote in self.zygotes:
            zygote.close()
        self.inputs.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
        self._scratch_lock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
