"""The kernel's locks, applied from inside: each function returns whether it took effect.

Namespaces and mounts need CAP_SYS_ADMIN in the current user namespace (the job leader has it);
the unit's process gives up every capability, then sets no_new_privs, then installs the seccomp
filter the grader compiled with libseccomp (see `autograder.grader.seccomp_policy`).
"""

import ctypes
import os
import resource

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_MOVE, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 8192, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_CAPBSET_DROP = 1, 4, 22, 24
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 36, 38, 47, 4
SECCOMP_MODE_FILTER = 2
CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


def last_error():
    """The C library's error for the last call that failed, as text."""
    return os.strerror(ctypes.get_errno())


def unshare(flags):
    return _libc.unshare(flags) == 0


def prctl(option, value=0, arg3=0):
    return _libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(arg3), 0, 0) == 0


def mount_tmpfs(path, size_mb, inodes, mode, owner=None):
    """A fresh tmpfs on `path` (an earlier one there is detached first), no devices, no set-uid."""
    _libc.umount2(path.encode(), MNT_DETACH)
    options = f"size={size_mb}m,nr_inodes={inodes},mode={mode:o}"
    if owner is not None:
        options += f",uid={owner},gid={owner}"
    return _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options)


def make_private():
    """No mount made in this namespace from now on reaches another, nor theirs this one."""
    return _mount("none", "/", None, MS_REC | MS_PRIVATE)


def move_mount(source, target):
    """Move the mount at `source` to `target` (an existing folder)."""
    return _mount(source, target, None, MS_MOVE)


def remount_read_only(path):
    return _mount("none", path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def mount_proc():
    """A /proc that shows only this PID namespace."""
    return _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV)


def _mount(source, target, fstype, flags, data=None):
    return _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                       data.encode() if data else None) == 0


def become(uid):
    """As root: become `uid` (and its group), with no supplementary groups; every capability goes with root."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_bounding_set():
    """Empty the bounding and ambient sets, so that no capability can be gained later (needs CAP_SETPCAP)."""
    last = int(open("/proc/sys/kernel/cap_last_cap").read()) if os.path.exists("/proc/sys/kernel/cap_last_cap") else 40
    for cap in range(last + 1):
        prctl(PR_CAPBSET_DROP, cap)  # fails harmlessly for a capability already gone
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def clear_capabilities():
    """Empty the effective, permitted and inheritable sets; True when no capability is left in any set."""
    header, data = _CapHeader(CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        return False
    status = open("/proc/self/status").read()
    return all(line.split()[1].strip("0") == "" for line in status.splitlines() if line.startswith(("CapEff", "CapPrm", "CapBnd")))


def no_new_privs():
    return prctl(PR_SET_NO_NEW_PRIVS, 1)


def not_dumpable():
    """No core dumps, and no ptrace or /proc/<pid>/mem access by a process of the same uid."""
    return prctl(PR_SET_DUMPABLE, 0)


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def install_seccomp(bpf):
    """Install a compiled seccomp-BPF program (needs no_new_privs first). Single-threaded callers only."""
    count = len(bpf) // ctypes.sizeof(_SockFilter)
    if not count or len(bpf) % ctypes.sizeof(_SockFilter):
        return False
    program = (_SockFilter * count).from_buffer_copy(bpf)
    fprog = _SockFprog(count, program)
    return _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0


def set_limits(cpu_seconds, memory_mb, output_mb, max_processes):
    """CPU time, address space (on top of what torch already maps), file size, process count, no core."""
    with open("/proc/self/statm") as handle:
        mapped = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limits = {
        resource.RLIMIT_CPU: cpu_seconds,
        resource.RLIMIT_AS: mapped + memory_mb * 2**20,
        resource.RLIMIT_FSIZE: output_mb * 2**20,
        resource.RLIMIT_NPROC: max_processes,
        resource.RLIMIT_CORE: 0,
    }
    took = True
    for kind, value in limits.items():
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            took = False
    return took
