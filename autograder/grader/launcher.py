"""Start the sandboxes: a zygote inside bubblewrap, in a fresh root built from an allowlist.

The root a sandbox sees holds, read-only, only what Python and torch need: the interpreter and
its standard library, the environment's packages, the system libraries, and the kit's own
`autograder/sandbox/` and `autograder/protocol/` under /opt/jisaku. No /home, /root, /work or
/run; no checkout, no solutions, no submissions, no output folder. /tmp and the job's folders
are tmpfs, made fresh for each unit inside (see `autograder.sandbox.job`).

Three ways to run, chosen once per batch (`choose_mode`):

- USER_NAMESPACE: bubblewrap unprivileged, in a new user namespace (an ordinary user, or root
  without CAP_SYS_ADMIN). The sandbox runs as the grader's own uid, mapped to itself.
- PRIVILEGED: bubblewrap as root, outside any user namespace, keeping only the capabilities the
  job leader needs; each unit's process becomes the slot's own uid (JOB_UID_BASE + slot), so that
  concurrent jobs never share a uid, and drops every capability.
- UNSANDBOXED: no bubblewrap (the teacher's explicit `--unsandboxed`): the zygote runs as a plain
  child and every result says so.
"""

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from enum import Enum
from pathlib import Path

from autograder.grader import seccomp_policy
from autograder.paths import ROOT, SOLUTIONS
from autograder.protocol import wire
from autograder.protocol.messages import Op, Protection

JOB_UID_BASE = 2_000_000_000  # far above any account or subordinate-uid range
SANDBOX_CODE = "/opt/jisaku"  # where the kit's sandbox-side code appears inside
JOB_ROOT = "/job"
TMP_FOLDER = "/tmp"
STARTUP_SECONDS = 300  # importing torch and warming up, on a loaded machine
SYSTEM_LIBRARIES = ["/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/lib32", "/lib32"]
SANDBOX_SIDE = ["protocol", "sandbox"]  # the only parts of autograder/ that exist inside
LEADER_CAPABILITIES = {
    "user-namespace": ["CAP_SYS_ADMIN", "CAP_SETPCAP"],
    "privileged": ["CAP_SYS_ADMIN", "CAP_SETPCAP", "CAP_SETUID", "CAP_SETGID", "CAP_KILL"],
}
SANDBOX_ENVIRONMENT = {
    "PYTHONPATH": SANDBOX_CODE, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8",
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
    "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",  # the heap on transparent huge pages: forking a unit costs half as much
}


class Mode(str, Enum):
    USER_NAMESPACE = "user-namespace"
    PRIVILEGED = "privileged"
    UNSANDBOXED = "unsandboxed"


class SandboxUnavailable(RuntimeError):
    """No way to isolate student code on this machine; the message says what to do, in Japanese and English."""


UNAVAILABLE = (
    "学生のコードを隔離できないため、採点を始めません。{why}\n"
    "bubblewrap を入れる（Debian/Ubuntu: sudo apt-get install bubblewrap）か、非特権ユーザー名前空間を有効にする"
    "（sysctl kernel.unprivileged_userns_clone=1、Ubuntu 24.04 では kernel.apparmor_restrict_unprivileged_userns=0）か、"
    "root で実行してください。隔離なしで採点するなら --unsandboxed を付けてください（結果にその旨が残ります）。\n"
    "Student code cannot be isolated on this machine, so grading does not start. {why_en} Install bubblewrap, allow "
    "unprivileged user namespaces, or run as root; to grade without a sandbox, pass --unsandboxed (every result records it)."
)


def choose_mode(unsandboxed=False):
    """The strongest mode this machine allows; SandboxUnavailable when there is none and none was waived."""
    if unsandboxed:
        return Mode.UNSANDBOXED
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable(UNAVAILABLE.format(why="bubblewrap（bwrap）が見つかりません。", why_en="bubblewrap (bwrap) is not installed."))
    candidates = [Mode.PRIVILEGED, Mode.USER_NAMESPACE] if os.geteuid() == 0 else [Mode.USER_NAMESPACE]
    for mode in candidates:
        if subprocess.run([*_namespace_arguments(mode), "--ro-bind", "/", "/", "--", "true"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            return mode
    raise SandboxUnavailable(UNAVAILABLE.format(why="名前空間を作れません。", why_en="No namespaces can be made."))


@functools.lru_cache(maxsize=None)
def _bwrap_knows(option):
    """Whether this bubblewrap has `option` (--disable-userns came with 0.8)."""
    return option in subprocess.run(["bwrap", "--help"], capture_output=True, text=True).stdout


def _namespace_arguments(mode, moves_mounts=False):
    """bubblewrap's namespaces and the job leader's capabilities for `mode`.

    `--disable-userns` nests a second user namespace, which locks every mount: where the job leader
    must move a mount (a venv under /tmp) it is left out, and the seccomp filter alone refuses new
    user namespaces to the student's code.
    """
    arguments = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
                 "--unshare-uts", "--unshare-cgroup-try"]
    if mode is Mode.USER_NAMESPACE:
        arguments += ["--unshare-user"]
        if not moves_mounts and _bwrap_knows("--disable-userns"):
            arguments += ["--disable-userns"]
    else:
        arguments += ["--cap-drop", "ALL"]
    for capability in LEADER_CAPABILITIES[mode.value]:
        arguments += ["--cap-add", capability]
    return arguments


def allowlist():
    """The host paths the sandbox sees (read-only): Python, its packages, the system libraries."""
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for scheme_paths in (sysconfig.get_paths(), sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})):
        paths |= {scheme_paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in scheme_paths}
    paths |= set(SYSTEM_LIBRARIES)
    real = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    return [p for p in real if not any(p != other and p.startswith(other + "/") for other in real)]


def kept_in_temporary(bound):
    """(path, stash) for each allowlisted path under /tmp (a checkout there, with its venv): it steps aside
    to its stash while a unit's fresh /tmp is mounted, then comes back onto it."""
    under_tmp = [p for p in bound if p.startswith(TMP_FOLDER + "/")]
    return [(path, f"{JOB_ROOT}/keep/{index}") for index, path in enumerate(under_tmp)]


def covered(bound):
    """Trusted folders that happen to lie inside a bound path (an installed copy of the kit, say): covered."""
    secrets = [Path(__file__).resolve().parent.parent, SOLUTIONS.resolve()]
    return [str(p) for p in secrets if any(str(p).startswith(b + "/") for b in bound)]


def parent_folders(paths):
    """bubblewrap options that make every folder above `paths` traversable (it would make them 0700)."""
    parents = sorted({str(parent) for path in paths for parent in Path(path).parents if str(parent) != "/"}, key=len)
    return [option for parent in parents for option in ("--perms", "0755", "--dir", parent)]


def bwrap_command(mode, bound=None):
    """The command that starts a zygote in `mode`, its root holding the allowlist `bound` (computed when None)."""
    bound = allowlist() if bound is None else bound
    arguments = _namespace_arguments(mode, moves_mounts=bool(kept_in_temporary(bound)))
    for path in SYSTEM_LIBRARIES:  # /lib -> usr/lib on merged-/usr systems: the same link inside
        if os.path.islink(path):
            arguments += ["--symlink", os.readlink(path), path]
    kit = ROOT / "autograder"
    kit_binds = {str(kit / name): f"{SANDBOX_CODE}/autograder/{name}" for name in ["__init__.py", *SANDBOX_SIDE]}
    arguments += ["--tmpfs", TMP_FOLDER]  # first: a checkout (and so its venv) may lie under /tmp
    arguments += parent_folders([*bound, *kit_binds.values()])
    for path in bound:
        arguments += ["--ro-bind", path, path]
    for path in covered(bound):
        arguments += ["--tmpfs", path, "--remount-ro", path]
    for source, target in kit_binds.items():
        arguments += ["--ro-bind", source, target]
    for _, stash in kept_in_temporary(bound):
        arguments += ["--dir", stash]
    arguments += ["--proc", "/proc", "--dev", "/dev", "--dir", f"{JOB_ROOT}/code", "--dir", f"{JOB_ROOT}/work",
                  "--remount-ro", "/dev", "--remount-ro", "/", "--clearenv", "--chdir", "/"]
    for name, value in SANDBOX_ENVIRONMENT.items():
        arguments += ["--setenv", name, value]
    return [*arguments, "--", sandbox_python(), "-s", "-m", "autograder.sandbox.zygote"]


def sandbox_python():
    """This interpreter as the sandbox sees it: its folder resolved as the allowlist resolves it (a venv
    reached through a link), its own name kept, so that the venv's pyvenv.cfg is still found beside it."""
    return os.path.join(os.path.realpath(os.path.dirname(sys.executable)), os.path.basename(sys.executable))


class ZygoteBroken(RuntimeError):
    """The sandbox stopped answering as the protocol says: it must be replaced, and nothing it said counts."""


class Zygote:
    """One sandbox server, answering one job at a time over its stdin and stdout."""

    def __init__(self, mode, slot, seccomp):
        self.slot = slot
        if mode is Mode.UNSANDBOXED:
            command = [sys.executable, "-s", "-m", "autograder.sandbox.zygote"]
            environment = {**SANDBOX_ENVIRONMENT, "PYTHONPATH": str(ROOT)}
            isolation = [Protection.UNSANDBOXED]
        else:
            bound = allowlist()
            command, environment = bwrap_command(mode, bound), {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            isolation = [Protection.FRESH_ROOT, Protection.NETWORK_NAMESPACE]
            if mode is Mode.USER_NAMESPACE:
                isolation.append(Protection.USER_NAMESPACE)
        # the sandbox's own tracebacks (never the student's output): shown when it fails to start, kept in
        # the file JISAKU_SANDBOX_LOG names when a maintainer asks for them
        log = os.environ.get("JISAKU_SANDBOX_LOG")
        self.log = open(log, "a+b") if log else tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                        env=environment, cwd="/", bufsize=0)
        self.send({"op": Op.SETUP.value,
                   "seccomp": wire.blob(seccomp) if seccomp else None,
                   "job_uid": JOB_UID_BASE + slot if mode is Mode.PRIVILEGED else None,
                   "job_root": None if mode is Mode.UNSANDBOXED else JOB_ROOT,
                   "keep_in_tmp": [] if mode is Mode.UNSANDBOXED else kept_in_temporary(bound),
                   "isolation": [p.value for p in isolation]})

    def wait_until_warm(self):
        """Block until the zygote has imported torch; SandboxUnavailable, with its log, when it never does."""
        try:
            self.receive([Op.WARM], 2**16, STARTUP_SECONDS)
        except ZygoteBroken as error:
            self.log.seek(0)
            tail = self.log.read()[-2000:].decode("utf-8", "replace")
            raise SandboxUnavailable(f"サンドボックスが起動しませんでした / the sandbox did not start ({error}):\n{tail}") from error

    def send(self, message):
        self.send_encoded(wire.encode(message))

    def send_encoded(self, data):
        try:
            wire.write_encoded(self.process.stdin.fileno(), data)
        except OSError as error:
            raise ZygoteBroken(f"the sandbox took no request: {error}") from error

    def receive(self, ops, limit, timeout):
        """The next message, which must have one of `ops`; ZygoteBroken otherwise."""
        try:
            message = wire.read_frame(self.process.stdout.fileno(), limit, timeout)
        except (wire.Closed, TimeoutError, ValueError, OSError) as error:
            raise ZygoteBroken(f"the sandbox did not answer ({type(error).__name__})") from error
        if type(message) is not dict or message.get("op") not in {op.value for op in ops}:
            raise ZygoteBroken(f"the sandbox answered out of turn: {str(message)[:200]}")
        return message

    def close(self):
        """Close stdin (the zygote then exits at once) and reap it; kill it if it does not."""
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.log.close()


class SandboxPool:
    """The batch's zygotes, one per job slot, started at once so that their warm-up overlaps the catalog's."""

    def __init__(self, count, unsandboxed=False):
        self.mode = choose_mode(unsandboxed)
        self.seccomp = seccomp_policy.compile_filter()
        self.zygotes = [Zygote(self.mode, slot, self.seccomp) for slot in range(max(1, count))]

    def start(self):
        """Wait until every zygote is warm (call it once the catalog is built); returns them."""
        for zygote in self.zygotes:
            zygote.wait_until_warm()
        return list(self.zygotes)

    def replace(self, broken):
        """A fresh, warm zygote in the slot of one that broke down."""
        broken.close()
        fresh = Zygote(self.mode, broken.slot, self.seccomp)
        self.zygotes[self.zygotes.index(broken)] = fresh
        fresh.wait_until_warm()
        return fresh

    def close(self):
        for zygote in self.zygotes:
            zygote.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
