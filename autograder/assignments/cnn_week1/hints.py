"""The classic mistakes' hints, shared with the students' check cells: source/cnn_week1/hints.py.

The graders load the one file the notebook's public checks use (shipped to students beside
public_checks.py), so a mistake gets the same diagnosis and the same words in a check cell, in public
pytest and in the feedback. Loaded by path, as data.py loads mnist_data.py; the sandboxed worker never
needs it (the graders compute the mistakes' results on the host, from the values the worker returned).
"""
from __future__ import annotations

import importlib.util
from functools import cache

from ...engine.config import KIT_ROOT

HINTS_MODULE = KIT_ROOT / "source" / "cnn_week1" / "hints.py"


@cache
def shared_hints():
    """source/cnn_week1/hints.py as a module (loaded once)."""
    spec = importlib.util.spec_from_file_location("cnn_week1_hints", HINTS_MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def grader_hints(function: str, mistakes) -> list:
    """hints' (key, words, result) triples as expect_tensor's (words, result, diagnosis) hints."""
    module = shared_hints()
    return [(text, result, module.diagnosis(function, key)) for key, text, result in mistakes]
