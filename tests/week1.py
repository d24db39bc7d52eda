"""The week-1 assignment as the tests hand it to the engine (the engine itself never imports it)."""
from __future__ import annotations

from pathlib import Path

from autograder.assignments.cnn_week1.assignment import ASSIGNMENT as WEEK1
from autograder.classwork.layout import Course
from autograder.engine.extract import Submission, extract


def extract_week1(path: str | Path, locked_imports: bool = True) -> Submission:
    return extract(path, WEEK1, locked_imports=locked_imports)


def week1_course(root: str | Path) -> Course:
    return Course.of(Path(root), WEEK1)
