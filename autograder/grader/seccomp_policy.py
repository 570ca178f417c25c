"""The system calls a unit's process may not make, compiled to seccomp-BPF by libseccomp.

The grader compiles the filter once (with `pyseccomp`, the ctypes binding of libseccomp) and
sends the program to the sandbox, where each unit's process installs it on itself after giving
up its capabilities; the sandbox itself needs neither libseccomp nor a compiler.

Everything else is allowed: the filter closes the kernel interfaces that could escape or outlast
the sandbox, or reach another job, and that grading never needs. A refused call fails with EPERM
(clone3 with ENOSYS, so that the C library falls back to clone, whose flags the filter can read).
"""

import errno
import tempfile

NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000, "CLONE_NEWNET": 0x40000000,
}
REFUSED = {
    "new namespaces and other roots": ["unshare", "setns", "chroot", "pivot_root"],
    "mounts": ["mount", "umount2", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"],
    "reading or steering other processes": ["ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp"],
    "kernel keyrings": ["add_key", "keyctl", "request_key"],
    "System V and POSIX message IPC": ["shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
                                       "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
                                       "mq_timedreceive", "mq_notify", "mq_getsetattr"],
    "kernel interfaces grading never needs": ["perf_event_open", "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter",
                                              "io_uring_register", "kexec_load", "kexec_file_load", "init_module",
                                              "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at",
                                              "iopl", "ioperm", "swapon", "swapoff", "reboot", "acct", "quotactl",
                                              "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
                                              "lookup_dcookie", "fanotify_init"],
}


def refused_calls():
    return [name for names in REFUSED.values() for name in names]


def compile_filter():
    """The BPF program as bytes, or None when libseccomp is not on this machine."""
    try:
        import pyseccomp as seccomp
    except (ImportError, RuntimeError):  # pyseccomp raises RuntimeError when it cannot find libseccomp
        return None
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in refused_calls():
        try:
            rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (ValueError, RuntimeError, OSError):  # a call this kernel or architecture does not have
            pass
    for flag in NAMESPACE_FLAGS.values():
        rules.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()
