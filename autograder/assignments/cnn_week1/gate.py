"""The accuracy gate's slow half, begun before the first test so that it overlaps them.

The gate trains a model for seconds; every other test together takes about as
long. ``begin`` (called by the graders' conftest when the gate is selected)
draws the gate's secret start, starts the grader's replay of the contract loop
(``replay.py``) and has the student's ``train_one_epoch`` train in a worker of
its own (``WorkerSession.in_background``); ``test_accuracy_gate`` collects both.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...engine.config import GradingConfig
from ...engine.session import BackgroundWork, WorkerSession
from . import replay
from .data import training_arrays


@dataclass
class StartedGate:
    run: replay.GateRun  # the drawn start and batch order (its pool index goes into provenance)
    expected: replay.Replay  # the grader's replay: weights the student's must equal
    training: BackgroundWork  # the worker's train_budget report, for ``result()``


def begin(student: WorkerSession, config: GradingConfig) -> StartedGate:
    budget, threads = config.training, config.sandbox.threads()
    run = replay.draw(budget)
    expected = replay.Replay(budget, run, training_arrays(config), threads)  # a thread while the worker trains
    training = student.in_background(lambda session: session.task(
        "train_budget", run.payload(budget, threads), timeout=budget.time_limit, needs=("train_one_epoch",)))
    return StartedGate(run, expected, training)
