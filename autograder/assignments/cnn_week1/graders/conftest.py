"""Grader-side data for the hidden graders (trusted process only; never sent to the worker).

The ``student``, ``grading_config`` and ``attach`` fixtures come from autograder/plugin.py.
"""
from __future__ import annotations

import pytest
import torch

from autograder.assignments.cnn_week1.data import mnist_module
from autograder.assignments.cnn_week1.settings import mnist_directory


@pytest.fixture(scope="session")
def mnist_test(grading_config) -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 MNIST test images (normalised, (N, 1, 28, 28)) and labels, loaded on first use."""
    return mnist_module().load_tensors("test", mnist_directory(grading_config))
