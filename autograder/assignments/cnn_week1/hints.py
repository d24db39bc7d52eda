"""The classic mistakes' hints, shared with the students' check cells: source/cnn_week1/hints.py.

The graders load the one file the notebook's public checks use (shipped to students beside
public_checks.py), so a mistake gets the same diagnosis and the same words in a check cell, in public
pytest and in the feedback. Loaded by path, as data.py loads mnist_data.py; the sandboxed worker never
needs it (the graders compute the mistakes' results on the host, from the values the worker returned).
"""
from __future__ import annotations

from .student_files import student_module


def shared_hints():
    """source/cnn_week1/hints.py as a module (loaded once)."""
    return student_module("hints.py")


def grader_hints(function: str, mistakes) -> list:
    """hints' (key, words, result) triples as expect_tensor's (words, result, diagnosis) hints."""
    module = shared_hints()
    return [(text, result, module.diagnosis(function, key)) for key, text, result in mistakes]
