"""The grader's handle on one submission's sandboxed worker.

It loads the submission cell by cell, forwards calls, enforces the wall-clock
limits, and turns every way student code can go wrong (an exception, a hang,
a crash, ``os._exit``, a flood of output, a forbidden routine, a forged or
broken reply) into a ``StudentFailure`` for the one test that met it. A dead
or killed worker is replaced, with the cells that loaded fine, before the
next request, so one bad function costs only its own tests.
"""
from __future__ import annotations

import queue
import signal
import threading
import time
from collections import deque
from pathlib import Path

from .config import GradingConfig
from .extract import Submission
from .failures import StudentFailure
from .runtime import wire
from .sandbox import Protections, WorkerProcess, start_worker


class _Connection:
    """One live worker process with the threads that read its replies and its stray output."""

    def __init__(self, worker: WorkerProcess, flood_bytes: int):
        self.worker = worker
        self.replies: queue.Queue = queue.Queue()
        self.stray = deque(maxlen=200)  # last lines printed outside any request's capture
        self.stray_bytes = 0
        self.flooded = False
        self._flood_bytes = flood_bytes
        threading.Thread(target=self._read_replies, daemon=True).start()
        threading.Thread(target=self._drain_output, daemon=True).start()

    def _read_replies(self) -> None:
        try:
            while True:
                frame = wire.read_frame(self.worker.from_worker)
                if frame is None:
                    break
                self.replies.put(frame)
        except (OSError, wire.WireError) as error:
            self.replies.put(error)
        self.replies.put(None)  # end of stream

    def _drain_output(self) -> None:
        stream = self.worker.process.stdout
        for chunk in iter(lambda: stream.read1(65536), b""):
            self.stray_bytes += len(chunk)
            self.stray.append(chunk[-2000:].decode("utf-8", "replace"))
            if self.stray_bytes > self._flood_bytes and not self.flooded:
                self.flooded = True
                self.worker.kill()

    def exit_reason(self) -> str:
        """Why the worker ended, in words a student understands."""
        code = self.worker.process.poll()
        if code is None:
            try:
                code = self.worker.process.wait(timeout=2)
            except Exception:
                return "it stopped answering"
        if self.flooded:
            return "it printed far too much output and was stopped"
        if code > 128 and self.worker.protections.processes:  # bwrap reports a signal as 128 + its number
            code = 128 - code
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            hint = " (usually: too much memory)" if -code == 9 else ""
            return f"it was killed by signal {name}{hint}"
        if code == 0:
            return "the code exited the process (sys.exit or os._exit)"
        return f"the process exited with status {code} (sys.exit, os._exit or a crash)"


class WorkerSession:
    def __init__(self, submission: Submission, config: GradingConfig, data_files: dict[str, Path]):
        self.submission = submission
        self.config = config
        self.limits = config.sandbox
        self.data_files = data_files
        self.cell_errors: dict[str, str] = {}  # grade_id -> why the cell did not load
        self.loaded_cells: list[str] = []  # cells that ran to the end or raised (not hung, not crashed)
        self.defined: set[str] = set()  # names the loaded cells defined
        self.restarts = 0
        self.startup_seconds: float | None = None
        self.worker_peak_rss_mb: float | None = None
        self.protections: Protections | None = None
        self._connection: _Connection | None = None
        self._next_id = 0
        self._loaded = False

    # ----- life cycle ------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the worker now (it imports torch) so that it warms up while the grader does too."""
        if self._connection is None and self.submission.cells:
            worker = start_worker(self.limits, self.data_files)
            self.protections = worker.protections
            self._connection = _Connection(worker, self.limits.flood_output_mb * 1_000_000)
            self._ready_by = time.monotonic() + self.limits.startup_timeout

    def close(self) -> None:
        if self._connection is not None:
            try:  # the worker's peak memory, for the benchmarks; a dead worker just has none
                stats = self._request({"op": "ping"}, 5.0, "the final check")["value"]
                self.worker_peak_rss_mb = float(stats["peak_rss_kb"]) / 1024
            except (StudentFailure, KeyError, TypeError, ValueError):
                pass
            self._connection.worker.kill()
            self._connection = None

    def load(self) -> None:
        """Run every extracted cell once, each on its own, remembering what each defined."""
        if self._loaded:
            return
        self._loaded = True
        for cell in self.submission.cells:
            try:
                result = self._exec(cell.grade_id, cell.source)
            except StudentFailure as failure:  # the cell hung or killed the worker
                self.cell_errors[cell.grade_id] = failure.summary
                continue
            self.loaded_cells.append(cell.grade_id)
            self.defined.update(result["defined"])
            if result["error"] is not None:
                self.cell_errors[cell.grade_id] = _cell_error_text(cell.grade_id, result["error"])

    def _exec(self, grade_id: str, source: str) -> dict:
        reply = self._request({"op": "exec_cell", "grade_id": grade_id, "source": source},
                              self.limits.load_timeout, f"the cell {grade_id}")
        value = reply.get("value")
        if not isinstance(value, dict) or not isinstance(value.get("defined"), list):
            raise StudentFailure("bad_reply", f"the cell {grade_id} sent back a malformed reply.")
        value["defined"] = [str(name) for name in value["defined"]]
        return value

    # ----- what the graders use --------------------------------------------------------------

    def call(self, name: str, *args, watch: str | None = None, timeout: float | None = None, **kwargs):
        """Call the student's ``name`` in the worker and return the decoded result."""
        self.load()
        if not self._defines(name):
            raise StudentFailure("missing", self._missing_reason(name))
        reply = self._request({"op": "call", "name": name, "args": list(args), "kwargs": kwargs, "watch": watch},
                              timeout or self.limits.call_timeout, f"`{name}`")
        forbidden = reply.get("forbidden") or []
        if forbidden:
            raise StudentFailure(
                "forbidden",
                f"`{name}` used {', '.join(forbidden)}, which the assignment forbids here: "
                "do this part's work yourself with indexing, loops, einsum or matmul.",
                output=reply.get("output", ""))
        return reply.get("value")

    def task(self, task: str, payload: dict, timeout: float | None = None, needs: tuple[str, ...] = ()):
        """Run a worker routine (model checks, training) that calls the student's ``needs``."""
        self.load()
        for name in needs:
            if not self._defines(name):
                raise StudentFailure("missing", self._missing_reason(name))
        what = f"`{needs[0]}`" if needs else f"the {task} check"
        reply = self._request({"op": "task", "task": task, "payload": payload},
                              timeout or self.limits.call_timeout, what)
        return reply.get("value")

    def cell_source(self, name: str) -> str | None:
        for cell in self.submission.cells:
            if cell.grade_id == name:
                return cell.source
        return None

    # ----- plumbing --------------------------------------------------------------------------

    def _defines(self, name: str) -> bool:
        return name in self.defined

    def _missing_reason(self, name: str) -> str:
        for grade_id in (name, "<submission>"):
            if grade_id in self.cell_errors:
                return f"`{name}` could not be graded: {self.cell_errors[grade_id]}"
        for problem in self.submission.problems:
            if f"{name} " in problem or f"{name!r}" in problem or self.submission.kind == "unreadable":
                return f"`{name}` could not be graded: {problem}"
        return f"`{name}` is not defined in the submission."

    def _request(self, message: dict, timeout: float, what: str) -> dict:
        connection = self._ensure_worker()
        self._next_id += 1
        message["id"] = request_id = self._next_id
        try:
            wire.write_frame(connection.worker.to_worker, wire.encode(message))
        except OSError:
            pass  # the worker died; the reply wait below reports why
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                frame = connection.replies.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                self._discard(connection)
                raise StudentFailure("timeout", f"{what} did not finish within {timeout:g} s "
                                                "(an endless loop, or far too slow) and was stopped.")
            if frame is None or isinstance(frame, Exception):
                reason = connection.exit_reason() if frame is None else f"it sent a broken reply ({frame})"
                kind = "output_flood" if connection.flooded else "crashed"
                self._discard(connection)
                raise StudentFailure(kind, f"The process running your code stopped during {what}: {reason}.")
            try:
                reply = wire.decode(frame)
            except wire.WireError as error:
                self._discard(connection)
                raise StudentFailure("bad_reply", f"{what} sent back something unreadable ({error}).")
            if isinstance(reply, dict) and reply.get("id") == request_id:
                try:
                    return self._check_reply(reply, what)
                except StudentFailure as failure:
                    if failure.kind == "output_flood":  # a thread may still be printing: start afresh
                        self._discard(connection)
                    raise
            # a frame with another id was not asked for (stale, or forged by student code): ignore it

    def _check_reply(self, reply: dict, what: str) -> dict:
        output = str(reply.get("output") or "")
        if reply.get("ok") is True:
            return reply
        error = reply.get("error")
        if not isinstance(error, dict):
            raise StudentFailure("bad_reply", f"{what} sent back a malformed reply.", output=output)
        kind = str(error.get("kind", "exception"))
        error_type, message = str(error.get("type", "Exception")), str(error.get("message", ""))
        location = _describe_where(error.get("where"))
        if kind == "not_implemented":
            summary = f"{what} is not implemented yet (it still raises NotImplementedError)."
        elif kind == "syntax":
            summary = f"{what} has a syntax error{location}: {message}."
        elif kind == "output_flood":
            summary = f"{what} {message} and was stopped."
        elif kind == "grader":
            summary = f"The grader could not run {what} ({message})."
        else:
            summary = f"{what} raised {error_type}: {message}{location}." if message else f"{what} raised {error_type}{location}."
        raise StudentFailure(kind, summary, output=output, error_type=error_type)

    def _ensure_worker(self) -> _Connection:
        if self._connection is None:
            self.launch()
            self.restarts += 1 if self.startup_seconds is not None else 0
            if self._connection is None:
                raise StudentFailure("missing", "The submission has no code that could be run.")
            self._await_ready(self._connection)
            for cell in self.submission.cells:  # rebuild the namespace of the replaced worker
                if cell.grade_id in self.loaded_cells:
                    self._exec(cell.grade_id, cell.source)
        elif self.startup_seconds is None:
            self._await_ready(self._connection)
        return self._connection

    def _await_ready(self, connection: _Connection) -> None:
        started = time.monotonic()
        try:
            frame = connection.replies.get(timeout=max(self._ready_by - started, 0.001))
        except queue.Empty:
            frame = None
        if not isinstance(frame, bytes):
            output = "".join(connection.stray)[-1500:]
            self._discard(connection)
            raise RuntimeError(f"The sandboxed worker did not start. Its output:\n{output}")
        if self.startup_seconds is None:
            self.startup_seconds = self.limits.startup_timeout - (self._ready_by - time.monotonic())

    def _discard(self, connection: _Connection) -> None:
        connection.worker.kill()
        if self._connection is connection:
            self._connection = None


def _cell_error_text(grade_id: str, error) -> str:
    """Why a cell failed while loading, from the worker's error description."""
    error = error if isinstance(error, dict) else {}
    place = "your file" if grade_id == "<submission>" else f"the cell {grade_id}"
    message = str(error.get("message", ""))
    return (f"{place} raised {error.get('type', 'an error')}{_describe_where(error.get('where'))}"
            + (f": {message}" if message else "") + ".")


def _describe_where(where) -> str:
    """' at line 4 of your conv2d_single cell: `return out.T`' from the worker's frames."""
    if not isinstance(where, list) or not where:
        return ""
    last = where[-1] if isinstance(where[-1], dict) else {}
    cell, line, code = last.get("cell"), last.get("line"), str(last.get("code") or "")[:160]
    if cell is None:
        return ""
    place = "your file" if cell == "<submission>" else f"your {cell} cell"
    return f" (line {line} of {place}: `{code}`)" if code else f" (line {line} of {place})"
