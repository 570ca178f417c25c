"""Run untrusted code in an isolated child of a pre-warmed worker (the "zygote").

The grader starts one zygote per job slot (`python -m autograder.sandbox HIDE_JSON SCRATCH`) before
it builds the reference catalog, so the two warm up side by side. The zygote imports torch once,
and nothing of the reference or the hidden tests, then reads its first stdin line,
`{"inputs_fd": N}`: an inherited file, without a name, holding the batch's case inputs, written by
the trusted side. It loads them and closes the file, enters its own mount and network namespaces
with the HIDE_JSON paths covered and /tmp, /var/tmp and /dev/shm replaced by private tmpfs mounts,
fresh for each job (SCRATCH, where the job folders live, is bound back in when it lies under
/tmp), then serves requests, one JSON line each on stdin:

    {"job_dir": ".../scratch/job", "results_dir": ".../scratch/results", "case_timeout": 3,
     "total_seconds": 300, "cpu_seconds": 300, "memory_mb": 2048, "output_mb": 8, "max_processes": 64}

For each request it forks a child, which isolates itself further (a new PID namespace, rlimits,
an unprivileged user), changes into `job_dir` and runs `autograder.worker.run_job()`. The worker writes one
result file per finished case, so the zygote can see progress: a case that runs longer than
`case_timeout` gets the whole process tree killed. Each finished result file is moved at once
into `results_dir` (which, when the grader runs as root, only the grader can write), so later
student code cannot rewrite it; links, FIFOs and other non-regular files are deleted, never moved. The reply is one JSON line:

    {"status": "finished" | "timeout" | "budget" | "crashed", "returncode": int, "signal": int,
     "cases_done": int, "isolation": [...]}

When stdin closes, the zygote exits at once.
"""

import ctypes
import gc
import json
import os
import resource
import signal
import stat
import sys
import time
import traceback

from autograder import wire

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_BIND = 4096
MNT_DETACH = 2
NOBODY = 65534
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
PRELOADED_MODULES = [
    "math", "cmath", "random", "itertools", "functools", "collections", "typing", "dataclasses", "copy",
    "re", "json", "operator", "string", "statistics", "warnings", "inspect", "numpy", "abc", "enum",
]
POLL_SECONDS = 0.005
ZYGOTE_ISOLATION = []
PRIVATE_TEMP = ["/tmp", "/var/tmp", "/dev/shm"]
KEEP_IN_TEMP = []  # folders under a PRIVATE_TEMP path that must stay visible in the sandbox

_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flags):
    return _libc.unshare(flags) == 0


def _mount(source, target, fstype, flags=0, data=None):
    return _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                       data.encode() if data else None) == 0


def isolate_zygote(hide, scratch):
    """Once per zygote: private mount and network namespaces, with the secret paths covered.

    As root this needs no user namespace; otherwise a user namespace makes the zygote root inside
    it. Everything forked from the zygote inherits the empty network and the hidden paths.
    Returns the protections that took effect.
    """
    uid, gid = os.getuid(), os.getgid()
    if uid == 0 and _unshare(CLONE_NEWNS | CLONE_NEWNET):
        isolation = ["mount-namespace", "network-namespace"]
    elif _unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET):
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
        isolation = ["user-namespace", "mount-namespace", "network-namespace"]
    else:
        return []
    if _mount("none", "/", None, MS_REC | MS_PRIVATE) and all(_hide(path) for path in hide):
        isolation.append("hidden-paths")
    # Folders under /tmp that must stay visible: the job folders and this Python (a venv in a checkout
    # under /tmp, say), bound back onto each fresh tmpfs; never a hidden path's parent.
    keep = {os.path.realpath(p) for p in (scratch, sys.prefix, sys.base_prefix, sys.exec_prefix) if p}
    KEEP_IN_TEMP.extend(sorted(p for p in keep
                               if any(p.startswith(t + "/") for t in PRIVATE_TEMP) and not any(h.startswith(p + "/") for h in hide)))
    if _fresh_temp():
        isolation.append("private-tmp")  # a student's writes to /tmp land in a throwaway tmpfs, new for each job
    return isolation


def _fresh_temp():
    """Empty tmpfs on /tmp, /var/tmp and /dev/shm, with the KEEP_IN_TEMP folders bound back in.

    The folders are opened before the tmpfs covers them, in this mount namespace: a bind mount's
    source must lie in the caller's own namespace.
    """
    handles = {path: os.open(path, os.O_PATH) for path in KEEP_IN_TEMP}
    mounted = []
    try:
        for path in filter(os.path.isdir, PRIVATE_TEMP):
            if not _mount("tmpfs", path, "tmpfs", 0, "size=64m,mode=1777"):
                break
            mounted.append(path)
        else:
            for path, handle in handles.items():
                os.makedirs(path, exist_ok=True)
                if not _mount(f"/proc/self/fd/{handle}", path, None, MS_BIND):
                    break
            else:
                return True
        for path in reversed(mounted):  # half done: back to the view from before
            _libc.umount2(path.encode(), MNT_DETACH)
        return False
    finally:
        for handle in handles.values():
            os.close(handle)


def _hide(path):
    """Cover a folder with an empty, read-only tmpfs, or a file with /dev/null."""
    if os.path.isdir(path):
        return _mount("tmpfs", path, "tmpfs", 0, "size=1k,mode=000,ro")
    if os.path.exists(path):
        return _mount("/dev/null", path, None, MS_BIND)
    return True


def set_limits(cpu_seconds, memory_mb, output_mb, max_processes):
    """CPU time, address space (on top of what torch already maps), file size and process count."""
    current = _address_space_bytes()
    limits = {
        resource.RLIMIT_CPU: cpu_seconds,
        resource.RLIMIT_AS: current + memory_mb * 2**20,
        resource.RLIMIT_FSIZE: output_mb * 2**20,
        resource.RLIMIT_NPROC: max_processes,
        resource.RLIMIT_CORE: 0,
    }
    for kind, value in limits.items():
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            pass
    return ["rlimits"]


def _address_space_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def drop_privileges(job_dir):
    """Become `nobody` when running as root; the job folder is the only place nobody may write."""
    if os.getuid() != 0:
        return []
    for root, folders, files in os.walk(job_dir):
        for name in [root, *(os.path.join(root, f) for f in folders + files)]:
            os.chown(name, NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return ["unprivileged-user"]


def _child(request, report_fd):
    """In the forked child: isolate, then run the worker. Never returns."""
    from autograder import worker

    isolation = list(ZYGOTE_ISOLATION)
    if "private-tmp" in isolation and not (_unshare(CLONE_NEWNS) and _fresh_temp()):
        isolation.remove("private-tmp")  # the zygote's tmpfs, shared with earlier jobs: the results say so
    os.chdir(request["job_dir"])
    job = worker.prepare()  # reads job.json and imports the stand-ins it names
    if _unshare(CLONE_NEWPID):
        isolation.append("pid-namespace")
        pid = os.fork()  # the first process of the new PID namespace; when it ends, the kernel ends the rest
        if pid:
            os.close(report_fd)
            _, status = os.waitpid(pid, 0)
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
    os.setsid()
    isolation += drop_privileges(".")
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the watcher (set after the uid change clears it)
    isolation += set_limits(request["cpu_seconds"], request["memory_mb"], request["output_mb"], request["max_processes"])
    os.write(report_fd, json.dumps(isolation).encode())
    os.close(report_fd)
    log = os.open("output.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.clear()
    os.environ.update({"PATH": "/usr/bin:/bin", "HOME": request["job_dir"], "LANG": "C.UTF-8"})
    os._exit(worker.run_job(job))


def _collect_results(job_dir, results_dir):
    """Move finished result files out of the job folder, where the student's code can no longer touch them.

    Returns how many results have been collected so far.
    """
    try:
        names = [name for name in os.listdir(job_dir) if wire.is_result_name(name)]
    except OSError:
        names = []
    for name in names:
        source, target = os.path.join(job_dir, name), os.path.join(results_dir, name)
        try:
            if os.path.exists(target):
                os.unlink(source)  # the first result for a case stands: nothing rewrites it later
            elif not stat.S_ISREG(os.lstat(source).st_mode):
                os.unlink(source)  # a link or a FIFO is not a result
            else:
                os.replace(source, target)
        except OSError:
            pass  # gone already, or a folder by that name: not a result either
    return sum(wire.is_result_name(name) for name in os.listdir(results_dir))


def run_request(request):
    """Fork an isolated child for one request and watch it, killing it on timeout; reply only when
    every process of the job is gone."""
    read_fd, write_fd = os.pipe()
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a killed zygote takes its job with it
        if os.getppid() != zygote:
            os._exit(70)
        try:
            _child(request, write_fd)
        except BaseException:
            traceback.print_exc()  # into output.log when the sandbox itself failed
        finally:
            os._exit(70)
    os.close(write_fd)
    done, last_progress, state = 0, time.monotonic(), None
    deadline = last_progress + request.get("total_seconds", float("inf"))
    while state is None:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            state = "finished" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else "crashed"
            break
        now_done = _collect_results(request["job_dir"], request["results_dir"])
        if now_done != done:
            done, last_progress = now_done, time.monotonic()
        elif time.monotonic() - last_progress > request["case_timeout"] or time.monotonic() > deadline:
            state = "budget" if time.monotonic() > deadline else "timeout"
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(POLL_SECONDS)
    _end_descendants()
    return _reply(state, status, request, read_fd)


def _end_descendants():
    """SIGKILL and reap every process still under the zygote.

    The zygote is a child subreaper, so whatever the job left behind (the PID namespace's first
    process, dying with the watcher; without a PID namespace, anything the student started) is its
    child. A PID namespace's first process exits only after every process in the namespace is gone.
    """
    while children := _children():
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def _children():
    """The zygote's child processes: from /proc/self/task/*/children, or, where the kernel lacks
    those files, from every process's parent in /proc/<pid>/stat."""
    tasks = [f"/proc/self/task/{task}/children" for task in os.listdir("/proc/self/task")]
    children = set()
    if all(os.path.exists(path) for path in tasks):
        for path in tasks:
            with open(path) as handle:
                children.update(int(pid) for pid in handle.read().split())
        return children
    me = os.getpid()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                after_name = handle.read().rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses
        except (OSError, IndexError):
            continue
        if len(after_name) > 1 and after_name[1] == str(me):  # state, then parent pid
            children.add(int(entry))
    return children


def _reply(state, status, request, read_fd):
    with os.fdopen(read_fd, "rb") as handle:
        raw = handle.read()
    isolation = json.loads(raw) if raw else []
    code = os.waitstatus_to_exitcode(status)
    return {
        "status": state,
        "returncode": code,
        "signal": -code if code < 0 else (code - 128 if code > 128 else 0),
        "cases_done": _collect_results(request["job_dir"], request["results_dir"]),
        "isolation": isolation,
    }


def warm_up_torch():
    """Run the kinds of operations grading runs, once, so each forked job finds them initialized
    (the first call of an operator, of autograd and of an optimizer costs far more than later ones)."""
    import torch

    torch.manual_seed(0)
    tokens = torch.tensor([[1, 2, 3, 0]])
    for dtype in (torch.float32, torch.float64):
        model = torch.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                     dim_feedforward=16, batch_first=True, dtype=dtype)
        embed = torch.nn.Embedding(5, 8, padding_idx=0, dtype=dtype)
        optimizers = [torch.optim.Adam(model.parameters()), torch.optim.SGD(embed.parameters(), lr=0.1)]
        mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=dtype)
        logits = model(embed(tokens), embed(tokens), tgt_mask=mask, src_key_padding_mask=tokens == 0)
        torch.nn.functional.cross_entropy(logits.reshape(-1, 8), tokens.reshape(-1), ignore_index=0).backward()
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
        with torch.no_grad():
            model(embed(tokens), embed(tokens))


def serve(hide, scratch=""):
    """The zygote's life: warm up, load the inputs named on the first line, isolate, then one JSON
    request per line in and one JSON reply per line out."""
    global ZYGOTE_ISOLATION
    import importlib

    for name in PRELOADED_MODULES:  # the unprivileged child may not be able to read the standard library
        importlib.import_module(name)
    import autograder.standins  # noqa: F401  (the package's registry only; each job imports what it needs)
    import autograder.worker  # imports torch: paid once per zygote, before any student code exists
    importlib.import_module("torch._dynamo")  # every torch.optim optimizer imports it when built: seconds, per job otherwise

    autograder.worker.make_torch_deterministic()
    autograder.worker.cache_standin_sources()
    warm_up_torch()
    first = sys.stdin.readline()
    if not first:
        os._exit(0)
    autograder.worker.preload_inputs(json.loads(first)["inputs_fd"])

    ZYGOTE_ISOLATION = isolate_zygote(hide, os.path.realpath(scratch) if scratch else "")
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of a job come to the zygote, which ends them
    gc.freeze()  # children's garbage collections skip the zygote's objects, so their pages stay shared

    for line in sys.stdin:
        reply = run_request(json.loads(line))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    os._exit(0)  # nothing to save: skip tearing down torch


if __name__ == "__main__":
    hide, scratch = (sys.argv[1:] + ["[]", ""])[:2]
    serve(json.loads(hide), scratch)
