"""The grading job's warm fork-server and the sandboxed workers it forks, as locked down as this host allows.

One fork-server per grading job imports torch once and never runs student
code; every worker is forked from it in tens of milliseconds and confines
itself before its first request (``runtime/confine.py``). What holds where:

| environment | fork-server | each worker |
|---|---|---|
| bubblewrap, grader is root | bwrap: only Python, the runtime and the training data visible; no network | own mount, pid and ipc namespaces; own size- and inode-limited /tmp and /scratch; runtime hidden; a uid no other process has; limits; no privileges |
| bubblewrap, grader is a user | the same, in a user namespace | the same, with a user namespace of its own instead of a fresh uid |
| no bubblewrap, root | plain process, dies with the grader | a uid no other process has (all its processes killed after), Landlock: reads only Python and its data, writes only its scratch folder, no TCP; limits |
| no bubblewrap, a user | refused: grading needs ``--unsafe-no-sandbox``, and the results say so | limits and Landlock only |

A fork-server or worker that cannot start is the host's fault
(``SandboxUnavailable``), never the student's.
"""
from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .assignment import ForbiddenRoutines
from .config import Sandbox
from .failures import HostFault
from .processes import kill_group

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
SANDBOX_RUNTIME = "/opt/grader-runtime"
SANDBOX_TASKS = "/opt/grader-tasks"  # the assignment's worker tasks, hidden from workers like the runtime
SANDBOX_DATA = "/data"
SANDBOX_SCRATCH = "/scratch"
UNSAFE_ENV = "CNN_KIT_UNSAFE_NO_SANDBOX"  # set by --unsafe-no-sandbox
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "passwd", "group", "localtime")
_WORKER_UIDS = (1_000_000, 2_000_000_000)  # a fresh uid per worker, drawn from this range
_SCRATCH_INODES = 4096


class SandboxUnavailable(HostFault):
    """No safe way to run student code here (or the fork-server would not start)."""


@dataclass
class Protections:
    """Which isolation measures are in force for the workers, for the report."""

    filesystem: bool = False
    network: bool = False
    processes: bool = False
    unprivileged: bool = False
    limits: bool = True

    def missing(self) -> list[str]:
        names = {
            "filesystem": "filesystem isolation (student code could read files the grader's user can read)",
            "network": "network isolation",
            "processes": "a private process namespace",
            "unprivileged": "an unprivileged user of its own (student code ran with the grader's user id)",
            "limits": "resource limits",
        }
        return [text for key, text in names.items() if not getattr(self, key)]


@dataclass
class WorkerHandle:
    """One forked worker: its pipes, and the fork-server that can kill it or say how it ended."""

    server: "ForkServer"
    pid: int
    to_worker: int  # fd the grader writes requests to
    from_worker: int  # fd the grader reads replies from
    output: int  # fd of everything the worker printed outside a request's capture
    protections: Protections
    closed: bool = field(default=False)

    def kill(self) -> None:
        """Kill the worker and everything it started; safe to call twice. Its pipes then read
        as ended; the caller closes them with ``close_pipes`` once nothing reads them."""
        if not self.closed:
            self.closed = True
            self.server.kill(self.pid)

    def close_pipes(self) -> None:
        for fd in (self.to_worker, self.from_worker, self.output):
            try:
                os.close(fd)
            except OSError:
                pass

    def exit_code(self, wait: float = 2.0) -> int | None:
        """The worker's exit status (128 + n for signal n), or None if it still runs."""
        return self.server.status(self.pid, wait)


class ForkServer:
    """A grading job's warm worker factory (a context manager; start it early, it imports torch)."""

    def __init__(self, limits: Sandbox, data_files: dict[str, Path], tasks_dir: Path | None = None,
                 forbidden: ForbiddenRoutines = ForbiddenRoutines()):
        """``tasks_dir``: the assignment's worker tasks (a folder with tasks.py), imported once here;
        ``forbidden``: the routines a manual worker disables (``Assignment.forbidden``)."""
        self.limits, self.data_files = limits, dict(data_files)
        self.tasks_dir, self.forbidden = (Path(tasks_dir) if tasks_dir else None), forbidden
        self.mode = _isolation_mode()
        self.protections = _protections(self.mode)
        self._process: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._ready = False
        self._cleanup: list[Path] = []
        # One question and its answer at a time on the control socket: a background task's
        # worker (``WorkerSession.in_background``) is spawned and killed from its own thread.
        self._lock = threading.RLock()
        self.startup_seconds: float | None = None

    def __enter__(self) -> "ForkServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._process is not None:
            return
        import time

        self._started = time.monotonic()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if self.mode == "namespaces":
            command = [*_bubblewrap_args(self.limits, self.data_files, self.tasks_dir), "--",
                       sys.executable, "-I", "-B", f"{SANDBOX_RUNTIME}/zygote.py",
                       "--control", str(theirs.fileno()), "--data-dir", SANDBOX_DATA,
                       *self._assignment_args(SANDBOX_TASKS)]
            cwd = "/"
        else:
            root = Path(tempfile.mkdtemp(prefix="cnnkit-job-"))
            os.chmod(root, 0o711)  # workers (other uids) may enter their own scratch folders only
            data_dir = root / "data"
            data_dir.mkdir()
            self._cleanup.append(root)
            for name, host in self.data_files.items():
                _place_for_workers(Path(host), data_dir / name)
            self._readable = [*_system_folders(), *_python_folders(), str(data_dir),
                              *(str(Path(host).resolve()) for host in self.data_files.values())]
            command = [sys.executable, "-I", "-B", str(RUNTIME_DIR / "zygote.py"),
                       "--control", str(theirs.fileno()), "--data-dir", str(data_dir),
                       "--scratch-root", str(root), *self._assignment_args(str(self.tasks_dir))]
            cwd = str(root)
        try:
            self._process = subprocess.Popen(
                command, cwd=cwd, env=_environment(self.limits, self.mode), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(theirs.fileno(),),
                start_new_session=True)
        except OSError as error:
            raise SandboxUnavailable(f"The worker fork-server could not be started: {error}.") from error
        finally:
            theirs.close()
        self._control = ours

    def _assignment_args(self, tasks_dir: str) -> list[str]:
        args = ["--forbid", json.dumps(self.forbidden.as_plan())]
        return args + (["--tasks-dir", tasks_dir] if self.tasks_dir else [])

    def ready(self) -> None:
        """Wait until the fork-server has imported torch; a host fault if it never does."""
        with self._lock:
            self._wait_ready()

    def _wait_ready(self) -> None:
        if self._ready:
            return
        self.start()
        import time

        self._control.settimeout(self.limits.startup_timeout)
        try:
            message = self._control.recv(1 << 16)
        except OSError:
            message = b""
        if not message:
            output = self._output_tail()
            self.close()
            raise SandboxUnavailable(f"The sandboxed worker fork-server did not start. Its output:\n{output}")
        self._control.settimeout(60)
        self._ready = True
        self.startup_seconds = time.monotonic() - self._started

    def close(self) -> None:
        if self._control is not None:
            try:  # wakes a thread still waiting for an answer (it then sees the fork-server gone)
                self._control.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._control.close()
            self._control = None
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_group(self._process)
                self._process.wait()
            if self._process.stdout:
                self._process.stdout.close()
            self._process = None
        self._ready = False
        for folder in self._cleanup:
            shutil.rmtree(folder, ignore_errors=True)
        self._cleanup = []

    # ----- workers -----------------------------------------------------------------------------

    def spawn(self, restrict: str | None = None) -> WorkerHandle:
        """A fresh worker; ``restrict`` "manual" or "manual_no_pad" disables the forbidden routines."""
        self.ready()
        plan = {"mode": self.mode, "uid": secrets.randbelow(_WORKER_UIDS[1] - _WORKER_UIDS[0]) + _WORKER_UIDS[0],
                "scratch": SANDBOX_SCRATCH, "scratch_mb": self.limits.scratch_mb, "scratch_inodes": _SCRATCH_INODES,
                "memory_mb": self.limits.memory_mb, "file_size_mb": self.limits.file_size_mb,
                "max_processes": self.limits.max_processes, "threads": self.limits.threads(),
                "max_output": self.limits.max_output_kb * 1000,
                "flood_output": self.limits.flood_output_mb * 1_000_000,
                "hide": [SANDBOX_RUNTIME, SANDBOX_TASKS], "restrict": restrict,
                "readable": getattr(self, "_readable", [])}
        reply, fds = self._ask({"op": "spawn", "plan": plan}, expect_fds=3)
        if not reply.get("ok") or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            raise SandboxUnavailable(f"The fork-server could not start a worker: {reply.get('error', 'no reply')}.")
        return WorkerHandle(self, int(reply["pid"]), fds[0], fds[1], fds[2], self.protections)

    def kill(self, pid: int) -> None:
        if self._control is not None:
            try:
                self._ask({"op": "kill", "pid": pid})
            except SandboxUnavailable:
                pass

    def status(self, pid: int, wait: float) -> int | None:
        if self._control is None:
            return None
        try:
            return self._ask({"op": "status", "pid": pid, "wait": wait})[0].get("code")
        except SandboxUnavailable:
            return None

    def _ask(self, request: dict, expect_fds: int = 0) -> tuple[dict, list[int]]:
        try:
            with self._lock:
                if self._control is None:
                    raise OSError("the fork-server was closed")
                self._control.send(json.dumps(request).encode())
                message, fds, _, _ = socket.recv_fds(self._control, 1 << 16, max(expect_fds, 1))
        except OSError as error:
            raise SandboxUnavailable(f"The worker fork-server stopped answering ({error}).") from error
        if not message:
            raise SandboxUnavailable("The worker fork-server ended:\n" + self._output_tail())
        return json.loads(message), list(fds)

    def _output_tail(self) -> str:
        process = self._process
        if process is None or process.stdout is None:
            return ""
        if process.poll() is None:
            kill_group(process)
        try:
            return process.stdout.read()[-1500:].decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""


# ----- where and how -------------------------------------------------------------------------

def _isolation_mode() -> str:
    """"namespaces" (bubblewrap), "uid" (root without bubblewrap) or "none" (explicitly unsafe)."""
    problem = bubblewrap_problem()
    if problem is None:
        return "namespaces"
    if os.geteuid() == 0:
        return "uid"
    if os.environ.get(UNSAFE_ENV) == "1":
        return "none"
    raise SandboxUnavailable(
        f"Student code cannot be run safely here: {problem}, and the grader is not root (it cannot give "
        "student code a user of its own). Install bubblewrap, grade as root, or pass --unsafe-no-sandbox "
        "to grade anyway (the results will say the sandbox was missing).")


def _protections(mode: str) -> Protections:
    if mode == "namespaces":
        return Protections(filesystem=True, network=True, processes=True, unprivileged=True)
    from .runtime.confine import landlock_abi

    abi = landlock_abi()
    # Landlock blocks TCP but not UDP, and without a pid namespace the worker sees the host's /proc
    return Protections(filesystem=abi >= 1, network=False, processes=False, unprivileged=mode == "uid")


def bubblewrap_works() -> bool:
    """True where bwrap can build this sandbox here (installed, namespaces allowed)."""
    return bubblewrap_problem() is None


@functools.cache
def bubblewrap_problem() -> str | None:
    """Why the sandbox cannot be built here, or None: Python started inside it and saw its files."""
    if os.environ.get("CNN_KIT_NO_SANDBOX") == "1":
        return "CNN_KIT_NO_SANDBOX=1 switches the sandbox off"
    if not shutil.which("bwrap"):
        return "bubblewrap (bwrap) is not installed"
    check = f"import sys, os; sys.exit(0 if os.path.isdir({str(SANDBOX_RUNTIME)!r}) else 3)"
    probe = [*_bubblewrap_args(Sandbox(), {}), "--", sys.executable, "-I", "-c", check]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not run: {error}"
    if done.returncode != 0:
        return f"bwrap failed (exit {done.returncode}): {done.stderr.decode(errors='replace').strip()[-300:]}"
    return None


def _bubblewrap_args(limits: Sandbox, data_files: dict[str, Path], tasks_dir: Path | None = None) -> list[str]:
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if os.getuid() != 0:  # root of a user namespace of its own, so that it can confine each worker
        args += ["--unshare-user", "--uid", "0", "--gid", "0", "--cap-add", "ALL"]
    # Mount points first: bwrap mounts in order, so a later tmpfs would hide a Python
    # environment that lives under /tmp (a CI checkout, say) bound before it. Each worker
    # mounts its own size- and inode-limited tmpfs on these.
    args += ["--perms", "01777", "--size", str(1024 * 1024), "--tmpfs", "/tmp",
             "--perms", "01777", "--size", str(1024 * 1024), "--tmpfs", SANDBOX_SCRATCH,
             "--proc", "/proc", "--dev", "/dev"]
    for top in ("usr", "lib", "lib64", "lib32", "bin", "sbin"):
        host = Path("/") / top
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for name in _ETC_FILES:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    for folder in _python_folders():
        args += _parents_as_dirs(folder) + ["--ro-bind", folder, folder]
    args += _parents_as_dirs(SANDBOX_RUNTIME) + ["--ro-bind", str(RUNTIME_DIR), SANDBOX_RUNTIME]
    if tasks_dir is not None:
        args += ["--ro-bind", str(tasks_dir), SANDBOX_TASKS]
    args += ["--perms", "0755", "--dir", SANDBOX_DATA]
    for name, host in data_files.items():
        args += ["--ro-bind", str(host), f"{SANDBOX_DATA}/{name}"]
    return args + ["--chdir", SANDBOX_SCRATCH]


def _place_for_workers(host: Path, target: Path) -> None:
    """A data file in the job's own folder, readable by every worker uid. Not a symlink: the
    original may sit where other uids cannot pass (root's 0700 home holds the default cache)."""
    try:
        try:
            os.link(host, target)  # same file system: no copy
        except OSError:
            shutil.copyfile(host, target)
        os.chmod(target, 0o644)
    except OSError as error:
        raise SandboxUnavailable(f"The data file {host} could not be prepared for the workers: "
                                 f"{error.strerror or error}.") from error


def _system_folders() -> list[str]:
    return [folder for folder in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/proc", "/dev",
                                  *(f"/etc/{name}" for name in _ETC_FILES)) if os.path.exists(folder)]


def _python_folders() -> list[str]:
    """The interpreter's installation and environment: all the worker needs to run Python."""
    folders = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
               os.path.dirname(os.path.realpath(sys.executable))}
    kept = sorted(folder for folder in folders if not folder.startswith(("/usr/", "/lib")) and folder != "/usr")
    # a folder inside another kept folder needs no bind of its own
    return [f for f in kept if not any(f != other and f.startswith(other + "/") for other in kept)]


def _parents_as_dirs(path: str) -> list[str]:
    """Mount points' parent folders, world-traversable (bwrap makes them 0700 otherwise)."""
    args, current = [], Path("/")
    for part in Path(path).parts[1:-1]:
        current = current / part
        args += ["--perms", "0755", "--dir", str(current)]
    return args


def _environment(limits: Sandbox, mode: str) -> dict[str, str]:
    home = SANDBOX_SCRATCH if mode == "namespaces" else tempfile.gettempdir()
    threads = str(limits.threads())
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/.matplotlib", "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # correctness settings of this machine's BLAS
        if name in os.environ:
            env[name] = os.environ[name]
    return env
