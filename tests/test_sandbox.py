"""The sandbox holds: student code runs as a uid of its own, sees only what it needs, and hurts only its own call.

Each test writes a small hostile ``.py`` submission, drives it through ``WorkerSession`` (the
grader's real handle on the sandboxed workers, all forked from one shared fork-server) and checks
what the grader sees from outside: the failure kind of that one call, that the next call still
works, which processes and files exist on the host. Tests that need bubblewrap say so when this
machine cannot run it. The fork-server's own guarantees are in ``test_forkserver.py``.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from autograder.engine import sandbox
from autograder.engine.config import load_config
from autograder.engine.failures import StudentFailure
from autograder.engine.grade import grade
from autograder.engine.session import WorkerSession
from conftest import host_processes, wait_until

KIT_ROOT = Path(__file__).resolve().parents[1]
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"


# ----- helpers ---------------------------------------------------------------------------------

def fails(session: WorkerSession, name: str, *args, **kwargs) -> StudentFailure:
    """Call ``name`` expecting a StudentFailure; return it."""
    with pytest.raises(StudentFailure) as raised:
        session.call(name, *args, **kwargs)
    return raised.value


def worker_processes(server: sandbox.ForkServer, identity: dict) -> list[int]:
    """Host pids of one worker's processes: its pid namespace under bubblewrap, its fresh uid without.

    ``identity`` is what the worker's ``identity()`` (in ``WELL``) returned."""
    keys = ("ns", "uid") if server.mode == "namespaces" else ("uid",)  # the kernel reuses namespace inodes
    return [pid for pid, process in host_processes().items() if all(process[key] == identity[key] for key in keys)]


def assert_worker_gone(server: sandbox.ForkServer, identity: dict) -> None:
    assert wait_until(lambda: worker_processes(server, identity) == [], 5), identity


# ----- who the worker is and what it can see ---------------------------------------------------

WHO = """
    import os
    def who():
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
        return {"ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()], "groups": os.getgroups(),
                "caps": [status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd")],
                "no_new_privs": status["NoNewPrivs"].strip()}
"""


@pytest.mark.skipif(os.getuid() != 0, reason="the grader does not run as root here: fresh uids are for root only "
                                            "(a user grader's workers get a user namespace each instead)")
def test_each_worker_runs_as_a_fresh_uid_without_capabilities_when_grader_is_root(bwrap, run):
    """No uid a host process has (not root, not nobody), a different one per worker, no way back."""
    with run(WHO) as session:
        first = session.call("who")
        session.begin_test(hidden=True)  # a hidden test gets a worker of its own
        second = session.call("who")
        session.end_test()
        assert session.protections.missing() == []
        assert session.workers_started == 2
    for who in (first, second):
        uid = who["ids"][0]
        assert who["ids"] == [uid] * 4 and uid not in (0, 65534)
        assert 1_000_000 <= uid < 2_000_000_000
        assert who["groups"] == []
        assert who["caps"] == ["0000000000000000"] * 3
        assert who["no_new_privs"] == "1"
    assert first["ids"][0] != second["ids"][0]
    assert all(process["uid"] != first["ids"][0] for process in host_processes().values())


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
    graders = KIT_ROOT / "autograder" / "assignments" / "cnn_week1" / "graders"
    hidden = [graders, graders / "conftest.py", graders.parent / "worker" / "tasks.py",
              KIT_ROOT / "solutions", KIT_ROOT / "solutions" / "cnn_week1.py", KIT_ROOT / "grading.toml",
              KIT_ROOT / "autograder" / "engine" / "grade.py", KIT_ROOT / "source", KIT_ROOT / ".git",
              out_dir, out_dir / "results.json", KIT_ROOT.parent / "shared", Path.home() / ".cache" / "cnn-week1-kit"]
    for path in hidden:
        assert path.exists(), f"{path} should exist on the host for this test to mean something"
    with run(SNOOPER) as session:
        for path in hidden:
            assert session.call("exists", str(path)) is False, path
        kit_listing = session.call("listdir", str(KIT_ROOT))
    # the kit's folder exists inside only as the way to its virtualenv, if the venv lives there
    venv = Path(sys.prefix)
    assert kit_listing in ("FileNotFoundError", [venv.name] if venv.parent == KIT_ROOT else [])


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
    def identity():
        import os
        return {"uid": os.getuid(), "ns": os.readlink("/proc/self/ns/pid")}
"""


def test_infinite_loop_times_out_that_call_only(run, sandbox_config, fork_server):
    with run(WELL + """
    def spin():
        while True:
            pass
    """) as session:
        first = session.call("identity")
        assert worker_processes(fork_server, first)  # the scan does find a live worker
        started = time.monotonic()
        failure = fails(session, "spin")
        elapsed = time.monotonic() - started
        assert session.call("ok", 41) == 42
        assert_worker_gone(fork_server, first)
        assert session.call("identity") != first
    assert failure.kind == "timeout"
    assert "did not finish within 3 s" in failure.summary
    assert sandbox_config.sandbox.call_timeout <= elapsed < sandbox_config.sandbox.call_timeout + 5
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
        import ctypes
        ctypes.string_at(0)  # SIGSEGV (a worker is pid 1 of its namespace: kill(getpid(), 9) is ignored)
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
    assert killed.kind == "crashed" and "SIGSEGV" in killed.summary
    assert session.restarts == 2


def test_memory_hogs_fail_their_own_call(run, sandbox_config):
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
    assert sandbox_config.sandbox.memory_mb * 1024 ** 2 < 20 * 1024 ** 3  # the limit is what stopped them


def test_children_left_running_are_gone_after_close(bwrap, run, fork_server):
    """Forked children, daemons that leave the session and detached subprocesses all die with the worker."""
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
        worker = session.call("identity")
        assert session.call("spawn") == 1  # pid 1 of a namespace of its own
        assert wait_until(lambda: sum(marker in p["cmdline"] for p in host_processes().values()) == 2, 5)
        marked = [p for p in host_processes().values() if marker in p["cmdline"]]
        assert {p["ns"] for p in marked} == {worker["ns"]}
        assert {p["uid"] for p in marked} == {host_processes()[worker_processes(fork_server, worker)[0]]["uid"]}
        # the worker, the forked child and the two sleeps
        assert len(worker_processes(fork_server, worker)) >= 4, host_processes()
        assert session.call("ok", 1) == 2  # the worker itself still answers
    assert_worker_gone(fork_server, worker)
    assert wait_until(lambda: not any(marker in p["cmdline"] for p in host_processes().values()), 5)


def test_huge_output_fails_with_output_flood_and_replaces_the_worker(run, fork_server):
    with run(WELL + """
    import os
    def shout():
        print("x" * 100_000_000)  # 100 MB through print
    def shout_raw():
        os.write(1, b"y" * 100_000_000)  # 100 MB straight to the file descriptor
    """) as session:
        first = session.call("identity")
        printed = fails(session, "shout")
        assert_worker_gone(fork_server, first)
        assert session.call("ok", 1) == 2
        second = session.call("identity")
        raw = fails(session, "shout_raw")
        assert_worker_gone(fork_server, second)
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


def test_big_files_are_refused(bwrap, run, sandbox_config):
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
        full = fails(session, "fill", "/scratch", 5, 40)  # the private tmpfs is smaller than the disk
        assert session.call("write", "/tmp/small.bin", 1) == 1024 * 1024
    for failure in big:
        assert failure.error_type == "OSError" and "File too large" in failure.summary, failure.summary
    assert full.error_type == "OSError" and "No space left" in full.summary, full.summary
    assert sandbox_config.sandbox.file_size_mb < 200
    assert sandbox_config.sandbox.scratch_mb < 5 * 40


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
