"""The grader's handle on one submission: fresh sandboxed workers, values in, values out.

Workers come from the job's warm fork-server (``sandbox.ForkServer``). A worker
loads only the units a request needs (``dependencies.py``). A manual function
(``watch=Watch.MANUAL`` or ``Watch.MANUAL_NO_PAD``) runs in a worker of its own whose
forbidden library routines are disabled before any student code loads, after
its cells passed the static rule check (``rules.py``): the verdict on *how* a
value was computed never comes from the worker. A hidden test gets a fresh
worker that is discarded with it, so its inputs never reach a worker whose
output is shown later. Every way student code can go wrong (an exception, a
hang, a crash, a flood of output, a reply nobody asked for) becomes a
``StudentFailure`` for the one test that met it; a whole-submission time
budget and a restart cap bound the rest. A worker that cannot start is a
``HostFault``: the host's problem, never the student's score. A long task (the
accuracy gate's training) can run ``in_background`` on workers of its own while
the other tests run, and is charged to the submission when its test collects it.
"""
from __future__ import annotations

import dataclasses
import queue
import signal
import threading
import time
from collections import deque
from enum import Enum
from typing import Callable

from .config import GradingConfig
from .dependencies import unit_names, units_for
from .extract import WHOLE_FILE_ID, Submission, is_file_unit
from .failures import HostFault, StudentFailure
from .rules import manual_rule_violations, own_attributes
from .runtime import wire
from .textsafe import clip
from .sandbox import ForkServer, Protections, WorkerHandle



class Watch(str, Enum):
    """How a grader has a student function called: ``MANUAL`` in a worker of its own where the
    assignment's forbidden routines are disabled, ``MANUAL_NO_PAD`` with padding routines too."""

    MANUAL = "manual"
    MANUAL_NO_PAD = "manual_no_pad"


class _Connection:
    """One live worker with the threads that read its replies and its stray output."""

    def __init__(self, worker: WorkerHandle, flood_bytes: int, restrict: "Watch | None"):
        self.worker, self.restrict = worker, restrict
        self.loaded: set[str] = set()  # units loaded into this worker
        self.replies: queue.Queue = queue.Queue()
        self.expected_id: int | None = 0  # the ready frame has id 0
        self.stray = deque(maxlen=200)  # last lines printed outside any request's capture
        self.stray_bytes = 0
        self.flooded = False
        self.tampered = ""
        self._flood_bytes = flood_bytes
        self._closing, self._closed = threading.Lock(), False
        self._threads = [threading.Thread(target=self._read_replies, daemon=True),
                         threading.Thread(target=self._drain_output, daemon=True)]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        """Kill the worker, let the readers see the end, then close the pipes (never under a reader:
        a closed fd number can be reused at once by another file). Once only, whichever thread asks."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
        self.worker.kill()
        for thread in self._threads:
            thread.join(timeout=5)
        if not any(thread.is_alive() for thread in self._threads):
            self.worker.close_pipes()

    def _read_replies(self) -> None:
        """Frames are checked by header before their payload is read: size cap, and the id asked for."""
        fd = self.worker.from_worker
        try:
            while True:
                header = wire.read_header(fd)
                if header is None:
                    break
                size, request_id = header
                if request_id != self.expected_id:
                    self.tampered = (f"it sent a reply nobody asked for (id {request_id}): "
                                     "a second reply, or one written by the submission itself")
                    break  # the waiting request sees the end below; the grader's thread kills the worker
                self.expected_id = None  # one answer per request: another frame now is tampering
                self.replies.put(wire.read_payload(fd, size))
        except (OSError, wire.WireError) as error:
            self.replies.put(error)
        self.replies.put(None)  # end of stream

    def _drain_output(self) -> None:
        import os

        while True:
            try:
                chunk = os.read(self.worker.output, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.stray_bytes += len(chunk)
            self.stray.append(chunk[-2000:].decode("utf-8", "replace"))
            if self.stray_bytes > self._flood_bytes and not self.flooded:
                self.flooded = True
                self.replies.put(None)  # wakes the waiting request, whose thread kills the worker
                return

    def exit_reason(self) -> str:
        """Why the worker ended, in words a student understands."""
        if self.tampered:
            return self.tampered
        if self.flooded:
            return "it printed far too much output and was stopped"
        code = self.worker.exit_code(wait=2.0)
        if code is None:
            return "it stopped answering"
        if code > 128:  # the fork-server reports a signal as 128 + its number
            number = code - 128
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
            hint = " (usually: too much memory)" if number == 9 else ""
            return f"it was killed by signal {name}{hint}"
        if code == 0:
            return "the code exited the process (sys.exit or os._exit)"
        return f"the process exited with status {code} (sys.exit, os._exit or a crash)"


class WorkerSession:
    def __init__(self, submission: Submission, config: GradingConfig, server: ForkServer):
        self.submission = submission
        self.config = config
        self.limits = config.sandbox
        self.server = server
        self.cell_errors: dict[str, str] = {}  # grade_id -> why the unit did not load
        self.broken_units: set[str] = set()  # hung or crashed while loading: never loaded again
        self.defined: set[str] = set()  # names the loaded units defined
        self.restarts = 0
        self.workers_started = 0
        self.student_seconds = 0.0  # time spent waiting for student code, against the budget
        self.worker_peak_rss_mb: float | None = None
        self._connection: _Connection | None = None
        self._fresh_per_request = False  # inside a hidden test
        self._last_id = 0  # request ids: unique over the session, so a stale reply is never taken
        self.test_output: list[str] = []  # what the calls of the current test that returned printed
        self._background: list[BackgroundWork] = []
        self._read_once: dict = {}  # what the syntax trees of the submission's units tell (they never change)
        self._cancelled = False  # set on a background session when its parent closes first
        self._units = [(cell.grade_id, cell.source) for cell in submission.cells]
        self._sources = dict(self._units)
        if submission.kind == "python":  # its manual functions load their units; everything else the file
            self._sources[WHOLE_FILE_ID] = submission.text

    @property
    def protections(self) -> Protections:
        return self.server.protections

    @property
    def startup_seconds(self) -> float | None:
        return self.server.startup_seconds

    # ----- life cycle ------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the fork-server now (it imports torch) so that it warms up while the grader does too."""
        self.server.start()

    def begin_test(self, hidden: bool) -> None:
        """A hidden test starts from a fresh worker, and leaves none behind for the tests after it."""
        self.test_output = []  # what the student's code printed in the calls of this test that returned
        if hidden or self._fresh_per_request:
            self._discard()
        self._fresh_per_request = hidden

    def end_test(self) -> None:
        if self._fresh_per_request:
            self._discard()

    def close(self) -> None:
        for work in self._background:  # one no test collected (it failed first, or was deselected)
            work.cancel()
        self._background = []
        if self._connection is not None and self._connection.restrict is None:
            try:  # the worker's peak memory, for the benchmarks; a dead worker just has none
                stats = self._request({"op": "ping"}, 5.0, "the final check")["value"]
                self.worker_peak_rss_mb = max(self.worker_peak_rss_mb or 0.0, float(stats["peak_rss_kb"]) / 1024)
            except (StudentFailure, KeyError, TypeError, ValueError):
                pass
        self._discard()

    # ----- what the graders use --------------------------------------------------------------

    def call(self, name: str, *args, watch: str | None = None, timeout: float | None = None, **kwargs):
        """Call the student's ``name`` in a worker and return the decoded result."""
        restrict = Watch(watch) if watch else None
        self._prepare({name}, restrict)
        reply = self._request({"op": "call", "name": name, "args": list(args), "kwargs": kwargs},
                              timeout or self.limits.call_timeout, f"`{name}`")
        return reply.get("value")

    def task(self, task: str, payload: dict, timeout: float | None = None, needs: tuple[str, ...] = ()):
        """Run a worker routine (model checks, training) that calls the student's ``needs``."""
        self._prepare(set(needs), None)
        what = f"`{needs[0]}`" if needs else f"the {task} check"
        reply = self._request({"op": "task", "task": task, "payload": payload},
                              timeout or self.limits.call_timeout, what)
        return reply.get("value")

    def in_background(self, work: "Callable[[WorkerSession], object]") -> "BackgroundWork":
        """Start ``work(session)`` now, in a thread, on a session of its own (fresh workers of its own,
        the time budget left), so that a long task overlaps the tests before the one that needs it;
        that test calls ``result()``."""
        child = WorkerSession(self.submission, self.config, self.server)
        left = max(self.limits.time_budget - self.student_seconds, 0.0)
        child.limits = dataclasses.replace(self.limits, time_budget=left)
        work_item = BackgroundWork(self, child, work)
        self._background.append(work_item)
        return work_item

    def cell_source(self, name: str) -> str | None:
        """The code that defines ``name``: its notebook cell, or the whole .py file."""
        return self.submission.source_of(name)

    # ----- loading ---------------------------------------------------------------------------

    def _prepare(self, names: set[str], restrict: "Watch | None") -> None:
        """A worker of the right kind with every unit ``names`` need loaded, or a StudentFailure."""
        if not self.submission.cells:
            raise StudentFailure("missing", self._missing_reason(next(iter(names), "the code")))
        if self.submission.kind == "python" and not restrict:  # a .py runs as a whole, module-level code too
            wanted = [grade_id for grade_id in (WHOLE_FILE_ID,) if grade_id not in self.broken_units]
        else:
            wanted = [grade_id for grade_id in self._needed_units(names) if grade_id not in self.broken_units]
        if restrict:
            self._check_rules(names, wanted, restrict)
        connection = self._connection
        if connection is not None and (connection.restrict != restrict
                                       or (restrict and not set(wanted) <= connection.loaded)):
            self._discard()
        connection = self._ensure_worker(restrict)
        for grade_id in wanted:
            if grade_id not in connection.loaded:
                self._load(connection, grade_id)
                connection = self._ensure_worker(restrict)
        for name in names:
            if name not in self.defined:
                raise StudentFailure("missing", self._missing_reason(name))

    def _needed_units(self, names: set[str]) -> list[str]:
        """``units_for``, read once per set of names: the sources never change within a session, and
        reading every cell's syntax tree again for each of a test's hundred calls was most of the
        grader's own time."""
        key = frozenset(names)
        if key not in self._read_once:
            self._read_once[key] = units_for(names, self._units, self.config.definition.import_cell)
        return self._read_once[key]

    def _check_rules(self, names: set[str], wanted: list[str], restrict: "Watch") -> None:
        """The no-library-routine rule, read in every unit the manual function's worker loads
        (once per names, units and watch: the verdict cannot change within a session)."""
        key = (frozenset(names), tuple(wanted), restrict)
        if key not in self._read_once:
            self._read_once[key] = self._rule_breach(names, wanted, restrict)
        if self._read_once[key]:
            raise StudentFailure("forbidden", self._read_once[key])

    def _rule_breach(self, names: set[str], wanted: list[str], restrict: "Watch") -> str | None:
        target = ", ".join(f"`{name}`" for name in sorted(names))
        sources = {grade_id: self._sources[grade_id] for grade_id in wanted}
        used = set().union(*(unit_names(source).needs for source in sources.values()))
        own = {grade_id: own_attributes(source) for grade_id, source in sources.items()}
        for grade_id, source in sources.items():
            if grade_id == self.config.definition.import_cell:
                continue  # the instructor's locked cell, restored from the release
            known = set().union(*(attributes for other, attributes in own.items() if other != grade_id))
            problems = manual_rule_violations(source, self.config.definition.forbidden,
                                              no_pad=restrict is Watch.MANUAL_NO_PAD, known=known, used=used)
            if problems:
                return (f"{target} cannot be graded: {_place(grade_id)} breaks the rule of this part: "
                        f"{'; '.join(problems)}")
        return None

    def _load(self, connection: _Connection, grade_id: str) -> None:
        source = self._sources[grade_id]
        try:
            reply = self._request({"op": "exec_cell", "grade_id": grade_id, "source": source},
                                  self.limits.load_timeout, f"the cell {grade_id}")
        except StudentFailure as failure:  # the cell hung or killed the worker: never again
            if failure.kind in ("budget", "restarts"):
                raise
            self.broken_units.add(grade_id)
            self.cell_errors[grade_id] = failure.summary
            return
        value = reply.get("value")
        if not isinstance(value, dict) or not isinstance(value.get("defined"), list):
            raise StudentFailure("bad_reply", f"the cell {grade_id} sent back a malformed reply.")
        connection.loaded.add(grade_id)
        self.defined.update(str(name) for name in value["defined"])
        if value.get("error") is not None and grade_id not in self.cell_errors:
            self.cell_errors[grade_id] = _cell_error_text(grade_id, value["error"])

    def _missing_reason(self, name: str) -> str:
        for grade_id in [name, *(key for key in self.cell_errors if is_file_unit(key))]:
            if grade_id in self.cell_errors:
                return f"`{name}` could not be graded: {self.cell_errors[grade_id]}"
        for problem in self.submission.problems:
            if getattr(problem, "name", None) == name or self.submission.kind == "unreadable":
                return f"`{name}` could not be graded: {problem}"
        return f"`{name}` is not defined in the submission."

    # ----- plumbing --------------------------------------------------------------------------

    def _ensure_worker(self, restrict: "Watch | None") -> _Connection:
        if self._connection is not None:
            return self._connection
        self._stop_if_cancelled()
        if self.restarts > self.limits.max_restarts:
            raise StudentFailure("restarts", f"Not run: the code crashed or hung {self.restarts} times, more "
                                             "than a submission may; the remaining tests were not run.")
        worker = self.server.spawn(restrict)
        connection = _Connection(worker, self.limits.flood_output_mb * 1_000_000, restrict)
        try:
            frame = connection.replies.get(timeout=30)
        except queue.Empty:
            frame = None
        if not isinstance(frame, bytes):  # no student code ran yet: this is the host's fault
            connection.close()
            output = "".join(connection.stray)[-1500:]
            raise HostFault(f"A sandboxed worker did not start. Its output:\n{output}")
        self.workers_started += 1
        self._connection = connection
        self._stop_if_cancelled()  # cancelled while it started: it must not outlive the grade
        return connection

    def _stop_if_cancelled(self) -> None:
        """A background session whose parent closed: its worker goes, and its work ends here."""
        if self._cancelled:
            self._discard()
            raise StudentFailure("budget", "Not run: grading of this submission was stopped.")

    def _request(self, message: dict, timeout: float, what: str) -> dict:
        left = self.limits.time_budget - self.student_seconds
        if left <= 0:
            raise StudentFailure("budget", f"Not run: the submission used up its time budget of "
                                           f"{self.limits.time_budget:g} s before this test.")
        connection = self._ensure_worker(None if self._connection is None else self._connection.restrict)
        self._last_id += 1
        request_id = self._last_id
        connection.expected_id = request_id
        try:
            wire.write_frame(connection.worker.to_worker, wire.encode(message), request_id)
        except OSError:
            pass  # the worker died; the reply wait below reports why
        started = time.monotonic()
        try:
            frame = connection.replies.get(timeout=max(min(timeout, left), 0.001))
        except queue.Empty:
            frame = TimeoutError()
        finally:
            self.student_seconds += time.monotonic() - started
        if isinstance(frame, TimeoutError):
            self._discard(crashed=True)
            if left < timeout:
                raise StudentFailure("budget", f"{what} was stopped: the submission used up its time budget "
                                               f"of {self.limits.time_budget:g} s.")
            raise StudentFailure("timeout", f"{what} did not finish within {timeout:g} s "
                                            "(an endless loop, or far too slow) and was stopped.")
        if frame is None or isinstance(frame, Exception):
            reason = connection.exit_reason() if frame is None else f"it sent a broken reply ({frame})"
            kind = "tampering" if connection.tampered else "output_flood" if connection.flooded else "crashed"
            self._discard(crashed=True)
            raise StudentFailure(kind, f"The process running your code stopped during {what}: {reason}.")
        try:
            reply = wire.decode(frame)
        except wire.WireError as error:
            self._discard(crashed=True)
            raise StudentFailure("bad_reply", f"{what} sent back something unreadable ({error}).")
        if not isinstance(reply, dict):
            self._discard(crashed=True)
            raise StudentFailure("bad_reply", f"{what} sent back a malformed reply.")
        try:
            checked = _check_reply(reply, what)
        except StudentFailure as failure:
            if failure.kind == "output_flood":  # a thread may still be printing: start afresh
                self._discard(crashed=True)
            raise
        if checked.get("output"):  # shown with the test's feedback if the test fails on a returned value
            self.test_output.append(clip(str(checked["output"])))
        return checked

    def _discard(self, crashed: bool = False) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
            self.restarts += 1 if crashed else 0


class BackgroundWork:
    """Work on a session of its own, in a thread; ``result()`` charges it to the parent session."""

    def __init__(self, parent: WorkerSession, session: WorkerSession, work: "Callable[[WorkerSession], object]"):
        self._parent, self._session = parent, session
        self._value, self._error, self._charged = None, None, False
        self._thread = threading.Thread(target=self._run, args=(work,), name="background-work", daemon=True)
        self._thread.start()

    def _run(self, work) -> None:
        try:
            self._value = work(self._session)
        except BaseException as error:  # raised again, in the test that asks for the result
            self._error = error
        finally:
            self._session.close()

    def result(self):
        """``work``'s value, or its failure raised here; its time, restarts, load errors and printed
        output now count for the parent session (and the test that asked)."""
        self._thread.join()
        self._charge()
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> None:
        """Stop the work (its worker is killed) and wait for the thread; nothing is charged."""
        if self._charged:
            return
        self._session._cancelled = True
        self._session._discard()
        self._thread.join(timeout=10)

    def _charge(self) -> None:
        if self._charged:
            return
        self._charged = True
        parent, child = self._parent, self._session
        parent.student_seconds += child.student_seconds
        parent.restarts += child.restarts
        parent.workers_started += child.workers_started
        parent.defined.update(child.defined)
        parent.broken_units.update(child.broken_units)
        for grade_id, error in child.cell_errors.items():
            parent.cell_errors.setdefault(grade_id, error)
        parent.test_output.extend(child.test_output)
        if child.worker_peak_rss_mb is not None:
            parent.worker_peak_rss_mb = max(parent.worker_peak_rss_mb or 0.0, child.worker_peak_rss_mb)


def _check_reply(reply: dict, what: str) -> dict:
    output = clip(str(reply.get("output") or ""))
    if reply.get("ok") is True:
        return reply
    error = reply.get("error")
    if not isinstance(error, dict):
        raise StudentFailure("bad_reply", f"{what} sent back a malformed reply.", output=output)
    kind = str(error.get("kind", "exception"))
    error_type, message = clip(str(error.get("type", "Exception")), 100), clip(str(error.get("message", "")), 500)
    location = _describe_where(error.get("where"))
    if error_type == "ForbiddenRoutine":
        kind, summary = "forbidden", f"{what} called a library routine this part forbids: {message}"
    elif kind == "not_implemented":
        summary = f"{what} is not implemented yet (it still raises NotImplementedError)."
    elif kind == "syntax":
        summary = f"{what} has a syntax error{location}: {message}."
    elif kind == "output_flood":
        summary = f"{what} {message} and was stopped."
    else:
        kind = "exception"
        summary = f"{what} raised {error_type}: {message}{location}." if message else f"{what} raised {error_type}{location}."
    raise StudentFailure(kind, summary, output=output, error_type=error_type)


def _cell_error_text(grade_id: str, error) -> str:
    """Why a cell failed while loading, from the worker's error description."""
    error = error if isinstance(error, dict) else {}
    message = clip(str(error.get("message", "")), 500)
    return (f"{_place(grade_id)} raised {clip(str(error.get('type', 'an error')), 100)}{_describe_where(error.get('where'))}"
            + (f": {message}" if message else "") + ".")


def _describe_where(where) -> str:
    """' at line 4 of your conv2d_single cell: `return out.T`' from the worker's frames."""
    if not isinstance(where, list) or not where:
        return ""
    last = where[-1] if isinstance(where[-1], dict) else {}
    cell, line, code = last.get("cell"), last.get("line"), clip(str(last.get("code") or ""), 160)
    if cell is None:
        return ""
    place = "your file" if is_file_unit(str(cell)) else f"your {clip(str(cell), 40)} cell"
    return f" (line {line} of {place}: `{code}`)" if code else f" (line {line} of {place})"


def _place(grade_id: str) -> str:
    return "your file" if is_file_unit(grade_id) else f"the cell {grade_id}"
