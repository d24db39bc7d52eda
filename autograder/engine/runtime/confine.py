"""Lock a freshly forked worker in before it loads any student code.

Runs in the child the fork-server (``zygote.py``) forks for every worker, so each
worker gets its own confinement whatever ran before it: a private mount
namespace with its own size- and inode-limited /tmp and /scratch, its own /proc,
the runtime folder hidden, a user id (or user namespace) no other process
shares, resource limits of its own, no way back to privileges, and death with
its parent. Where the kernel refuses namespaces (a container without them)
the worker still gets its own uid and limits, and Landlock keeps it to the
Python installation, its data and its scratch folder.

Standard library only: it runs inside the sandbox.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import struct

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER = 0x00020000, 0x20000000, 0x10000000
CLONE_NEWNET, CLONE_NEWIPC = 0x40000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 0x4000, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
USER_NS_UID = 1000  # the worker's uid inside its own user namespace (non-root graders)

_libc = ctypes.CDLL(None, use_errno=True)


class ConfineError(OSError):
    """A confinement step failed: the worker must not run student code."""


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise ConfineError(error, f"{what}: {os.strerror(error)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl {option}")


def children_in_a_new_pid_namespace() -> None:
    """Called in the fork-server before it forks a worker: that child is pid 1 of a namespace of
    its own (the caller stays where it is; ``children_in_my_pid_namespace`` undoes this after the fork)."""
    unshare(CLONE_NEWPID)


def children_in_my_pid_namespace(own_namespace: int) -> None:
    """Called in the fork-server after the fork: its next child is made where the fork-server lives,
    so that the next ``children_in_a_new_pid_namespace`` may make a fresh one again."""
    _check(_libc.setns(own_namespace, CLONE_NEWPID), "setns")


def split_namespaces(isolate_network: bool) -> None:
    """Called in the new worker (pid 1 of its own pid namespace): mount, ipc (and network) of its own."""
    unshare(CLONE_NEWNS | CLONE_NEWIPC | (CLONE_NEWNET if isolate_network else 0))


def private_filesystem(plan: dict) -> None:
    """Fresh /tmp, /scratch and /proc for this worker alone; the runtime folder emptied."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    tmpfs = f"size={int(plan['scratch_mb'])}m,nr_inodes={int(plan['scratch_inodes'])},mode=1777"
    for folder in ("/tmp", plan["scratch"]):
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, tmpfs)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    for folder in plan.get("hide", ()):  # the graders' runtime and tasks: loaded, never readable again
        if os.path.isdir(folder):
            _mount("tmpfs", folder, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")


def limits(plan: dict) -> None:
    """Called after the uid change: RLIMIT_NPROC then counts this worker's user alone."""
    megabyte = 1024 * 1024
    for name, value in ((resource.RLIMIT_AS, int(plan["memory_mb"]) * megabyte),
                        (resource.RLIMIT_FSIZE, int(plan["file_size_mb"]) * megabyte),
                        (resource.RLIMIT_NPROC, int(plan["max_processes"])),
                        (resource.RLIMIT_NOFILE, 256),
                        (resource.RLIMIT_CORE, 0)):
        hard = resource.getrlimit(name)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(name, (value, value))


def become_unprivileged(uid: int) -> str:
    """Take a uid no other process has; returns how ("uid" as root, "userns" otherwise)."""
    if os.geteuid() == 0 and _owns_initial_ids():
        for capability in range(64):  # the bounding set: nothing can bring a capability back
            if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(capability), 0, 0, 0) != 0:
                break
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        return "uid"
    outer_uid, outer_gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER)  # a user namespace of its own: its process count is its own
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{USER_NS_UID} {outer_uid} 1")
    _write("/proc/self/gid_map", f"{USER_NS_UID} {outer_gid} 1")
    os.setresgid(USER_NS_UID, USER_NS_UID, USER_NS_UID)
    os.setresuid(USER_NS_UID, USER_NS_UID, USER_NS_UID)
    return "userns"


def _owns_initial_ids() -> bool:
    """True when this process may set any uid (real root, or root of a namespace mapping them all)."""
    try:
        with open("/proc/self/uid_map") as handle:
            first = handle.read().split()
        return len(first) >= 3 and int(first[2]) > 65536
    except (OSError, ValueError):
        return False


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def no_way_back_on_parent_death() -> None:
    """Die with the parent (the fork-server with the grader, a worker with the fork-server)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def no_way_back() -> None:
    """No new privileges through exec, no ptrace or core dumps, and death with the parent."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # credentials changed: the setting must be made again


# ----- Landlock: the filesystem rule where namespaces are not allowed -------------------------

_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446
_READ = 1 << 0 | 1 << 2 | 1 << 3  # execute, read file, read dir
_FILE_RIGHTS = 1 << 0 | 1 << 1 | 1 << 2 | 1 << 14  # the rights a rule on a single file may name
_ALL_FS_V1 = (1 << 13) - 1
_TRUNCATE = 1 << 14
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2


def landlock_abi() -> int:
    return max(0, _libc.syscall(_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))


def landlock(readable: list[str], writable: list[str]) -> bool:
    """Allow reading ``readable`` and writing ``writable`` only, and no TCP at all; False if unavailable."""
    abi = landlock_abi()
    if abi < 1:
        return False
    handled = _ALL_FS_V1 | (_TRUNCATE if abi >= 3 else 0)
    attr = struct.pack("QQ", handled, _NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else struct.pack("Q", handled)
    buffer = ctypes.create_string_buffer(attr)
    ruleset = _libc.syscall(_LANDLOCK_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        for paths, access in ((readable, _READ), (writable, handled)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    is_dir = os.path.isdir(path)
                    rule = struct.pack("=Qi", access if is_dir else access & _FILE_RIGHTS & handled, fd)
                    _check(_libc.syscall(_LANDLOCK_ADD_RULE, ruleset, 1, ctypes.create_string_buffer(rule),
                                         ctypes.c_uint32(0)), f"landlock rule {path}")
                finally:
                    os.close(fd)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        _check(_libc.syscall(_LANDLOCK_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)), "landlock restrict")
    finally:
        os.close(ruleset)
    return True
