"""Modules shipped to students beside the notebook (source/cnn_week1/), loaded by the grader by path.

The grader uses the very files students get (the MNIST loader, the hint library), so a student and
the grader read MNIST the same way and name a mistake with the same words.
"""
from __future__ import annotations

import importlib.util
from functools import cache

from ...engine.config import KIT_ROOT

SOURCE = KIT_ROOT / "source" / "cnn_week1"


@cache
def student_module(file_name: str):
    """``source/cnn_week1/<file_name>`` as a module, loaded once."""
    spec = importlib.util.spec_from_file_location(f"cnn_week1_{file_name.removesuffix('.py')}", SOURCE / file_name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
