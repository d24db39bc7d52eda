"""Grader-side data for tiny_stats' graders (trusted process only; never sent to the worker).

The ``student``, ``grading_config`` and ``attach`` fixtures come from autograder/engine/plugin.py.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

SERIES = Path(__file__).resolve().parents[1] / "series.csv"  # what the smoothing task reads


@pytest.fixture(scope="session")
def series() -> list[float]:
    """The daily temperatures of series.csv, as the worker task reads them."""
    with open(SERIES, newline="", encoding="utf-8") as handle:
        return [float(row["temperature"]) for row in csv.DictReader(handle)]
