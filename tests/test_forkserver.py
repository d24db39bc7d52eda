"""The warm fork-server: every worker starts clean, cheap and confined, whatever the one before it did.

One fork-server per grading job imports torch once and forks a worker per request kind; these
tests check from outside that nothing of one worker reaches the next, that a spawn costs a fork
and not a torch import, what each worker can see, the limits of its private tmpfs, the "uid"
mode used without bubblewrap, and that a failing host or a forged reply is classified correctly.
"""
from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from autograder.engine import sandbox
from autograder.engine.failures import HostFault, StudentFailure
from autograder.engine.grade import GraderError, grade
from autograder.engine.runtime import wire
from autograder.engine.runtime.confine import landlock_abi
from conftest import host_processes, wait_until

RUNTIME_MODULES = ("reference_model", "tasks", "wire", "worker", "confine", "zygote")


# ----- (a) no state of one worker reaches the next ---------------------------------------------

STATE = """
    import os, sys, threading, time
    import torch
    import torch.nn.functional as F

    COUNTER = 0

    def pollute(marker):
        global COUNTER
        COUNTER += 1
        first_random = torch.rand(1).item()
        F.relu = lambda x: x * 0 - 7
        torch._planted_by_worker_one = marker
        import wave  # a module nothing in the fork-server imports
        written = []
        for folder in ("/tmp", "/scratch", os.environ["HOME"]):
            path = os.path.join(folder, marker)
            with open(path, "w") as handle:
                handle.write(marker)
            written.append(path)
        threading.Thread(target=lambda: time.sleep(3600), daemon=True).start()
        torch.manual_seed(123)
        return {"counter": COUNTER, "relu": F.relu(torch.tensor([-1.0, 2.0])).tolist(),
                "threads": len(os.listdir("/proc/self/task")), "written": written,
                "first_random": first_random, "seeded_random": torch.rand(1).item()}

    def inspect(marker):
        global COUNTER
        COUNTER += 1
        return {"counter": COUNTER, "relu": F.relu(torch.tensor([-1.0, 2.0])).tolist(),
                "relu_module": F.relu.__module__, "planted": hasattr(torch, "_planted_by_worker_one"),
                "wave": "wave" in sys.modules,
                "files": [p for p in (os.path.join(f, marker) for f in ("/tmp", "/scratch", os.environ["HOME"]))
                          if os.path.exists(p)],
                "threads": len(os.listdir("/proc/self/task")), "first_random": torch.rand(1).item()}
"""


def test_no_state_of_one_worker_reaches_the_next(bwrap, run):
    """Globals, monkeypatches, imports, files, threads and seeds of worker 1 are all absent in worker 2."""
    marker = f"left-by-worker-one-{secrets.token_hex(4)}"
    with run(STATE) as session:
        session.begin_test(hidden=True)  # each hidden test: a worker of its own, discarded after
        one = session.call("pollute", marker)
        session.end_test()
        session.begin_test(hidden=True)
        two = session.call("inspect", marker)
        session.end_test()
        assert session.workers_started == 2
    # worker 1 really changed all of it
    assert one["counter"] == 1 and one["relu"] == [-7.0, -7.0] and len(one["written"]) == 3
    assert one["threads"] >= 2
    import torch

    torch.manual_seed(123)
    seeded = torch.rand(1).item()
    assert one["seeded_random"] == seeded
    # worker 2 sees none of it
    assert two["counter"] == 1
    assert two["relu"] == [0.0, 2.0] and two["relu_module"] == "torch.nn.functional"
    assert two["planted"] is False and two["wave"] is False
    assert two["files"] == []
    assert two["threads"] == 1
    assert two["first_random"] not in (seeded, one["first_random"])


# ----- (b) a spawn is a fork, not a torch import -----------------------------------------------

def read_ready_frame(handle: sandbox.WorkerHandle, seconds: float = 10.0) -> dict:
    ready, _, _ = select.select([handle.from_worker], [], [], seconds)
    assert ready, "the worker sent no ready frame"
    request_id, payload = wire.read_frame(handle.from_worker)
    assert request_id == 0
    return wire.decode(payload)


def test_spawning_a_worker_after_ready_costs_well_under_a_second(fork_server):
    """A generous bound that catches a regression to importing torch per worker (several seconds)."""
    costs = []
    for _ in range(5):
        started = time.monotonic()
        handle = fork_server.spawn()
        try:
            assert read_ready_frame(handle) == {"ok": True, "value": {"ready": True}}
            costs.append(time.monotonic() - started)
        finally:
            handle.kill()
    print(f"spawn to ready frame: {', '.join(f'{cost * 1000:.0f} ms' for cost in costs)} "
          f"(fork-server start {fork_server.startup_seconds:.1f} s)")
    assert max(costs) < 1.0, costs


# ----- (c) what each worker is and sees --------------------------------------------------------

SEER = f"""
    import importlib, os, sys
    def seen():
        imports = {{}}
        for name in {RUNTIME_MODULES!r}:
            try:
                importlib.import_module(name)
                imports[name] = "imported"
            except ImportError as error:
                imports[name] = type(error).__name__
        runtime = {sandbox.SANDBOX_RUNTIME!r}
        loaded = sorted(name for name, module in list(sys.modules.items())
                        if str(getattr(module, "__file__", None) or "").startswith(runtime))
        main = sys.modules.get("__main__")
        loaded += [f"__main__.{{name}}" for name in ("tasks", "worker", "confine") if hasattr(main, name)]
        return {{"uid": os.getuid(), "pid": os.getpid(), "ppid": os.getppid(),
                "proc": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                "runtime": os.listdir(runtime), "imports": imports, "loaded_from_runtime": loaded}}
"""


def test_each_worker_has_its_own_uid_pid_namespace_and_no_view_of_the_runtime(bwrap, run):
    with run(SEER) as first, run(SEER) as second:  # two live workers of the same fork-server
        one, two = first.call("seen"), second.call("seen")
        assert first._connection.worker.exit_code(wait=0) is None  # both still alive at once
    for seen in (one, two):
        assert seen["pid"] == 1 and seen["ppid"] == 0
        assert seen["proc"] == [1]  # neither the fork-server nor the other worker
        assert seen["runtime"] == []
        assert set(seen["imports"].values()) == {"ModuleNotFoundError"}, seen["imports"]
    if os.geteuid() == 0:
        assert one["uid"] != two["uid"]


def test_runtime_modules_are_not_reachable_through_sys_modules(bwrap, run):
    """`import __main__` must not hand student code the fork-server's modules (tasks, the reference model)."""
    with run(SEER) as session:
        seen = session.call("seen")
    assert seen["loaded_from_runtime"] == []


# ----- (d) the private tmpfs limits inodes too -------------------------------------------------

INODES = """
    import os
    def many_files(folder, count):
        made = 0
        try:
            for number in range(count):
                open(os.path.join(folder, f"f{number}"), "w").close()
                made += 1
        except OSError as error:
            return {"made": made, "error": type(error).__name__, "errno": error.errno}
        return {"made": made, "error": None}
"""


def test_scratch_runs_out_of_inodes_and_the_next_worker_starts_empty(bwrap, run):
    with run(INODES) as session:
        session.begin_test(hidden=True)
        full = session.call("many_files", "/scratch", 100_000, timeout=60)
        session.end_test()
        session.begin_test(hidden=True)
        fresh = session.call("many_files", "/scratch", 100)
        session.end_test()
    assert full["error"] == "OSError" and full["errno"] == 28, full  # ENOSPC
    assert 1000 < full["made"] < 10_000
    assert fresh == {"made": 100, "error": None}


# ----- (e) the "uid" mode: root without bubblewrap --------------------------------------------

@pytest.fixture(scope="module")
def uid_server(sandbox_config, training_data):
    """A fork-server with bubblewrap switched off (CNN_KIT_NO_SANDBOX=1): fresh uids and Landlock."""
    if os.geteuid() != 0:
        pytest.skip('the "uid" mode needs a root grader (a user grader without bubblewrap is refused)')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_KIT_NO_SANDBOX", "1")
        sandbox.bubblewrap_problem.cache_clear()
        try:
            server = sandbox.ForkServer(sandbox_config.sandbox, training_data, sandbox_config.definition.worker_tasks,
                                        sandbox_config.definition.forbidden)
        finally:
            sandbox.bubblewrap_problem.cache_clear()
    assert server.mode == "uid"
    with server:
        server.ready()
        yield server


@pytest.fixture
def outside_folder():
    """A world-readable file in a world-writable folder under /tmp: only Landlock keeps a worker out."""
    folder = Path("/tmp") / f"cnnkit-outside-{secrets.token_hex(4)}"
    folder.mkdir()
    folder.chmod(0o777)
    secret = folder / "secret.txt"
    secret.write_text("not for workers")
    secret.chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


UID_WORKER = """
    import os, subprocess
    def who():
        return os.getuid()
    def read(path):
        try:
            return open(path).read()
        except OSError as error:
            return type(error).__name__
    def write(path):
        try:
            with open(path, "w") as handle:
                handle.write("x")
            return "written"
        except OSError as error:
            return type(error).__name__
    def leave_behind(marker):
        subprocess.Popen(["sleep", f"1002.{marker}"], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            os.execvp("sleep", ["sleep", f"1003.{marker}"])
        return os.getpid()
"""


def test_uid_mode_gives_fresh_uids_and_keeps_files_out_of_reach(uid_server, run, outside_folder):
    secret = outside_folder / "secret.txt"
    # another unprivileged uid without Landlock can read it: the refusal below is Landlock's
    control = subprocess.run(["cat", str(secret)], user=1_999_999_999, group=1_999_999_999, extra_groups=[],
                             capture_output=True, text=True)
    assert control.stdout.strip() == "not for workers", control.stderr
    with run(UID_WORKER, server=uid_server) as session:
        uid = session.call("who")
        refused = session.call("read", str(secret))
        outside = session.call("write", str(outside_folder / "planted.txt"))
        inside = session.call("write", "own-scratch.txt")  # its working folder is its scratch
        session.begin_test(hidden=True)
        other = session.call("who")
        session.end_test()
    assert uid not in (0, 65534) and 1_000_000 <= uid < 2_000_000_000 and other != uid
    assert refused == "PermissionError"
    assert outside == "PermissionError" and not (outside_folder / "planted.txt").exists()
    assert inside == "written"


def test_uid_mode_kills_what_a_worker_leaves_behind(uid_server, run):
    marker = str(secrets.randbelow(10 ** 9) + 10 ** 9)
    with run(UID_WORKER, server=uid_server) as session:
        uid = session.call("who")
        session.call("leave_behind", marker)
        assert wait_until(lambda: sum(marker in p["cmdline"] for p in host_processes().values()) == 2, 5)
        assert {p["uid"] for p in host_processes().values() if marker in p["cmdline"]} == {uid}
    assert wait_until(lambda: not any(marker in p["cmdline"] or p["uid"] == uid
                                      for p in host_processes().values()), 5)


def test_uid_mode_grades_and_reports_the_protections_it_lacks(uid_server, tmp_path):
    submission = tmp_path / "vertical.py"
    submission.write_text("import torch\n\ndef vertical_edge_filter():\n"
                          "    return torch.tensor([[1.0, 0.0, -1.0]] * 3)\n")
    result = grade(submission, tmp_path / "out", select="vertical_edge_filter", server=uid_server)
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    missing = uid_server.protections.missing()
    assert result.missing_protections == missing
    abi = landlock_abi()
    assert any("filesystem isolation" in text for text in missing) == (abi < 1)
    assert not any("resource limits" in text for text in missing)
    # the instructor's to know (provenance, the terminal report), never in what students see
    assert written["provenance"]["missing_protections"] == missing
    for text in missing:
        assert text not in written["output"]
    passed = [t for t in written["tests"] if t["status"] == "passed"]
    assert passed and all("vertical_edge_filter" in t["name"] for t in passed)


def test_uid_mode_workers_read_the_training_arrays(uid_server, run):
    """Without bubblewrap the data reach workers through the job's own folder, never a link into a
    folder their fresh uids cannot pass (root's 0700 home holds the default cache)."""
    data_dir = next(Path(folder) for folder in uid_server._readable if folder.endswith("/data"))
    reader = "def head(path):\n    with open(path, 'rb') as stream:\n        return len(stream.read(1000))\n"
    with run(reader, server=uid_server) as session:
        for name in ("train-images.npy", "train-labels.npy"):
            assert not (data_dir / name).is_symlink()
            assert session.call("head", str(data_dir / name)) == 1000


SNIFFER = """
    import os, socket
    def send_udp(port):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"exfiltrated", ("127.0.0.1", port))
            return "sent"
        except OSError as error:
            return type(error).__name__
    def sees(pid):
        return os.path.exists(f"/proc/{pid}/cmdline")
"""


def test_uid_mode_claims_only_the_protections_it_has(uid_server, run):
    """A protection the report does not name as missing really holds (UDP and process visibility)."""
    missing = " ".join(uid_server.protections.missing())
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(1.0)
    try:
        with run(SNIFFER, server=uid_server) as session:
            session.call("send_udp", listener.getsockname()[1])
            grader_visible = session.call("sees", os.getpid())
        try:
            received = listener.recv(100)
        except socket.timeout:
            received = b""
    finally:
        listener.close()
    overclaimed = []
    if "network isolation" not in missing and received:
        overclaimed.append("a UDP datagram left the worker although network isolation is claimed")
    if "process namespace" not in missing and grader_visible:
        overclaimed.append("the worker sees the grader's process although a private process namespace is claimed")
    assert overclaimed == []


# ----- (f) a host that cannot start workers is a host fault, never a score ---------------------

def test_a_worker_that_cannot_start_is_a_host_fault_not_a_student_failure(bwrap, run, sandbox_config, tmp_path):
    """The MNIST cache vanished: no worker can be built, and no results.json is written."""
    gone = {"train-images.npy": tmp_path / "deleted" / "train-images.npy"}
    with sandbox.ForkServer(sandbox_config.sandbox, gone) as broken:
        with run("def ok():\n    return 1\n", server=broken) as session:
            with pytest.raises(HostFault) as raised:
                session.call("ok")
            assert not isinstance(raised.value, StudentFailure)
        submission = tmp_path / "vertical.py"
        submission.write_text("import torch\n\ndef vertical_edge_filter():\n"
                              "    return torch.tensor([[1.0, 0.0, -1.0]] * 3)\n")
        with pytest.raises(GraderError):
            grade(submission, tmp_path / "out", select="vertical_edge_filter", server=broken)
    assert not (tmp_path / "out" / "results.json").exists()


# ----- (g) a reply the grader did not ask for -------------------------------------------------

FORGER = """
    import fcntl, os, stat
    def reply_fd():
        for fd in range(3, 21):
            try:
                mode = os.fstat(fd).st_mode
            except OSError:
                continue
            if stat.S_ISFIFO(mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                return fd
        raise RuntimeError("no reply pipe found")
    def forge(header_hex, body):
        os.write(reply_fd(), bytes.fromhex(header_hex) + body.encode())
        return "honest"
    WORKER_TOKEN = os.urandom(16).hex()  # drawn when a worker loads the file (namespace inodes are reused)
    def identity():
        return WORKER_TOKEN
    def ok():
        return 1
"""


@pytest.mark.parametrize("size,request_id,kinds", [
    (len(b'{"ok":true,"value":"forged"}'), 10 ** 6, {"tampering"}),  # well formed, an id nobody asked for
    (wire.MAX_FRAME_BYTES + 1, 10 ** 6, {"tampering", "crashed"}),  # oversized: refused before its payload
], ids=["wrong-id", "oversized"])
def test_a_reply_frame_the_grader_did_not_ask_for_fails_that_call_only(bwrap, run, size, request_id, kinds):
    header = (size.to_bytes(4, "big") + request_id.to_bytes(4, "big")).hex()
    with run(FORGER) as session:
        first = session.call("identity")
        with pytest.raises(StudentFailure) as raised:
            session.call("forge", header, '{"ok":true,"value":"forged"}')
        assert session.call("ok") == 1
        assert session.call("identity") != first  # a fresh worker
    assert raised.value.kind in kinds, raised.value.summary
