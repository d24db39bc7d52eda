"""Start the worker process that runs student code, as locked down as this machine allows.

With bubblewrap the worker sees only the Python installation, the worker's
own runtime folder, the training data and a private scratch directory: no
graders, no solutions, no output directory, no MNIST test set wherever it
lies. It gets no network, its own process namespace (everything it starts
dies with it), a scrubbed environment, resource limits, and when the grader
runs as root, the unprivileged user ``nobody``. Where bubblewrap cannot run,
the worker still gets the limits and its own session, and the report says
which protections were missing.
"""
from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .config import Sandbox

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
NOBODY = 65534
SANDBOX_RUNTIME = "/opt/grader-runtime"
SANDBOX_DATA = "/data"
SANDBOX_SCRATCH = "/scratch"
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "passwd", "group", "localtime")


@dataclass
class Protections:
    """Which isolation measures are in force for this worker, for the report."""

    filesystem: bool = False
    network: bool = False
    processes: bool = False
    unprivileged: bool = False
    limits: bool = True

    def missing(self) -> list[str]:
        names = {
            "filesystem": "filesystem isolation (student code could read files the grader's user can read)",
            "network": "network isolation",
            "processes": "a private process namespace (a child that leaves the process group could outlive grading)",
            "unprivileged": "an unprivileged user (student code ran with the grader's user id)",
            "limits": "resource limits",
        }
        return [text for key, text in names.items() if not getattr(self, key)]


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    to_worker: int  # fd the grader writes requests to
    from_worker: int  # fd the grader reads replies from
    protections: Protections
    cleanup_dirs: list[Path] = field(default_factory=list)

    def kill(self) -> None:
        """Kill the worker and everything it started; safe to call twice."""
        try:
            os.killpg(self.process.pid, 9)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.to_worker, self.from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        for folder in self.cleanup_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self.cleanup_dirs = []


def start_worker(limits: Sandbox, data_files: dict[str, Path]) -> WorkerProcess:
    """Spawn a worker that reads requests and writes replies on its own pipes."""
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    worker_args = ["--fd-in", str(request_read), "--fd-out", str(reply_write),
                   "--threads", str(limits.threads()),
                   "--max-output", str(limits.max_output_kb * 1000),
                   "--flood-output", str(limits.flood_output_mb * 1_000_000)]
    python = [sys.executable, "-I", "-B"]
    cleanup: list[Path] = []
    if bubblewrap_works():
        command = [*_bubblewrap_args(limits, data_files), "--", *_drop_privileges(),
                   *python, f"{SANDBOX_RUNTIME}/worker.py", "--data-dir", SANDBOX_DATA, *worker_args]
        cwd, protections = "/", Protections(filesystem=True, network=True, processes=True,
                                             unprivileged=True)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="cnnkit-scratch-"))
        data_dir = scratch / "data"
        data_dir.mkdir()
        for name, host in data_files.items():
            os.symlink(host, data_dir / name)
        cleanup.append(scratch)
        command = [*python, str(RUNTIME_DIR / "worker.py"), "--data-dir", str(data_dir), *worker_args]
        cwd, protections = str(scratch), Protections(unprivileged=os.getuid() != 0)
    process = subprocess.Popen(
        command, cwd=cwd, env=_worker_environment(limits, bubblewrap_works()),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        pass_fds=(request_read, reply_write), start_new_session=True,
        preexec_fn=functools.partial(_apply_limits, limits),
    )
    os.close(request_read)
    os.close(reply_write)
    return WorkerProcess(process, request_write, reply_read, protections, cleanup)


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
    probe = [*_bubblewrap_args(Sandbox(), {}), "--", *_drop_privileges(), sys.executable, "-I", "-c", check]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not run: {error}"
    if done.returncode != 0:
        return f"bwrap failed (exit {done.returncode}): {done.stderr.decode(errors='replace').strip()[-300:]}"
    return None


def _bubblewrap_args(limits: Sandbox, data_files: dict[str, Path]) -> list[str]:
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if os.getuid() != 0:
        args.append("--unshare-user")
    # Private tmpfs first: bwrap mounts in order, so a later tmpfs would hide a Python
    # environment that lives under /tmp (a CI checkout, say) bound before it.
    scratch_bytes = str(limits.scratch_mb * 1024 * 1024)
    args += ["--perms", "01777", "--size", scratch_bytes, "--tmpfs", "/tmp",
             "--perms", "01777", "--size", scratch_bytes, "--tmpfs", SANDBOX_SCRATCH,
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
    args += ["--perms", "0755", "--dir", SANDBOX_DATA]
    for name, host in data_files.items():
        args += ["--ro-bind", str(host), f"{SANDBOX_DATA}/{name}"]
    return args + ["--chdir", SANDBOX_SCRATCH]


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


def _drop_privileges() -> list[str]:
    if os.getuid() != 0:
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"]


def _worker_environment(limits: Sandbox, sandboxed: bool) -> dict[str, str]:
    home = SANDBOX_SCRATCH if sandboxed else tempfile.gettempdir()
    threads = str(limits.threads())
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/.matplotlib", "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # correctness settings of this machine's BLAS
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _apply_limits(limits: Sandbox) -> None:
    """Runs in the child between fork and exec: limits inherited by everything it starts."""
    megabyte = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * megabyte,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * megabyte,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
