"""The sandbox holds: student code runs as nobody, sees only what it needs, and hurts only its own call.

Each test writes a small hostile ``.py`` submission, drives it through ``WorkerSession`` (the
grader's real handle on the sandboxed worker) and checks what the grader sees from outside:
the failure kind of that one call, that the next call still works, which processes and files
exist on the host. Tests that need bubblewrap say so when this machine cannot run it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pickle
import secrets
import shutil
import socket
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.config import load_config
from autograder.data_cache import training_arrays
from autograder.extract import extract
from autograder.failures import StudentFailure
from autograder.grade import grade
from autograder.runtime import wire
from autograder.session import WorkerSession
from conftest import wait_until

KIT_ROOT = Path(__file__).resolve().parents[1]
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
NEEDS_BWRAP = "bubblewrap cannot build the sandbox on this machine (bwrap missing or namespaces not allowed)"


# ----- fixtures and helpers -------------------------------------------------------------------

@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    folder = Path(os.environ.get("CNN_MNIST_DIR") or KIT_ROOT.parent / "shared" / "datasets" / "mnist")
    os.environ.setdefault("CNN_MNIST_DIR", str(folder))  # training_arrays reads it through the config
    assert (folder / TEST_IMAGES).is_file(), f"no MNIST test images in {folder}"
    return folder


@pytest.fixture(scope="session")
def config(mnist_dir):
    """The repository's grading.toml, with a short call timeout so that hang tests stay quick."""
    real = load_config(KIT_ROOT / "grading.toml")
    return dataclasses.replace(real, sandbox=dataclasses.replace(real.sandbox, call_timeout=3.0))


@pytest.fixture(scope="session")
def data_files(config) -> dict[str, Path]:
    return training_arrays(config)


@pytest.fixture
def bwrap():
    """Tests of the real sandbox; the skip names what this machine lacks."""
    sandbox.bubblewrap_problem.cache_clear()
    if os.environ.get("CNN_KIT_NO_SANDBOX") == "1":
        pytest.skip("CNN_KIT_NO_SANDBOX=1 is set: the sandbox is switched off in this environment")
    problem = sandbox.bubblewrap_problem()
    if problem is None:
        return
    if shutil.which("bwrap") or os.environ.get("CI"):  # installed (CI installs it) but broken: a failure
        pytest.fail(f"the sandbox cannot be built on this machine: {problem}")
    pytest.skip(NEEDS_BWRAP)


@pytest.fixture
def run(tmp_path, config, data_files):
    """``with run(source) as session``: a WorkerSession on ``source`` as a .py submission, closed after."""
    opened = []

    @contextmanager
    def start(source: str, limits=None):
        path = tmp_path / f"submission_{len(opened)}.py"
        path.write_text(textwrap.dedent(source))
        used = config if limits is None else dataclasses.replace(config, sandbox=limits)
        session = WorkerSession(extract(path), used, data_files)
        opened.append(session)
        try:
            yield session
        finally:
            session.close()

    yield start
    for session in opened:
        session.close()


def fails(session: WorkerSession, name: str, *args, **kwargs) -> StudentFailure:
    """Call ``name`` expecting a StudentFailure; return it."""
    with pytest.raises(StudentFailure) as raised:
        session.call(name, *args, **kwargs)
    return raised.value


def worker_pid(session: WorkerSession) -> int:
    return session._connection.worker.process.pid


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


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




# ----- who the worker is and what it can see ---------------------------------------------------

@pytest.mark.skipif(os.getuid() != 0, reason="the grader does not run as root here: the drop to nobody applies to root only")
def test_worker_runs_as_nobody_without_capabilities_when_grader_is_root(bwrap, run):
    with run("""
        import os
        def who():
            status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
            return {"ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()], "groups": os.getgroups(),
                    "caps": [status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd")],
                    "no_new_privs": status["NoNewPrivs"].strip()}
    """) as session:
        who = session.call("who")
        assert session.protections.missing() == []
    assert who["ids"] == [65534] * 4
    assert who["groups"] == []
    assert who["caps"] == ["0000000000000000"] * 3
    assert who["no_new_privs"] == "1"


@pytest.fixture
def planted_test_set(mnist_dir):
    """Real copies of the MNIST test images in /tmp, in $HOME and in ~/.cache/pip, removed afterwards."""
    tag = f"cnnkit-planted-{secrets.token_hex(4)}"
    home = Path.home()
    folders = [Path("/tmp") / tag, home / tag, home / ".cache" / "pip" / tag]
    pip_cache_existed = (home / ".cache" / "pip").exists()
    copies = []
    for folder in folders:
        folder.mkdir(parents=True)
        folder.chmod(0o755)
        copy = folder / TEST_IMAGES
        shutil.copyfile(mnist_dir / TEST_IMAGES, copy)
        copy.chmod(0o644)  # readable by anyone who can reach it: only the sandbox's view protects it
        copies.append(copy)
    # where the grader's copy lives too, and a copy right at the top of $HOME
    top = home / f"{tag}-{TEST_IMAGES}"
    shutil.copyfile(mnist_dir / TEST_IMAGES, top)
    copies.append(top)
    yield copies
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    top.unlink(missing_ok=True)
    if not pip_cache_existed:
        shutil.rmtree(home / ".cache" / "pip", ignore_errors=True)


SNOOPER = """
    import os
    def read(path):
        try:
            with open(path, "rb") as handle:
                return len(handle.read())
        except OSError as error:
            return type(error).__name__
    def exists(path):
        return os.path.exists(path)
    def listdir(path):
        try:
            return sorted(os.listdir(path))
        except OSError as error:
            return type(error).__name__
    def hunt(size):
        # every file the sandbox shows: its name looks like MNIST's, or its size is the test set's
        hits, seen = [], 0
        for top in sorted(os.listdir("/")):
            if top in ("proc", "sys", "dev"):
                continue
            for folder, dirs, files in os.walk("/" + top):
                for name in files:
                    seen += 1
                    path = os.path.join(folder, name)
                    try:
                        hit = "t10k" in name or "idx3" in name or os.path.getsize(path) == size
                    except OSError:
                        continue
                    if hit:
                        hits.append(path)
        return {"hits": hits, "seen": seen}
"""


def test_planted_copies_of_the_test_set_are_out_of_reach(bwrap, run, planted_test_set, mnist_dir):
    size = (mnist_dir / TEST_IMAGES).stat().st_size
    for copy in planted_test_set:  # the copies are really there for anyone who can see them
        assert copy.stat().st_size == size
    with run(SNOOPER) as session:
        for copy in [*planted_test_set, mnist_dir / TEST_IMAGES, mnist_dir / "t10k-labels-idx1-ubyte.gz"]:
            assert session.call("read", str(copy)) in ("FileNotFoundError", "PermissionError"), copy
            assert session.call("exists", str(copy)) is False, copy
        found = session.call("hunt", size, timeout=120)
        assert session.call("listdir", "/data") == ["train-images.npy", "train-labels.npy"]
        assert session.call("read", "/data/train-images.npy") > 40_000_000  # what it needs, it can read
    assert found["seen"] > 1000  # the walk really went through the Python installation
    assert found["hits"] == []


def test_grader_files_solutions_and_output_are_out_of_reach(bwrap, run, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "results.json").write_text("{}")
    hidden = [KIT_ROOT / "autograder" / "graders", KIT_ROOT / "autograder" / "graders" / "conftest.py",
              KIT_ROOT / "solutions", KIT_ROOT / "solutions" / "cnn_week1.py", KIT_ROOT / "grading.toml",
              KIT_ROOT / "autograder" / "grade.py", KIT_ROOT / "source", KIT_ROOT / ".git",
              out_dir, out_dir / "results.json", KIT_ROOT.parent / "shared", Path.home() / ".cache" / "cnn-week1-kit"]
    for path in hidden:
        assert path.exists(), f"{path} should exist on the host for this test to mean something"
    with run(SNOOPER) as session:
        for path in hidden:
            assert session.call("exists", str(path)) is False, path
        kit_listing = session.call("listdir", str(KIT_ROOT))
        runtime_listing = session.call("listdir", sandbox.SANDBOX_RUNTIME)
    # the kit's folder exists inside only as the way to its virtualenv, if the venv lives there
    venv = Path(sys.prefix)
    assert kit_listing in ("FileNotFoundError", [venv.name] if venv.parent == KIT_ROOT else [])
    assert "graders" not in runtime_listing and "worker.py" in runtime_listing


def test_root_listing_shows_only_the_sandbox_folders(bwrap, run):
    """/ holds the system folders, the sandbox's own, and the path to the Python installation only."""
    expected = {"etc", "opt", "data", "scratch", "tmp", "proc", "dev"}
    expected |= {top for top in ("usr", "lib", "lib64", "lib32", "bin", "sbin") if os.path.lexists(f"/{top}")}
    children: dict[str, set[str]] = {}  # folder -> what it may show, for the bound Python folders' parents
    for folder in sandbox._python_folders():
        parts = Path(folder).parts
        expected.add(parts[1])
        for depth in range(1, len(parts) - 1):
            children.setdefault(str(Path(*parts[:depth + 1])), set()).add(parts[depth + 1])
    with run(SNOOPER) as session:
        root = session.call("listdir", "/")
        listings = {folder: session.call("listdir", folder) for folder in children}
        home = session.call("listdir", str(Path.home()))
        etc = session.call("listdir", "/etc")
    assert set(root) == expected
    assert "home" not in root and "mnt" not in root and "srv" not in root
    for folder, allowed in children.items():
        if folder == "/tmp":  # the worker's own writable tmpfs (a checkout under /tmp): it may add files
            assert allowed <= set(listings[folder]), folder
        else:
            assert set(listings[folder]) == allowed, folder
    assert home in ("FileNotFoundError", "PermissionError") or ".cache" not in home
    assert etc == "PermissionError" or set(etc) <= set(sandbox._ETC_FILES)


def test_no_network_even_to_a_listener_on_the_host(bwrap, run):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=2):  # reachable from the host itself
        listener.accept()[0].close()
    try:
        with run("""
            import socket
            def connect(host, port):
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                with socket.socket(family, socket.SOCK_STREAM) as s:
                    s.settimeout(2)
                    try:
                        s.connect((host, port))
                    except OSError as error:
                        return type(error).__name__
                    return "connected"
            def resolve(name):
                try:
                    return socket.getaddrinfo(name, 80)[0][4][0]
                except OSError as error:
                    return type(error).__name__
            def interfaces():
                return [line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]]
        """) as session:
            refused = session.call("connect", "127.0.0.1", port)
            outside = [session.call("connect", host, port_) for host, port_ in
                       (("1.1.1.1", 53), ("8.8.8.8", 443), ("10.0.2.2", 80), ("::1", port), ("2606:4700::1111", 443))]
            resolved = session.call("resolve", "pypi.org")
            interfaces = session.call("interfaces")
        with pytest.raises(socket.timeout):  # nothing from the sandbox ever reached the listener
            listener.accept()
    finally:
        listener.close()
    assert refused == "ConnectionRefusedError"  # its own empty loopback, not the host's
    assert "connected" not in outside and all(outside)
    assert resolved in ("gaierror", "OSError")
    assert interfaces == ["lo"]


# ----- one bad call costs that call only ----------------------------------------------------

WELL = """
    def ok(x=1):
        return x + 1
"""


def test_infinite_loop_times_out_that_call_only(run, config):
    with run(WELL + """
    def spin():
        while True:
            pass
    """) as session:
        assert session.call("ok", 1) == 2
        first = worker_pid(session)
        started = time.monotonic()
        failure = fails(session, "spin")
        elapsed = time.monotonic() - started
        assert session.call("ok", 41) == 42
        assert not pid_alive(first)
    assert failure.kind == "timeout"
    assert "did not finish within 3 s" in failure.summary
    assert config.sandbox.call_timeout <= elapsed < config.sandbox.call_timeout + 5
    assert session.restarts == 1


def test_sys_exit_at_import_keeps_what_was_defined_before(run):
    with run(WELL + """
    import sys
    print("leaving now")
    sys.exit(0)
    def after():
        return "never defined"
    """) as session:
        assert session.call("ok", 2) == 3
        assert "SystemExit" in session.cell_errors["<submission>"]
        failure = fails(session, "after")
    assert failure.kind == "missing"
    assert session.restarts == 0


def test_os_exit_at_import_costs_the_submission_not_the_grader(run):
    with run(WELL + """
    import os
    os._exit(0)
    """) as session:
        failure = fails(session, "ok")
        again = fails(session, "ok")  # the grader goes on: each test gets its own clear failure
    assert failure.kind == again.kind == "missing"
    assert "exited the process" in failure.summary


def test_sys_exit_and_os_exit_inside_a_function_cost_that_call_only(run):
    with run(WELL + """
    import os, sys
    def polite_exit():
        sys.exit(3)
    def hard_exit():
        os._exit(0)
    def killed():
        os.kill(os.getpid(), 9)
    """) as session:
        polite = fails(session, "polite_exit")
        assert session.call("ok", 1) == 2
        assert session.restarts == 0  # SystemExit is an exception the worker survives
        hard = fails(session, "hard_exit")
        assert session.call("ok", 2) == 3
        killed = fails(session, "killed")
        assert session.call("ok", 3) == 4
    assert (polite.kind, polite.error_type) == ("exception", "SystemExit")
    assert hard.kind == "crashed" and "exited the process" in hard.summary
    assert killed.kind == "crashed" and "SIGKILL" in killed.summary
    assert session.restarts == 2


def test_memory_hogs_fail_their_own_call(run, config):
    with run(WELL + """
    def hog_bytes():
        return len(bytearray(20 * 1024 ** 3))  # 20 GB
    def hog_torch():
        import torch
        return torch.ones(5 * 1024 ** 3).sum()  # 20 GB of float32
    def hog_slowly():
        chunks = []
        while True:
            chunks.append(b"x" * (256 * 1024 ** 2))  # touched pages, 256 MB at a time
    """) as session:
        failures = [fails(session, name) for name in ("hog_bytes", "hog_torch", "hog_slowly")]
        assert session.call("ok", 5) == 6
    for failure in failures:
        memory_error = failure.kind == "exception" and (
            failure.error_type == "MemoryError" or "allocate" in failure.summary)
        assert memory_error or failure.kind == "crashed", failure.summary
    assert config.sandbox.memory_mb * 1024 ** 2 < 20 * 1024 ** 3  # the limit is what stopped them


def test_children_left_running_are_gone_after_close(bwrap, run):
    marker = str(secrets.randbelow(10 ** 9) + 10 ** 9)
    with run(WELL + f"""
    import os, subprocess, time
    def spawn():
        if os.fork() == 0:  # a forked child that never ends
            while True:
                time.sleep(0.2)
        if os.fork() == 0:  # a daemon that leaves the session and the process group
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "1001.{marker}"])
            os._exit(0)
        subprocess.Popen(["sleep", "1000.{marker}"], start_new_session=True)
        return os.getpid()
    """) as session:
        session.call("spawn")
        assert wait_until(lambda: sum(marker in p["cmdline"] for p in host_processes().values()) == 2, 5)
        marked = [p for p in host_processes().values() if marker in p["cmdline"]]
        namespace = marked[0]["ns"]
        inside = [pid for pid, p in host_processes().items() if p["ns"] == namespace]
        # the sandbox's init, the worker, the forked child and the two sleeps
        assert len(inside) >= 5, host_processes()
        assert all(host_processes()[pid]["uid"] == 65534 for pid in inside if pid in host_processes()
                   and marker in host_processes()[pid]["cmdline"])
        assert session.call("ok", 1) == 2  # the worker itself still answers
    assert wait_until(lambda: not any(p["ns"] == namespace or marker in p["cmdline"]
                                      for p in host_processes().values()), 10)


def test_huge_output_fails_with_output_flood_and_replaces_the_worker(run):
    with run(WELL + """
    import os
    def shout():
        print("x" * 100_000_000)  # 100 MB through print
    def shout_raw():
        os.write(1, b"y" * 100_000_000)  # 100 MB straight to the file descriptor
    """) as session:
        session.load()
        first = worker_pid(session)
        printed = fails(session, "shout")
        assert not pid_alive(first)
        assert session.call("ok", 1) == 2
        second = worker_pid(session)
        raw = fails(session, "shout_raw")
        assert not pid_alive(second)
        assert session.call("ok", 2) == 3
    assert printed.kind == raw.kind == "output_flood"
    assert len(printed.output) < 100_000  # what is kept of the output is capped
    assert session.restarts == 2


def test_recursion_bombs_fail_their_own_call(run):
    with run(WELL + """
    import sys
    def deep(n=0):
        return deep(n + 1)
    def deeper():
        import json
        sys.setrecursionlimit(10 ** 7)  # past Python's guard: C code recurses until the stack overflows
        return json.loads("[" * 1_000_000 + "]" * 1_000_000)
    """) as session:
        shallow = fails(session, "deep")
        assert session.call("ok", 1) == 2
        crash = fails(session, "deeper")
        assert session.call("ok", 2) == 3
    assert shallow.error_type == "RecursionError"
    assert crash.kind == "crashed" and "SIGSEGV" in crash.summary, crash.summary


def test_big_files_are_refused(run, config):
    with run(WELL + """
    import os
    def write(path, megabytes):
        with open(path, "wb") as handle:
            for _ in range(megabytes):
                handle.write(b"\\0" * 1024 * 1024)
        return os.path.getsize(path)
    def fill(folder, files, megabytes):
        for number in range(files):
            write(os.path.join(folder, f"part{number}"), megabytes)
    """) as session:
        big = [fails(session, "write", f"{folder}/big.bin", 200) for folder in ("/scratch", "/tmp")]
        if sandbox.bubblewrap_works():  # the private tmpfs is smaller than the disk
            full = fails(session, "fill", "/scratch", 5, 40)
            assert "No space left" in full.summary or full.error_type == "OSError"
        assert session.call("write", "/tmp/small.bin", 1) == 1024 * 1024
    for failure in big:
        assert failure.error_type == "OSError" and "File too large" in failure.summary, failure.summary
    assert config.sandbox.file_size_mb < 200


def test_broken_or_forged_replies_cost_that_call_only(run):
    """Student code that writes on the reply pipe cannot pose as another request's reply."""
    with run(WELL + """
    import json, os, sys
    def reply_fd():
        return int(sys.argv[sys.argv.index("--fd-out") + 1])
    def forge_other_id():
        body = sys.modules["wire"].encode({"id": 10 ** 6, "ok": True, "value": "forged"})
        os.write(reply_fd(), len(body).to_bytes(4, "big") + body)
        return "honest"
    def garbage():
        os.write(reply_fd(), b"\\xff\\xff\\xff\\xff not a frame")
        return "honest"
    """) as session:
        assert session.call("forge_other_id") == "honest"
        failure = fails(session, "garbage")
        assert session.call("ok", 1) == 2
    assert failure.kind in ("crashed", "bad_reply")


# ----- the fallback without bubblewrap --------------------------------------------------------

def test_fallback_without_bubblewrap_still_grades_and_names_missing_protections(monkeypatch, run, tmp_path,
                                                                                 planted_test_set):
    monkeypatch.setenv("CNN_KIT_NO_SANDBOX", "1")
    sandbox.bubblewrap_problem.cache_clear()
    try:
        assert not sandbox.bubblewrap_works()
        with run(SNOOPER + WELL) as session:
            assert session.call("ok", 1) == 2
            missing = session.protections.missing()
            # here the planted copy IS readable: the isolation tests above are not vacuous
            assert session.call("read", str(planted_test_set[0])) > 1_000_000
        submission = tmp_path / "vertical.py"
        submission.write_text("import torch\n\ndef vertical_edge_filter():\n"
                              "    return torch.tensor([[1.0, 0.0, -1.0]] * 3)\n")
        result = grade(submission, tmp_path / "out", select="vertical_edge_filter")
    finally:
        monkeypatch.delenv("CNN_KIT_NO_SANDBOX")
        sandbox.bubblewrap_problem.cache_clear()
    text = " ".join(missing)
    assert "filesystem isolation" in text and "network isolation" in text and "process namespace" in text
    if os.getuid() == 0:
        assert "unprivileged user" in text
    assert "resource limits" not in text
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert result.missing_protections == missing
    assert "lacked" in written["output"] and "network isolation" in written["output"]
    passed = [t for t in written["tests"] if t["status"] == "passed"]
    assert passed and all("vertical_edge_filter" in t["name"] for t in passed)


# ----- the wire format ------------------------------------------------------------------------

class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_wire_refuses_unknown_tags_dtypes_and_pickles(tmp_path):
    flag = tmp_path / "unpickled"
    boom = _Boom()
    boom.path = flag
    pickled = pickle.dumps(boom)
    numbers = wire.encode({"x": [1, 2.5, "s", None, (True, False)]})
    assert wire.decode(numbers) == {"x": [1, 2.5, "s", None, (True, False)]}
    hostile = [
        pickled,  # a raw pickle as a frame
        json.dumps({"__pickle__": pickled.hex()}).encode(),
        json.dumps({"__tensor__": {"dtype": "object", "shape": [1], "data": "AAAAAAAAAAA="}}).encode(),
        json.dumps({"__ndarray__": {"dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="}}).encode(),
        json.dumps({"__ndarray__": {"dtype": "float32", "shape": [3], "data": "AAAAAA=="}}).encode(),
        json.dumps({"__tensor__": {"dtype": "float32", "shape": [1], "data": "not base64!"}}).encode(),
        json.dumps({"__tuple__": [1], "__dict__": []}).encode(),
        json.dumps({"__class__": "os.system"}).encode(),
        b"\xff\xfe not utf-8",
        b"[" * 100_000,
    ]
    for frame in hostile:
        with pytest.raises(wire.WireError):
            wire.decode(frame)
    assert not flag.exists()
    # the worker side never pickles either: an object arrives as its type name and a short repr
    opaque = wire.decode(wire.encode(boom))
    assert isinstance(opaque, wire.Opaque) and opaque.type_name.endswith("_Boom")
    assert not flag.exists()


def test_wire_frames_refuse_oversized_and_truncated_input():
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, (wire.MAX_FRAME_BYTES + 1).to_bytes(4, "big"))
        with pytest.raises(wire.WireError):
            wire.read_frame(read_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    read_end, write_end = os.pipe()
    os.write(write_end, (100).to_bytes(4, "big") + b"short")
    os.close(write_end)
    with pytest.raises(wire.WireError):
        wire.read_frame(read_end)
    os.close(read_end)


def test_wire_sends_tensor_subclasses_as_plain_tensors():
    import torch

    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    value = torch.arange(6, dtype=torch.float32).reshape(2, 3).as_subclass(Liar)
    decoded = wire.decode(wire.encode(value))
    assert type(decoded) is torch.Tensor
    assert torch.equal(decoded, torch.arange(6, dtype=torch.float32).reshape(2, 3))


# ----- nothing the submission does reaches results.json ---------------------------------------

def test_printed_and_written_fake_results_do_not_change_results_json(bwrap, tmp_path):
    out_dir = tmp_path / "out"
    fake = {"score": 100.0, "max_score": 100.0, "output": "FAKE-RESULTS", "tests": []}
    guessed = ["/autograder/results/results.json", "results.json", "/tmp/results.json",
               str(out_dir / "results.json"), os.path.join(os.getcwd(), "results.json"),
               str(Path.home() / "results.json")]
    before = {path: Path(path).exists() for path in guessed if not path.startswith(str(out_dir))}
    attack = f"""
import json, os, torch
FAKE = json.dumps({fake!r})
print(FAKE)
for path in {guessed!r}:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(FAKE)
    except OSError:
        pass

def vertical_edge_filter():
    print(FAKE)
    return torch.tensor([[1.0, 0.0, -1.0]] * 3)

def horizontal_edge_filter():
    print(FAKE)
    return torch.zeros(3, 3)  # wrong: this test fails and shows what was printed
"""
    submission = tmp_path / "attack.py"
    submission.write_text(attack)
    result = grade(submission, out_dir, select="vertical_edge_filter or horizontal_edge_filter")
    written = json.loads((out_dir / "results.json").read_text())
    written_files = {p.name for p in out_dir.iterdir()}
    assert "results.json" in written_files and written_files <= {"results.json", "feedback.json", "feedback.html"}
    assert written["score"] == result.score
    by_name = {t["name"]: t for t in written["tests"]}
    vertical = [t for name, t in by_name.items() if name.startswith("vertical_edge_filter")]
    horizontal = [t for name, t in by_name.items() if name.startswith("horizontal_edge_filter")]
    assert vertical and all(t["status"] == "passed" for t in vertical)
    assert horizontal and all(t["status"] == "failed" for t in horizontal)
    assert written["score"] == pytest.approx(sum(t["max_score"] for t in vertical))
    assert "FAKE-RESULTS" not in json.dumps({k: v for k, v in written.items() if k != "tests"})
    assert all("FAKE-RESULTS" not in t["output"] for t in vertical)  # only a failed test shows its prints
    for path, existed in before.items():
        assert Path(path).exists() == existed, path


def test_private_tmp_is_mounted_before_the_python_environment_is_bound():
    """A checkout under /tmp (as a CI clone may be) keeps its venv visible inside the sandbox."""
    args = sandbox._bubblewrap_args(load_config(KIT_ROOT / "grading.toml").sandbox, {})
    tmpfs_at = max(i for i, arg in enumerate(args) if arg == "--tmpfs" and args[i + 1] == "/tmp")
    binds = [i for i, arg in enumerate(args) if arg == "--ro-bind"]
    assert binds and tmpfs_at < min(binds)
