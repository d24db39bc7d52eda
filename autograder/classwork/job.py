"""A grading job: one process that imports torch, pytest and the graders once and grades many
submissions one after another, so a class pays ``import torch`` per job, not per submission.

Protocol (``python -m autograder.classwork.job --config PATH``): the driver writes one JSON line per task on
the job's stdin, ``{"id", "submission", "out", "select"}``; the job calls ``grade()`` into ``out`` (a
scratch folder the driver publishes only after the answer) and answers one JSON line on stdout,
``{"id", "status": "graded"}`` or ``{"id", "status": "error", "reason"}`` for a grader or host
fault (never a score). Everything else the job prints goes to stderr (the driver's log), so nothing
can corrupt the answers. ``JobProcess`` is the driver's side: the job runs in its own process
group so that a timeout, a crash or the driver's exit kills it with everything it started.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..engine.config import JOBS_VARIABLE, KIT_ROOT
from ..engine.processes import kill_group

GRADED, ERROR = "graded", "error"


class JobProcess:
    """The driver's handle of one grading job; ``send`` one task at a time, then ``answers``."""

    def __init__(self, config_path: Path, log: Path, marker: str, jobs: int = 1):
        """``jobs``: how many jobs run side by side (``[sandbox] torch_threads = 0`` shares the cores among them)."""
        self.log = log
        command = [sys.executable, "-m", "autograder.classwork.job", "--config", str(config_path), "--marker", marker]
        with open(log, "ab") as stderr:
            self.process = subprocess.Popen(command, cwd=KIT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=stderr, env={**os.environ, JOBS_VARIABLE: str(jobs)},
                                            start_new_session=True)  # own group: killable as a whole
        os.set_blocking(self.process.stdout.fileno(), False)
        self._buffer = b""
        self.task, self.sent_at = None, 0.0

    def fileno(self) -> int:
        return self.process.stdout.fileno()

    def send(self, task, submission: Path, out: Path, select: str | None) -> None:
        self.task, self.sent_at = task, time.monotonic()
        line = json.dumps({"id": task.student, "submission": str(submission), "out": str(out), "select": select})
        try:
            self.process.stdin.write(line.encode() + b"\n")
            self.process.stdin.flush()
        except OSError:
            pass  # the job is gone: answers() reports it as dead

    def answers(self) -> tuple[list[dict], bool]:
        """(answer lines read so far, whether the job's output ended, i.e. the job died)."""
        ended = False
        try:
            while chunk := os.read(self.fileno(), 65536):
                self._buffer += chunk
            ended = True  # read returned b"": end of stream
        except BlockingIOError:
            pass
        *lines, self._buffer = self._buffer.split(b"\n")
        answers = []
        for line in lines:
            try:
                answers.append(json.loads(line))
            except ValueError:
                continue  # not an answer: ignored (answers are whole JSON lines)
        return answers, ended

    def death(self) -> str:
        """Why a dead job died, for the instructor: exit status and the last line of its log."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = "still running" if code is None else f"killed by signal {-code}" if code < 0 else f"exit {code}"
        try:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-1][:300]
        except (OSError, IndexError):
            tail = ""
        return f"the grading process died ({how}){': ' + tail if tail else ''}"

    def kill(self) -> None:
        """Kill the job's whole process group (its fork-server notices the closed socket and exits)."""
        kill_group(self.process)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


# ----- the job's side -----------------------------------------------------------------------------

def _die_with_parent() -> None:
    """Linux: the job is killed when the driver dies, even by SIGKILL (no job left under init)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the driver died before prctl took effect
        os._exit(1)


def open_server(config):
    """The job's warm fork-server, or None (then ``grade`` starts its own per submission)."""
    from ..engine.grade import fork_server

    try:
        server = fork_server(config)
        server.start()
        return server
    except Exception as error:  # a host fault: each grade will meet it and report it as its own error
        print(f"job: no warm fork-server ({error}); each submission starts its own", file=sys.stderr)
        return None


def _grade_one(task: dict, config, server) -> dict:
    from ..engine.config import ConfigError
    from ..engine.grade import GraderError, grade

    kwargs = {"server": server} if server is not None else {}
    try:
        grade(task["submission"], task["out"], config, select=task.get("select"), **kwargs)
    except (GraderError, ConfigError) as error:
        return {"id": task["id"], "status": ERROR, "reason": str(error)}
    except Exception as error:  # a bug of the grader's own is a grader fault, not a grade
        return {"id": task["id"], "status": ERROR, "reason": f"the grader failed: {type(error).__name__}: {error}"}
    if not (Path(task["out"]) / "results.json").is_file():
        return {"id": task["id"], "status": ERROR, "reason": "the grader wrote no results.json"}
    return {"id": task["id"], "status": GRADED}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.classwork.job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--marker", default="", help="ignored: lets the driver find its jobs in a process list")
    args = parser.parse_args(argv)
    _die_with_parent()
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever else is printed goes to the log, never into the answers
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: sys.exit(128 + number))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides; it kills the group

    from ..engine import plugin  # noqa: F401  (the heavy imports, once: pytest, torch, the graders' helpers)
    from ..engine.config import load_config

    config = load_config(args.config)
    server = open_server(config)
    try:
        for line in sys.stdin:
            task = json.loads(line)
            answer = _grade_one(task, config, server)
            if answer["status"] == ERROR and server is not None:  # a fault may have broken the server
                server.close()
                server = open_server(config)
            answers.write(json.dumps(answer) + "\n")
            answers.flush()
    finally:
        if server is not None:
            server.close()
    return 0


if __name__ == "__main__":
    code = main()
    gc.freeze()  # as in python -m autograder: the exit need not walk every object torch and pytest made
    sys.exit(code)
