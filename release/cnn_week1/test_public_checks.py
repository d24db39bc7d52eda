"""The public checks as pytest tests: run `pytest test_public_checks.py` in this folder.

It reads your functions from cnn_week1.ipynb (save the notebook first!), exactly as the grader
does: the import cell, then each of your answer cells on its own.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import public_checks

NOTEBOOK = Path(__file__).resolve().parent / "cnn_week1.ipynb"


def _load_answers() -> dict:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    by_id = {}
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and grade_id not in by_id:
            by_id[grade_id] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    namespace: dict = {"__name__": "answers"}
    exec(compile(by_id.get("imports", ""), "import cell", "exec"), namespace)
    for name in public_checks.ALL_NAMES:
        if name in by_id:
            try:
                exec(compile(by_id[name], f"cell {name}", "exec"), namespace)
            except Exception:  # a broken cell costs only its own test (it then reports the name missing)
                pass
    return namespace


ANSWERS = _load_answers()


@pytest.mark.parametrize("name", public_checks.ALL_NAMES)
def test_public_check(name):
    if name not in ANSWERS:
        pytest.fail(f"{name} is not defined: its cell is missing or raised an error when run")
    try:
        public_checks.check(name, ANSWERS[name])
    except NotImplementedError:
        pytest.fail(f"{name} is not implemented yet")
