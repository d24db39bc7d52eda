"""Extraction: which code of a submission is run, and what the student is told about the rest."""
import json

import pytest

from autograder.assignments.cnn_week1.contract import GRADED_NAMES, IMPORT_CELL_ID
from autograder.engine.extract import is_file_unit, release_import_cell, strip_solution_markers
from autograder.engine.config import KIT_ROOT
from autograder.engine.notebook import cell_source, cells_by_grade_id, code_cells, grade_id
from week1 import WEEK1, extract_week1 as extract


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


def test_solution_markers_are_stripped_but_solution_kept():
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert strip_solution_markers(source) == "def f():\n    return 1\n"


# ----- IPython syntax: rewritten where a kernel would, run as a kernel would ---------------------

def _run_cell(tmp_path, source):
    """Extract ``source`` as the same_padding cell of a notebook, then run it; returns (namespace, problems)."""
    submission = extract(_notebook(tmp_path, [_cell(source, "same_padding")]))
    cell = next(c for c in submission.cells if c.grade_id == "same_padding")
    assert cell.source.count("\n") == source.count("\n"), "line numbers must not move"
    namespace = {}
    exec(compile(cell.source, "<cell>", "exec"), namespace)
    return namespace, [p for p in submission.problems if "same_padding," in p]


SAME_PADDING = "def same_padding(f):\n    return (f - 1) // 2\n"


@pytest.mark.parametrize("magic", ["%%time", "%%capture", "%%capture captured", "%%timeit", "%%timeit -n 3 -r 1",
                                   "%%prun", "%%prun -s cumulative", "\n  %%time"])
def test_cell_magics_that_run_python_keep_their_body(tmp_path, magic):
    namespace, problems = _run_cell(tmp_path, f"{magic}\n{SAME_PADDING}")
    assert namespace["same_padding"](5) == 2 and problems == []


def test_timeit_setup_on_the_magic_line_runs_before_the_body(tmp_path):
    namespace, _ = _run_cell(tmp_path, "%%timeit -n 10 base = 40\nanswer = base + 2\n")
    assert namespace["answer"] == 42


@pytest.mark.parametrize("magic", ["%%bash", "%%sh", "%%writefile helper.py", "%%html", "%%script python3",
                                   "%%javascript", "%%python3", "%%nonsense"])
def test_cell_magics_that_are_not_python_are_dropped_and_reported(tmp_path, magic):
    namespace, problems = _run_cell(tmp_path, f"{magic}\n{SAME_PADDING}echo done\n")
    assert "same_padding" not in namespace
    assert len(problems) == 1 and magic.split()[0] in problems[0] and "not run" in problems[0]


def test_not_equal_at_the_start_of_a_continuation_line_is_python(tmp_path):
    source = ("def same_padding(f):\n    odd = (f % 2\n           != 0)\n    also = [f\n        != 4]\n"
              "    total = f \\\n        % 7\n    return (f - 1) // 2 if odd and also[0] and total else -1\n")
    namespace, _ = _run_cell(tmp_path, source)
    assert namespace["same_padding"](5) == 2 and namespace["same_padding"](4) == -1


def test_line_magics_shell_escapes_and_help_at_a_logical_line_start(tmp_path):
    source = ("%matplotlib inline\n%time timed = 6 * 7\nvalue = %time 1 + 1\nfiles = !ls /\nsilent = %who\n"
              "!rm -rf /tmp/should-not-happen\nlen?\nif True:\n    !echo indented\n    inner = 1\n"
              "text = '''\n!not a command\n%not a magic\n'''\n/print 1 2\n!echo a \\\n  continued\nafter = 3\n"
              + SAME_PADDING)
    namespace, problems = _run_cell(tmp_path, source)
    assert namespace["timed"] == 42 and namespace["value"] == 2 and namespace["files"] == []
    assert namespace["silent"] is None and namespace["inner"] == 1 and namespace["after"] == 3
    assert namespace["text"] == "\n!not a command\n%not a magic\n"
    assert namespace["same_padding"](3) == 1 and problems == []


# ----- file names, and files that must not crash the reader --------------------------------------

@pytest.mark.parametrize("name, kind", [("sub.PY", "python"), ("sub.Py", "python"), ("sub.IPYNB", "notebook"),
                                        ("sub.Ipynb", "notebook")])
def test_suffix_case_does_not_matter(tmp_path, name, kind):
    if kind == "python":
        (tmp_path / name).write_text(SAME_PADDING)
        path = tmp_path / name
    else:
        path = _notebook(tmp_path, [_cell(SAME_PADDING, "same_padding")], name=name)
    submission = extract(path)
    assert submission.kind == kind and "same_padding" in submission.cell_ids


def _write(tmp_path, text, name="sub.ipynb"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@pytest.mark.parametrize("text, words", [
    ("[" * 100_000 + "]" * 100_000, "nests its data too deeply"),
    ('{"cells": [], "metadata": {"n": ' + "7" * 5000 + "}}", "could not be read"),
    ('{"cells": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001, "nests its data too deeply"),
])
def test_notebooks_that_crash_a_json_reader_are_unreadable(tmp_path, text, words):
    submission = extract(_write(tmp_path, text))
    assert submission.kind == "unreadable" and words in submission.problems[0]


def test_cells_of_the_wrong_shape_are_skipped_and_explained(tmp_path):
    cells = [1, "text", None, [], {"cell_type": ["code"]},
             _cell({"not": "a string"}, "vertical_edge_filter"), _cell(42, "horizontal_edge_filter"),
             _cell(["def sobel_filter(direction='horizontal'):\n", 7, None, "    return 1\n"], "sobel_filter"),
             {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": ["same_padding"]}}, "source": "x"},
             {"cell_type": "code", "metadata": [], "source": "x"}]
    submission = extract(_notebook(tmp_path, cells))
    assert submission.kind == "notebook"
    assert [c.source for c in submission.cells if c.grade_id == "vertical_edge_filter"] == [""]
    assert [c.source for c in submission.cells if c.grade_id == "sobel_filter"] == [
        "def sobel_filter(direction='horizontal'):\n    return 1\n"]
    assert any("same_padding" in p and "missing" in p for p in submission.problems)



def test_the_one_cell_reader_finds_the_first_cell_of_each_grade_id_and_never_raises():
    markdown = _cell("# intro", "intro", cell_type="markdown")
    first, second = _cell(["a = 1\n", 2, "b = 2\n"], "same_padding"), _cell("c = 3", "same_padding")
    notebook = {"cells": [1, None, markdown, first, second, _cell("plain"), {"metadata": {"nbgrader": []}}]}
    assert cells_by_grade_id(notebook) == {"same_padding": first}
    assert cells_by_grade_id(notebook, code_only=False) == {"intro": markdown, "same_padding": first}
    assert cell_source(first) == "a = 1\nb = 2\n" and cell_source({"source": None}) == "" and cell_source(7) == ""
    assert grade_id(second) == "same_padding" and grade_id(_cell("x")) is None and grade_id("cell") is None
    assert code_cells({"cells": "not a list"}) == [] and code_cells(None) == []

def test_a_300_mb_file_is_refused_unread(tmp_path):
    path = tmp_path / "big.ipynb"
    with path.open("wb") as stream:  # sparse: takes no disk space
        stream.truncate(300 * 2**20)
    submission = extract(path)
    assert submission.kind == "unreadable" and "300 MiB" in submission.problems[0]


def test_lone_surrogates_are_replaced_not_passed_on(tmp_path):
    notebook = ('{"cells": [{"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "same_padding"}}, '
                '"source": "def same_padding(f):\\n    return \'\\ud800\'\\n"}, '
                '{"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "x\\udfff"}}, "source": "\\udfff"}], '
                '"metadata": {"name": "\\ud800"}}')
    submission = extract(_write(tmp_path, notebook))
    source = next(c.source for c in submission.cells if c.grade_id == "same_padding")
    namespace = {}
    exec(compile(source, "<cell>", "exec"), namespace)
    assert namespace["same_padding"](3) == "\ufffd"
    for text in [c.source for c in submission.cells] + submission.problems:
        text.encode("utf-8")  # strict: raises if a surrogate got through


def test_a_fifo_is_not_read(tmp_path):
    import os
    os.mkfifo(tmp_path / "pipe.ipynb")
    submission = extract(tmp_path / "pipe.ipynb")  # would block forever if opened
    assert submission.kind == "unreadable" and "not a regular file" in submission.problems[0]


# ----- the locked import cell is the release's, as nbgrader restores it --------------------------

def test_release_has_an_import_cell():
    assert "import torch" in release_import_cell(WEEK1.release_notebook(), WEEK1.import_cell)


def test_an_edited_import_cell_is_graded_as_released_and_reported(tmp_path):
    hostile = "import os\nos.system('curl evil')\nimport torch\n"
    submission = extract(_notebook(tmp_path, [_cell(hostile, IMPORT_CELL_ID)]))
    assert submission.cells[0].grade_id == IMPORT_CELL_ID
    assert submission.cells[0].source == release_import_cell(WEEK1.release_notebook(), WEEK1.import_cell) and "os.system" not in submission.cells[0].source
    assert any("import cell was changed" in p for p in submission.problems)


def test_whitespace_changes_to_the_import_cell_are_not_a_problem(tmp_path):
    spaced = "\n\n" + "\n\n".join("  ".join(line.split()) for line in release_import_cell(WEEK1.release_notebook(), WEEK1.import_cell).splitlines()) + "\n  "
    submission = extract(_notebook(tmp_path, [_cell(spaced, IMPORT_CELL_ID)]))
    assert submission.cells[0].source == release_import_cell(WEEK1.release_notebook(), WEEK1.import_cell)
    assert not any("import cell" in p for p in submission.problems)


def test_a_deleted_import_cell_is_restored_and_the_source_notebook_keeps_its_own(tmp_path):
    submission = extract(_notebook(tmp_path, [_cell(SAME_PADDING, "same_padding")]))
    assert submission.cells[0].source == release_import_cell(WEEK1.release_notebook(), WEEK1.import_cell)
    assert any("import cell was missing" in p for p in submission.problems)
    own = extract(_notebook(tmp_path, [_cell("import math\n", IMPORT_CELL_ID)]), locked_imports=False)
    assert own.cells[0].source == "import math\n"


# ----- a .py is split into its contract definitions and the code between them -------------------

PY_FILE = '''import torch

def _keep(thing):
    return thing

def same_padding(f):
    return -1  # redefined below: this one is plain top-level code

@_keep
@_keep
def conv_output_size(n, f, padding=0, stride=1):
    return (n + 2 * padding - f) // stride + 1
print("between")
class SimpleCNN(torch.nn.Module):
    pass

def same_padding(f):
    raise ValueError("the last definition counts")
'''


def test_python_file_is_split_into_units_in_file_order(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text(PY_FILE)
    submission = extract(path)
    assert submission.kind == "python" and submission.text == PY_FILE
    assert submission.cell_ids == ["<submission>:1", "conv_output_size", "<submission>:13", "SimpleCNN", "same_padding"]
    lines = PY_FILE.split("\n")
    for cell in submission.cells:  # each unit sits at its own lines of the file, blank elsewhere
        unit = cell.source.split("\n")
        kept = [i for i, line in enumerate(unit) if line]
        assert all(unit[i] == lines[i] for i in kept) and kept
    assert submission.cells[1].source.lstrip("\n").startswith("@_keep\n@_keep\ndef conv_output_size")
    assert submission.source_of("same_padding") == PY_FILE  # static checks see the helpers too


def test_python_unit_tracebacks_point_at_the_files_lines(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text(PY_FILE)
    cell = next(c for c in extract(path).cells if c.grade_id == "same_padding")
    namespace = {}
    exec(compile(cell.source, "<file>", "exec"), namespace)
    with pytest.raises(ValueError) as raised:
        namespace["same_padding"](3)
    assert raised.traceback[-1].lineno + 1 == 18  # pytest's line numbers count from 0


def test_unparseable_python_file_stays_one_unit(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text("def same_padding(f):\n    return (\n")
    submission = extract(path)
    assert submission.cell_ids == ["<submission>"] and submission.cells[0].source == "def same_padding(f):\n    return (\n"


def test_file_unit_ids():
    assert is_file_unit("<submission>") and is_file_unit("<submission>:12")
    assert not is_file_unit("same_padding") and not is_file_unit(IMPORT_CELL_ID)
