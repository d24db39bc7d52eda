"""WorkerSession.in_background: a long task (the accuracy gate's training) on workers of its own,
overlapping the calls after it, and charged to the submission when its test collects it."""
from __future__ import annotations

import dataclasses
import time

import pytest

from autograder.engine.failures import StudentFailure

CODE = """
import os, time

def slow(seconds, then="return"):
    started = time.time()
    print("slow started")
    time.sleep(seconds)
    if then == "raise":
        raise ValueError("the slow one failed")
    if then == "exit":
        os._exit(3)
    return [started, time.time()]

def quick():
    return time.time()
"""


def test_background_work_overlaps_the_calls_made_after_it(bwrap, run):
    with run(CODE) as session:
        work = session.in_background(lambda child: child.call("slow", 2.0, timeout=10))
        time.sleep(0.5)  # the background worker has started sleeping
        now = session.call("quick")
        started, ended = work.result()
        assert started < now < ended  # the quick call ran while the slow one slept, in another worker
        assert session.workers_started == 2
        assert 2.0 <= session.student_seconds < 9.0  # the background call's time is charged on collection
        assert any("slow started" in text for text in session.test_output)


@pytest.mark.parametrize("then, kind, restarts", [("raise", "exception", 0), ("exit", "crashed", 1)])
def test_a_failure_in_the_background_is_raised_by_the_test_that_collects_it(bwrap, run, then, kind, restarts):
    with run(CODE) as session:
        work = session.in_background(lambda child: child.call("slow", 0.2, then, timeout=10))
        assert session.call("quick") > 0  # the session itself is unaffected meanwhile
        with pytest.raises(StudentFailure) as failure:
            work.result()
        assert failure.value.kind == kind
        assert session.restarts == restarts
        assert session.call("quick") > 0


def test_background_work_gets_only_the_time_budget_left(bwrap, run, sandbox_config):
    config = dataclasses.replace(sandbox_config, sandbox=dataclasses.replace(sandbox_config.sandbox, time_budget=1.5))
    with run(CODE, config=config) as session:
        work = session.in_background(lambda child: child.call("slow", 5.0, timeout=10))
        with pytest.raises(StudentFailure) as failure:
            work.result()
        assert failure.value.kind == "budget"
        assert session.student_seconds >= 1.5
        with pytest.raises(StudentFailure) as after:  # the budget is spent for the session too
            session.call("quick")
        assert after.value.kind == "budget"


def test_background_work_nobody_collects_is_stopped_when_the_session_closes(bwrap, run):
    with run(CODE) as session:
        work = session.in_background(lambda child: child.call("slow", 60.0, timeout=90))
        time.sleep(0.5)
        started = time.monotonic()
        session.close()
        assert time.monotonic() - started < 8
        assert not work._thread.is_alive()
        assert session.student_seconds < 5  # nothing charged for work no test asked for


@pytest.mark.parametrize("select, begun", [("same_padding", 0), ("accuracy_gate", 1)])
def test_the_gate_is_begun_before_the_first_test_only_when_it_is_selected(tmp_path, sandbox_config, fork_server,
                                                                          monkeypatch, select, begun):
    from pathlib import Path

    from autograder.assignments.cnn_week1 import gate
    from autograder.engine.grade import grade

    calls = []
    original = gate.begin
    monkeypatch.setattr(gate, "begin", lambda *args: calls.append(time.monotonic()) or original(*args))
    config = sandbox_config.with_section("training", train_samples=640, min_accuracy=1.0)
    result = grade(Path(__file__).resolve().parents[1] / "solutions" / "cnn_week1.py", tmp_path / "out", config,
                   select=select, server=fork_server)
    assert len(calls) == begun
    graded = [test for test in result.tests if test.selected]
    assert graded and all(test.passed for test in graded)
