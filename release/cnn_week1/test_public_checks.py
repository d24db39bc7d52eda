"""The public checks as pytest tests: run `pytest test_public_checks.py` in this folder.

It reads your answers from cnn_week1.ipynb (save the notebook first!) the way the grader does: each
answer cell (found by its nbgrader grade_id) runs on its own, after the import cell only. One test per
function; a failure prints the same words as the check cell in the notebook.
"""
from __future__ import annotations

import json
import traceback
from pathlib import Path

import pytest

import public_checks

NOTEBOOK = Path(__file__).resolve().parent / "cnn_week1.ipynb"


def _cells_by_grade_id(path: Path) -> dict[str, str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    sources: dict[str, str] = {}
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("cell_type") == "code" and grade_id and grade_id not in sources:
            source = cell.get("source", "")
            sources[grade_id] = "".join(source) if isinstance(source, list) else source
    return sources


def load_answers(path: Path = NOTEBOOK) -> tuple[dict, dict]:
    """({name: your object}, {name: why it could not be loaded}) for every contract name."""
    sources = _cells_by_grade_id(path)
    imports: dict = {"__name__": "answers"}
    exec(compile(sources.get("imports", ""), "import cell", "exec"), imports)
    answers, problems = {}, {}
    for name in public_checks.ALL_NAMES:
        if name not in sources:
            problems[name] = f"no cell with grade_id {name!r} in {path.name} (copy it back from a fresh release)"
            continue
        namespace = dict(imports)  # like the grader: this cell and the import cell, nothing else
        try:
            exec(compile(sources[name], f"<cell {name}>", "exec"), namespace)
        except Exception as error:  # a broken cell costs only its own test
            where = traceback.extract_tb(error.__traceback__)[-1]
            problems[name] = f"its cell raised {type(error).__name__}: {error} (line {where.lineno})"
            continue
        if name in namespace:
            answers[name] = namespace[name]
        else:
            problems[name] = f"its cell does not define {name} (keep the given name)"
    return answers, problems


ANSWERS, PROBLEMS = load_answers()


@pytest.mark.parametrize("name", public_checks.ALL_NAMES)
def test_public_check(name):
    if name in PROBLEMS:
        pytest.fail(f"❌ {name}: {PROBLEMS[name]}", pytrace=False)
    try:
        public_checks.check(name, ANSWERS[name])
    except NotImplementedError:
        pytest.fail(f"⏳ {name}: not implemented yet", pytrace=False)
    except public_checks.CheckFailed as failure:
        pytest.fail(f"❌ {name}: {failure}", pytrace=False)
