"""The two ways a grader test fails, each carrying words meant for the student.

``StudentFailure``: the student's code raised, hung, crashed, printed too much,
called a forbidden routine or is missing (raised by the worker session).
``GradingFailure``: the code ran but its result is wrong (raised by the
graders' checks). ``summary`` is always shown; ``details`` (values, positions)
only where grading.toml lets a test show details. A GradingFailure's ``diagnosis`` names the
classic mistake that exactly explains the wrong result ("conv2d_single: flipped kernel"), or is
None: tests failed by the same diagnosis are charged once (results.apply_same_mistake).
"""
from __future__ import annotations


class GradingFailure(AssertionError):
    def __init__(self, summary: str, details: str | None = None, diagnosis: str | None = None):
        super().__init__(summary)
        self.summary, self.details, self.diagnosis = summary, details, diagnosis
        self.context: list[str] = []


class StudentFailure(Exception):
    """Kinds: missing, syntax, not_implemented, exception, timeout, crashed, output_flood,
    forbidden, bad_reply, tampering, budget (the submission's time budget ran out), restarts
    (too many crashes or hangs)."""

    def __init__(self, kind: str, summary: str, details: str | None = None, output: str = "",
                 error_type: str | None = None):
        super().__init__(summary)
        self.kind, self.summary, self.details, self.output = kind, summary, details, output
        self.error_type = error_type  # the exception's class name, e.g. "ValueError", if it raised
        self.context: list[str] = []


def add_context(error: GradingFailure | StudentFailure, what: str) -> None:
    """Prefix what the test was doing ("conv2d_single on a 7×9 image…") to the message."""
    error.context.insert(0, what)


class HostFault(RuntimeError):
    """The grader or the host failed (data missing, a worker that cannot start, a grader bug):
    never a student's score; the grade stops and the instructor is told."""
