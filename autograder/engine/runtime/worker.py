"""The sandboxed worker: runs student code on request and sends back plain data.

It never decides a grade, and nothing it reports is taken as a verdict: only
return values go back. The grader sends requests on one pipe and reads
replies on another (stdout and stderr are only captured text), so nothing a
student prints can pose as a reply. Each worker is forked fresh from the warm
fork-server (``zygote.py``) and confined (``confine.py``) before its first
request. Requests:

- ``exec_cell``  {grade_id, source}: run one extracted cell in the submission namespace;
- ``call``       {name, args, kwargs}: call a submission function;
- ``task``       {task, payload}: run a routine of ``tasks.TASKS`` (models, training);
- ``ping``.

Replies: {id, ok, value | error, output, seconds}.
"""
from __future__ import annotations

import io
import linecache
import sys
import time
import traceback
from types import SimpleNamespace

import wire  # the runtime folder is on sys.path (zygote.py puts it there)

CELL_PREFIX = "<cell "


class OutputFlood(Exception):
    """The student's code printed more than the flood limit during one request."""


class CappedWriter(io.TextIOBase):
    """Keeps the first ``keep`` characters of what is printed; too much raises OutputFlood."""

    def __init__(self, keep: int, flood: int):
        self.keep, self.flood, self.total, self.parts = keep, flood, 0, []

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        self.total += len(text)
        kept = sum(len(part) for part in self.parts)
        if kept < self.keep:
            self.parts.append(text[: self.keep - kept])
        if self.total > self.flood:
            raise OutputFlood(f"printed more than {self.flood // 1_000_000} MB of output")
        return len(text)

    def text(self) -> str:
        captured = "".join(self.parts)
        return captured + ("\n… (output cut)" if self.total > len(captured) else "")


class Worker:
    def __init__(self, options: SimpleNamespace, tasks):
        self.options = options
        self.namespace = {"__name__": "submission", "__builtins__": __builtins__}
        self.tasks = tasks  # imported by the fork-server before any worker existed

    def handle(self, request: dict) -> dict:
        op = request.get("op")
        if op == "ping":  # also how the grader learns the worker's peak memory
            import resource

            return {"ok": True, "value": {"peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}
        if op == "exec_cell":
            return self._run(lambda: self._exec_cell(request["grade_id"], request["source"]))
        if op == "call":
            return self._call(request)
        if op == "task":
            task = getattr(self.tasks, "TASKS", {}).get(request.get("task"))
            if task is None:
                return {"ok": False, "error": {"kind": "grader", "type": "KeyError",
                                               "message": f"unknown task {request.get('task')!r}", "where": []}}
            return self._run(lambda: task(self.namespace, request.get("payload") or {}, self.options))
        return {"ok": False, "error": {"kind": "grader", "type": "ValueError", "message": f"unknown op {op!r}", "where": []}}

    def _exec_cell(self, grade_id: str, source: str) -> dict:
        """Run one cell; report the names it defined even when it raised after defining them."""
        filename = f"{CELL_PREFIX}{grade_id}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        before = {name: id(value) for name, value in self.namespace.items()}
        error = None
        try:
            exec(compile(source, filename, "exec"), self.namespace)
        except BaseException as raised:  # sys.exit() in a cell ends the cell, not the kernel: names so far stay
            error = describe(raised)
        defined = sorted(name for name, value in self.namespace.items()
                         if before.get(name) != id(value) and not name.startswith("__"))
        return {"defined": defined, "error": error}

    def _call(self, request: dict) -> dict:
        name = request.get("name")
        function = self.namespace.get(name)
        if function is None:
            return {"ok": False, "error": {"kind": "missing", "type": "NameError",
                                           "message": f"{name} is not defined", "where": []}}
        args, kwargs = request.get("args", []), request.get("kwargs", {})
        return self._run(lambda: function(*args, **kwargs))

    def _run(self, action) -> dict:
        """Run student code with output captured; any exception becomes a described error."""
        writer = CappedWriter(self.options.max_output, self.options.flood_output)
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = writer
        started = time.perf_counter()
        try:
            reply = {"ok": True, "value": action()}
        except BaseException as error:  # SystemExit and KeyboardInterrupt are student errors too
            reply = {"ok": False, "error": describe(error)}
        finally:
            sys.stdout, sys.stderr = saved
        reply["seconds"] = time.perf_counter() - started
        reply["output"] = writer.text()
        return reply


def describe(error: BaseException) -> dict:
    """The exception as the student should read it: type, message, and where in their cells."""
    kind = {NotImplementedError: "not_implemented", OutputFlood: "output_flood"}.get(type(error), "exception")
    if isinstance(error, SyntaxError) and (error.filename or "").startswith(CELL_PREFIX):
        where = [{"cell": error.filename[len(CELL_PREFIX):-1], "line": error.lineno or 0,
                  "code": (error.text or "").strip()}]
        return {"kind": "syntax", "type": type(error).__name__, "message": _safe_str(error.msg), "where": where}
    where = []
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith(CELL_PREFIX):
            where.append({"cell": frame.filename[len(CELL_PREFIX):-1], "line": frame.lineno or 0,
                          "code": (frame.line or "").strip()})
    return {"kind": kind, "type": type(error).__name__, "message": _safe_str(error), "where": where[-3:]}


def _safe_str(error) -> str:
    try:
        text = str(error)
    except BaseException:
        text = "<the exception could not be shown>"
    return text if len(text) <= 500 else text[:500] + "…"


def serve(fd_in: int, fd_out: int, options: SimpleNamespace, tasks) -> None:
    """Answer requests until the grader closes the pipe. Replies carry the request's id in
    their frame header, so the grader can refuse a frame it did not ask for unread."""
    worker = Worker(options, tasks)
    wire.write_frame(fd_out, wire.encode({"ok": True, "value": {"ready": True}}), 0)
    while True:
        received = wire.read_frame(fd_in)
        if received is None:
            return
        request_id, frame = received
        request = wire.decode(frame)
        reply = worker.handle(request)
        try:
            payload = wire.encode(reply)
        except BaseException as error:  # an unsendable value is the student's error, not a crash
            payload = wire.encode({"ok": False, "seconds": reply.get("seconds", 0.0),
                                   "output": reply.get("output", ""), "error": describe(error)})
        if len(payload) > wire.MAX_FRAME_BYTES:
            payload = wire.encode({"ok": False, "seconds": reply.get("seconds", 0.0), "output": "",
                                   "error": {"kind": "exception", "type": "ValueError", "where": [],
                                             "message": "the value sent back is far too large"}})
        wire.write_frame(fd_out, payload, request_id)
