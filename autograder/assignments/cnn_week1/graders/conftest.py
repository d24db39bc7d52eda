"""Grader-side data for the hidden graders (trusted process only; never sent to the worker).

The ``student``, ``grading_config`` and ``attach`` fixtures come from autograder/plugin.py.
"""
from __future__ import annotations

import pytest
import torch

from autograder.assignments.cnn_week1 import gate
from autograder.assignments.cnn_week1.data import mnist_module
from autograder.assignments.cnn_week1.settings import mnist_directory

GATE_TEST = "test_accuracy_gate"


@pytest.fixture(scope="session")
def mnist_test(grading_config) -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 MNIST test images (normalised, (N, 1, 28, 28)) and labels, loaded on first use."""
    return mnist_module().load_tensors("test", mnist_directory(grading_config))


@pytest.fixture(scope="session", autouse=True)
def started_gate(request, student, grading_config) -> "gate.StartedGate | None":
    """The accuracy gate's training, begun before the first test in a worker of its own so that it
    overlaps the other tests (test_accuracy_gate collects it); None when the gate is not selected."""
    if not any(getattr(item, "originalname", item.name) == GATE_TEST for item in request.session.items):
        return None
    return gate.begin(student, grading_config)
