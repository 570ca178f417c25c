"""The untrusted side: code that runs inside the sandbox, beside the student's code.

It is started by `autograder.grader.launcher` inside bubblewrap, in a fresh root that holds only
the interpreter, its packages, the system libraries and this package's `sandbox/` and `protocol/`
folders, read-only. It imports only `autograder.protocol` (and torch); the stand-ins it serves
arrive compiled in each unit's request, and the student's files with the grader's .pyc of each.
Nothing it holds is secret: the reference, the expected values and the hidden tests never cross
the boundary.

- `zygote`: the long-lived server; torch imported once, then one forked job per submission;
- `job`: a submission's leader, pid 1 of its own namespaces: lays out the code read-only, gives
  each unit fresh temporary folders, forks the unit's process and relays its frames, one case at a time;
- `unit`: one unit's process: confines itself, loads the student's code, runs the cases;
- `confine`: the kernel's locks (namespaces, mounts, capabilities, no_new_privs, seccomp, rlimits);
- `student_code`: how the student's package and notebook cells are loaded and blamed;
- `operator_watch`: the run-time check for forbidden PyTorch, at the dispatcher (advisory: it lives in the student's process).
"""
