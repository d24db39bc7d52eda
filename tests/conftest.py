"""Fixtures shared by the test modules: where the repository and the shared files are."""
from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

# Example assignments that tests/test_second_assignment.py grades: their graders/ are hidden grader
# tests run by the kit, not tests of the kit. (Ignored from here: a conftest.py of their own would
# be imported under the same module name, conftest, and hide this one's helpers.)
collect_ignore_glob = ["assignments/*"]
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"  # ../shared beside the repository (see shared/README.md)

# The README's test command gives CNN_MNIST_DIR relative to the repository root; kernels
# and graders started by the tests run in other folders, so pin it to an absolute path.
if os.environ.get("CNN_MNIST_DIR"):
    os.environ["CNN_MNIST_DIR"] = str(Path(os.environ["CNN_MNIST_DIR"]).resolve())


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The local MNIST copy: $CNN_MNIST_DIR (CI sets it), else ../shared/datasets/mnist."""
    directory = Path(os.environ.get("CNN_MNIST_DIR") or SHARED / "datasets" / "mnist")
    if not directory.is_dir():
        pytest.fail(f"no MNIST copy at {directory}: set CNN_MNIST_DIR to the four MNIST files")
    return directory


@contextmanager
def kernel_environment(mnist_dir: Path):
    """What a Jupyter kernel started inside the block inherits: the notebook's quick mode, the MNIST
    copy, inline figures, and this interpreter's folder first on PATH (the kernel is its python3)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_WEEK1_QUICK", "1")
        patch.setenv("CNN_MNIST_DIR", str(Path(mnist_dir).resolve()))
        patch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        patch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        yield


def wait_until(condition, seconds: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass (killed processes take a moment to go)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def host_processes() -> dict[int, dict]:
    """Every live process on the host: uid, pid namespace and command line (no psutil needed)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            namespace = os.readlink(entry / "ns" / "pid")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        found[int(entry.name)] = {"uid": int(fields["Uid"].split()[0]), "ns": namespace, "cmdline": cmdline}
    return found


# ----- the sandbox: one warm fork-server for the sandbox tests, sessions on small submissions ------

@pytest.fixture(scope="session")
def sandbox_config(mnist_dir):
    """The repository's grading.toml, with a short call timeout so that hang tests stay quick."""
    from autograder.engine.config import load_config

    os.environ.setdefault("CNN_MNIST_DIR", str(mnist_dir))  # training_arrays reads it through the config
    real = load_config(REPO_ROOT / "grading.toml")
    return dataclasses.replace(real, sandbox=dataclasses.replace(real.sandbox, call_timeout=3.0))


@pytest.fixture(scope="session")
def training_data(sandbox_config) -> dict[str, Path]:
    from autograder.assignments.cnn_week1.data import training_arrays

    return training_arrays(sandbox_config)


@pytest.fixture(scope="session")
def fork_server(sandbox_config, training_data):
    """One fork-server (one torch import) shared by the sandbox tests, closed at the end."""
    from autograder.engine.sandbox import ForkServer

    definition = sandbox_config.definition
    with ForkServer(sandbox_config.sandbox, training_data, definition.worker_tasks, definition.forbidden) as server:
        server.ready()
        yield server


@pytest.fixture
def bwrap():
    """Tests of the bubblewrap sandbox: a failure where bwrap is installed but broken, else a skip."""
    from autograder.engine import sandbox

    sandbox.bubblewrap_problem.cache_clear()
    if os.environ.get("CNN_KIT_NO_SANDBOX") == "1":
        pytest.skip("CNN_KIT_NO_SANDBOX=1 is set: the sandbox is switched off in this environment")
    problem = sandbox.bubblewrap_problem()
    if problem is None:
        return
    if shutil.which("bwrap") or os.environ.get("CI"):  # installed (CI installs it) but broken: a failure
        pytest.fail(f"the sandbox cannot be built on this machine: {problem}")
    pytest.skip("bubblewrap cannot build the sandbox on this machine (bwrap missing or namespaces not allowed)")


@pytest.fixture
def run(tmp_path, sandbox_config, fork_server):
    """``with run(source) as session``: a WorkerSession on ``source`` as a .py submission, closed after.

    ``server`` and ``config`` replace the shared fork-server and the short-timeout config."""
    from week1 import extract_week1 as extract
    from autograder.engine.session import WorkerSession

    opened = []

    @contextmanager
    def start(source: str, server=None, config=None):
        path = tmp_path / f"submission_{len(opened)}.py"
        path.write_text(textwrap.dedent(source))
        session = WorkerSession(extract(path), config or sandbox_config, server or fork_server)
        opened.append(session)
        try:
            yield session
        finally:
            session.close()

    yield start
    for session in opened:
        session.close()


def shown_docstring_lines(graders_dir: Path) -> set[str]:
    """The docstring lines of the graders' visible tests: their names and "what it checks", which the
    rubric shows on purpose (the leak checks look for every other line of the graders)."""
    import ast

    words = set()
    for path in Path(graders_dir).glob("test_*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            hidden = isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Attribute) and d.attr == "hidden" for d in node.decorator_list)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and not hidden:
                words |= {line.strip() for line in (ast.get_docstring(node, clean=False) or "").splitlines()}
    return words
