"""Grader-side data for the hidden graders (trusted process only; never sent to the worker).

The ``student``, ``grading_config`` and ``attach`` fixtures come from autograder/plugin.py.
"""
from __future__ import annotations

import importlib.util

import pytest
import torch

from autograder.config import KIT_ROOT
from autograder.data_cache import mnist_module

SOLUTION_FILE = KIT_ROOT / "solutions" / "cnn_week1.py"


@pytest.fixture(scope="session")
def mnist_test(grading_config) -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 MNIST test images (normalised, (N, 1, 28, 28)) and labels, loaded on first use."""
    return mnist_module().load_tensors("test", grading_config.mnist_directory())


@pytest.fixture(scope="session")
def reference_solution():
    """The instructor's solution module (for graders that want it as an extra oracle)."""
    spec = importlib.util.spec_from_file_location("cnn_week1_reference_solution", SOLUTION_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
