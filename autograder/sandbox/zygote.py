"""The sandbox's long-lived server: torch imported once, then one forked job per submission.

Started by the grader inside bubblewrap (`python -m autograder.sandbox.zygote`), it imports torch
and runs the kinds of operations grading runs once, so that every forked job finds them warm
(a fresh `import torch` per submission would cost seconds). It then reads SETUP on stdin and
serves JOB requests one at a time: each job is a child in new PID, mount and IPC namespaces whose
first process (`job.Leader`) talks to the grader on the inherited stdin/stdout until END_JOB.
When the job's processes are all gone the zygote answers JOB_DONE. When stdin closes, it exits.
"""

import gc
import importlib
import os
import shutil
import signal
import sys
import tempfile
import traceback

from autograder.protocol import wire
from autograder.protocol.calls import make_torch_deterministic
from autograder.protocol.messages import Op, Protection
from autograder.sandbox import confine
from autograder.sandbox.huge_pages import collapse_into_huge_pages
from autograder.sandbox.job import Leader, end_children

PRELOADED_MODULES = [
    "math", "cmath", "random", "itertools", "functools", "collections", "typing", "dataclasses", "copy",
    "re", "json", "operator", "string", "statistics", "warnings", "inspect", "numpy", "abc", "enum",
    "threading", "time", "traceback", "torch._dynamo",  # every torch.optim optimizer imports torch._dynamo when built
]
GRADER_LIMIT = 2**30


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


def read_settings():
    """The SETUP message: the seccomp program, the job uid (as root outside a user namespace), the job
    folder's place and the protections the launcher put in force."""
    setup = wire.read_frame(0, GRADER_LIMIT)
    if setup.get("op") != Op.SETUP.value:
        raise SystemExit("the first message must be SETUP")
    seccomp = setup.get("seccomp")
    return {
        "seccomp": wire.blob_bytes(seccomp) if seccomp is not None else None,
        "job_uid": setup.get("job_uid"),
        "job_root": setup.get("job_root"),
        "keep_in_tmp": [(str(path), str(stash)) for path, stash in setup.get("keep_in_tmp", [])],
        "isolation": [Protection(p) for p in setup.get("isolation", [])],
    }


def run_job(job, settings):
    """One submission in a child of its own namespaces; True when it ended cleanly."""
    own_root = settings["job_root"] is None  # unsandboxed: a throwaway folder on disk
    job_settings = {**settings, "job_root": settings["job_root"] or tempfile.mkdtemp(prefix="jisaku-job-")}
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL)
            code = _job_process(job, job_settings)
        except BaseException:
            traceback.print_exc()  # to the grader's log when it asks for the sandbox's stderr; never to a student
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    end_children()  # whatever a job left behind (only possible unsandboxed, without a PID namespace)
    if own_root:
        shutil.rmtree(job_settings["job_root"], ignore_errors=True)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _job_process(job, settings):
    isolation = list(settings["isolation"])
    if Protection.UNSANDBOXED not in isolation and confine.unshare(confine.CLONE_NEWNS | confine.CLONE_NEWIPC | confine.CLONE_NEWPID):
        isolation += [Protection.MOUNT_NAMESPACE, Protection.IPC_NAMESPACE, Protection.PID_NAMESPACE]
        leader = os.fork()  # the first process of the new PID namespace; when it ends, the kernel ends the rest
        if leader:
            _, status = os.waitpid(leader, 0)
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 71
        confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL)
    if Protection.MOUNT_NAMESPACE in isolation:
        isolation.append(Protection.PRIVATE_TMP)  # each unit gets fresh tmpfs folders, or the job stops (job.py)
    Leader(settings, job["limits"], isolation).lead(job["files"], job["compiled"])
    return 0


def serve():
    for name in PRELOADED_MODULES:
        importlib.import_module(name)
    make_torch_deterministic()
    warm_up_torch()
    settings = read_settings()
    confine.prctl(confine.PR_SET_CHILD_SUBREAPER, 1)  # orphans of a job come to the zygote, which ends them
    confine.not_dumpable()
    gc.freeze()  # children's garbage collections skip the zygote's objects, so their pages stay shared
    collapse_into_huge_pages()  # last: what is forked from here on is forked cheaply
    wire.write_frame(1, {"op": Op.WARM.value})
    while True:
        try:
            job = wire.read_frame(0, GRADER_LIMIT)
        except wire.Closed:
            os._exit(0)
        if job.get("op") != Op.JOB.value:
            os._exit(2)
        clean = run_job(job, settings)
        wire.write_frame(1, {"op": Op.JOB_DONE.value, "clean": clean})


if __name__ == "__main__":
    sys.exit(serve())
