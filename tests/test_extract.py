"""Extraction: which code of a submission is run, and what the student is told about the rest."""
import json

import pytest

from autograder.contract import GRADED_NAMES, IMPORT_CELL_ID
from autograder.extract import extract, neutralise_magics, strip_solution_markers


def _cell(source, grade_id=None, cell_type="code"):
    metadata = {"nbgrader": {"grade_id": grade_id, "solution": True}} if grade_id else {}
    return {"cell_type": cell_type, "metadata": metadata, "source": source, "outputs": [], "execution_count": None}


def _notebook(tmp_path, cells, name="sub.ipynb"):
    path = tmp_path / name
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_keeps_only_import_and_solution_cells_in_contract_order(tmp_path):
    cells = [_cell("import torch\n", IMPORT_CELL_ID), _cell("print('ungraded')\n"),
             _cell(["def same_padding(f):\n", "    return 1\n"], "same_padding"),
             _cell("def vertical_edge_filter():\n    pass\n", "vertical_edge_filter"),
             _cell("x = 1", "some_demo_cell")]
    submission = extract(_notebook(tmp_path, cells))
    assert submission.kind == "notebook"
    assert submission.cell_ids == [IMPORT_CELL_ID, "vertical_edge_filter", "same_padding"]
    assert submission.cells[2].source == "def same_padding(f):\n    return 1\n"
    missing = [p for p in submission.problems if "is missing" in p]
    assert len(missing) == len(GRADED_NAMES) - 2
    assert any("conv2d_single" in p for p in missing)


def test_python_file_is_one_cell(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text("def f():\n    return 1\n")
    submission = extract(path)
    assert submission.kind == "python" and len(submission.cells) == 1
    assert submission.cells[0].source == "def f():\n    return 1\n"


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not text"),
    (b'{"cells": [ {"cell_type": "code", ', "not valid JSON"),
    (b'{"hello": 1}', "not a Jupyter notebook"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
])
def test_unreadable_submissions_are_explained(tmp_path, content, words):
    path = tmp_path / "sub.ipynb"
    path.write_bytes(content)
    submission = extract(path)
    assert submission.kind == "unreadable" and submission.cells == []
    assert words in submission.problems[0]


def test_missing_file_is_explained(tmp_path):
    submission = extract(tmp_path / "nope.ipynb")
    assert submission.kind == "unreadable" and "could not be read" in submission.problems[0]


def test_duplicate_grade_id_keeps_first_and_says_so(tmp_path):
    cells = [_cell("def same_padding(f):\n    return 1\n", "same_padding"),
             _cell("def same_padding(f):\n    return 2\n", "same_padding")]
    submission = extract(_notebook(tmp_path, cells))
    assert [c.source for c in submission.cells if c.grade_id == "same_padding"] == ["def same_padding(f):\n    return 1\n"]
    assert any("two cells" in p for p in submission.problems)


def test_magics_and_shell_escapes_are_neutralised():
    source = "%matplotlib inline\nimport os\nfiles = !ls /\nif True:\n    !rm -rf /tmp/x\nok = 1 != 2\n"
    cleaned = neutralise_magics(source)
    compile(cleaned, "<cell>", "exec")  # still valid Python
    assert "!ls" in cleaned and "pass  # (magic removed" in cleaned
    assert "ok = 1 != 2" in cleaned and "import os" in cleaned
    namespace = {}
    exec(cleaned, namespace)
    assert "files" not in namespace and namespace["ok"] is True
    assert neutralise_magics("%%bash\nrm -rf /\n").splitlines()[1].startswith("#")


def test_solution_markers_are_stripped_but_solution_kept():
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert strip_solution_markers(source) == "def f():\n    return 1\n"
