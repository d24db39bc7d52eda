"""The warm fork-server: imports torch once, then forks a fresh, confined worker per request.

It runs inside the grading job's sandbox (bubblewrap: the Python installation,
this folder and the training data, no network) and never runs student code.
Each ``spawn`` forks once: the child is pid 1 of a pid namespace of its own,
opens its own mount and ipc namespaces, confines itself (``confine.py``) and
only then becomes a worker (``worker.serve``). A worker therefore starts from
the state the fork-server had before any submission was seen: no module,
global, file, thread or seed of an earlier worker can reach it.

Control messages (JSON on a SOCK_SEQPACKET socket from the grader):
``spawn`` {plan} -> {ok, pid} with the worker's three pipe ends attached
(requests in, replies out, printed output); ``kill`` {pid}; ``status`` {pid} ->
{code or None}. The fork-server exits when the grader's end closes.
"""
from __future__ import annotations

import argparse
import array
import gc
import json
import os
import random
import shutil
import signal
import socket
import sys
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import confine  # noqa: E402  (after the path fix: this folder is all the sandbox shows)
import restrict  # noqa: E402
import worker  # noqa: E402

RUNTIME_MODULES = ("confine", "restrict", "worker", "wire", "zygote")


class ForkServer:
    def __init__(self, control: socket.socket, options: argparse.Namespace):
        self.control, self.options = control, options
        self.children: dict[int, dict] = {}  # worker pid -> {uid, mode, scratch, code}
        self.own_pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def serve(self) -> None:
        self.control.send(json.dumps({"ready": True, "uid": os.getuid(),
                                      "landlock": confine.landlock_abi()}).encode())
        while True:
            message = self.control.recv(1 << 16)
            if not message:
                break
            request = json.loads(message)
            try:
                reply, fds = getattr(self, "op_" + request["op"])(request)
            except Exception as error:  # the grader learns why; the fork-server stays up
                reply, fds = {"ok": False, "error": f"{type(error).__name__}: {error}"}, []
            socket.send_fds(self.control, [json.dumps(reply).encode()], fds) if fds else \
                self.control.send(json.dumps(reply).encode())
            for fd in fds:
                os.close(fd)
        for pid in list(self.children):
            self.op_kill({"pid": pid})

    # ----- operations ----------------------------------------------------------------------

    def op_spawn(self, request: dict):
        plan = request["plan"]
        if plan["mode"] != "namespaces":  # no mount namespace: a scratch folder of its own instead
            plan["scratch"] = os.path.join(self.options.scratch_root, f"cnnkit-worker-{plan['uid']}")
            os.mkdir(plan["scratch"], 0o700)
            os.chown(plan["scratch"], plan["uid"], plan["uid"]) if os.geteuid() == 0 else None
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        output_r, output_w = os.pipe()
        ours, theirs = (requests_w, replies_r, output_r), (requests_r, replies_w, output_w)
        pid = 0
        try:
            if plan["mode"] == "namespaces":
                confine.children_in_a_new_pid_namespace()
            try:
                pid = os.fork()  # one fork per worker: each copies this torch-sized process's page tables
                if pid == 0:  # the worker, pid 1 of its own pid namespace: it never returns
                    _become_worker(plan, self.options, *theirs,
                                   keep_closed=(self.control.fileno(), *ours, self.own_pid_namespace))
            finally:
                if plan["mode"] == "namespaces":  # also after a failed fork: the next spawn needs it
                    confine.children_in_my_pid_namespace(self.own_pid_namespace)
        except BaseException:  # no worker then, and nothing of it left behind
            if pid > 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            for fd in ours + theirs:
                os.close(fd)
            raise
        for fd in theirs:
            os.close(fd)
        self.children[pid] = {"uid": plan["uid"], "mode": plan["mode"],
                              "scratch": plan["scratch"] if plan["mode"] != "namespaces" else None, "code": None}
        return {"ok": True, "pid": pid}, list(ours)

    def op_kill(self, request: dict):
        child = self.children.pop(int(request["pid"]), None)
        if child is None:
            return {"ok": True}, []
        try:  # with namespaces it is pid 1 of its own: everything it started dies with it
            os.kill(int(request["pid"]), signal.SIGKILL)
        except ProcessLookupError:
            pass
        if child["mode"] == "uid":  # without them: every process of its uid, wherever it went
            _kill_everything_of(child["uid"])
        self._reap(int(request["pid"]), child, block=True)
        if child["scratch"]:
            shutil.rmtree(child["scratch"], ignore_errors=True)
        return {"ok": True}, []

    def op_status(self, request: dict):
        pid = int(request["pid"])
        child = self.children.get(pid)
        if child is None:
            return {"ok": True, "code": None}, []
        deadline = time.monotonic() + float(request.get("wait", 0))
        while child["code"] is None and not self._reap(pid, child, block=False) and time.monotonic() < deadline:
            time.sleep(0.02)
        return {"ok": True, "code": child["code"]}, []

    def _reap(self, pid: int, child: dict, block: bool) -> bool:
        try:
            done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return True
        if done == 0:
            return False
        code = os.waitstatus_to_exitcode(status)
        child["code"] = 128 - code if code < 0 else code  # a signal as 128 + its number, like a shell
        return True


def _become_worker(plan: dict, options, requests_r: int, replies_w: int, output_w: int, keep_closed) -> None:
    """Confine this process, then serve requests; no student code runs before the last step."""
    code = 0
    try:
        for fd in keep_closed:
            os.close(fd)
        os.setsid()
        confine.no_way_back_on_parent_death()
        if plan["mode"] == "namespaces":
            confine.split_namespaces(isolate_network=options.isolate_network)
        os.dup2(output_w, 1)
        os.dup2(output_w, 2)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.closerange(3, requests_r)
        os.closerange(requests_r + 1, replies_w)
        os.closerange(replies_w + 1, 65536)
        if plan["mode"] == "namespaces":
            confine.private_filesystem(plan)
        if plan["mode"] != "none":
            confine.become_unprivileged(int(plan["uid"]))
        confine.limits(plan)
        confine.no_way_back()
        if plan["mode"] != "namespaces":  # required with a uid of its own; the best there is without one
            if not confine.landlock(plan["readable"], [plan["scratch"], "/dev/null"]) and plan["mode"] == "uid":
                raise confine.ConfineError(0, "Landlock is not available to keep the worker's files apart")
        os.chdir(plan["scratch"])
        os.environ.update(HOME=plan["scratch"], TMPDIR=plan["scratch"] if plan["mode"] != "namespaces" else "/tmp",
                          MPLCONFIGDIR=os.path.join(plan["scratch"], ".matplotlib"))
        _forget_the_runtime()
        _fresh_randomness()
        import torch

        torch.set_num_threads(int(plan["threads"]))
        if plan.get("restrict"):
            restrict.install(_FORBIDDEN, forbid_pad=plan["restrict"] == "manual_no_pad")
        worker_options = SimpleNamespace(data_dir=options.data_dir, max_output=int(plan["max_output"]),
                                         flood_output=int(plan["flood_output"]))
    except BaseException as error:  # confinement failed: report it and never run student code
        os.write(2, f"worker confinement failed: {type(error).__name__}: {error}\n".encode())
        os._exit(71)
    try:
        worker.serve(requests_r, replies_w, worker_options, _TASKS)
    except BaseException:
        code = 1
    os._exit(code)


def _forget_the_runtime() -> None:
    """The graders' modules are loaded; student code must not find them by name."""
    for name in RUNTIME_MODULES + _TASK_MODULES:
        sys.modules.pop(name, None)
    import types

    for name in ("__main__", "__mp_main__"):  # the fork-server's own module would lead back to all of them
        if name in sys.modules:
            sys.modules[name] = types.ModuleType(name)
    hidden = {os.path.realpath(HERE), *(os.path.realpath(folder) for folder in _TASK_FOLDERS)}
    sys.path[:] = [entry for entry in sys.path if os.path.realpath(entry or ".") not in hidden]


_TASKS = None  # the assignment's tasks module (``TASKS``: name -> function), or None
_TASK_MODULES: tuple[str, ...] = ()  # modules it loaded from its folder, forgotten in every worker
_TASK_FOLDERS: tuple[str, ...] = ()
_FORBIDDEN = None  # restrict's plan for the assignment's forbidden routines, worked out once


def _load_assignment(tasks_dir: str, forbidden: dict) -> None:
    """Import the assignment's worker tasks and plan its forbidden routines, before any fork."""
    global _TASKS, _TASK_MODULES, _TASK_FOLDERS, _FORBIDDEN
    _FORBIDDEN = restrict.plan(forbidden)
    if not tasks_dir:
        return
    before = set(sys.modules)
    sys.path.insert(0, tasks_dir)
    import tasks  # noqa: E402  (torch, the assignment's models, warmed optimizers)

    _TASKS, _TASK_FOLDERS = tasks, (tasks_dir,)
    _TASK_MODULES = tuple(name for name in set(sys.modules) - before
                          if os.path.realpath(getattr(sys.modules[name], "__file__", None) or "/").startswith(
                              os.path.realpath(tasks_dir) + os.sep))


def _fresh_randomness() -> None:
    """Every worker draws its own seeds (forked ones would share the fork-server's)."""
    import numpy
    import torch

    seed = int.from_bytes(os.urandom(8), "little")
    random.seed(seed)
    numpy.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _kill_everything_of(uid: int) -> None:
    """Without a pid namespace: every process of the worker's own uid, whoever its parent."""
    if os.geteuid() != 0 or uid <= 0:
        return
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--scratch-root", default="/tmp")
    parser.add_argument("--isolate-network", type=int, default=0)
    parser.add_argument("--tasks-dir", default="", help="the assignment's worker tasks (tasks.py with TASKS)")
    parser.add_argument("--forbid", default="{}", help="the assignment's forbidden routines (JSON)")
    options = parser.parse_args()
    confine.no_way_back_on_parent_death()
    _load_assignment(options.tasks_dir, json.loads(options.forbid))
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    import torch

    torch.set_num_threads(1)  # workers set their own; a pool started here would not survive fork
    # Every object made so far (torch's, the tasks') is out of the collector's reach: a worker's
    # first collection would otherwise write to all of them and copy every page they share
    # with this process (time at each spawn, and memory per live worker).
    gc.collect()
    gc.freeze()
    ForkServer(socket.socket(fileno=options.control), options).serve()
    os._exit(0)  # its workers are gone; torch's teardown would keep the grader waiting a second


if __name__ == "__main__":
    main()
