"""The instructor notebook: well-formed for nbgrader, and runs top to bottom with a real kernel."""
from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.assignments.cnn_week1.contract import GRADED_NAMES, IMPORT_CELL_ID, PARTS
from conftest import kernel_environment
from autograder.engine.notebook import grade_id

NOTEBOOK = Path(__file__).resolve().parents[1] / "source" / "cnn_week1" / "cnn_week1.ipynb"
FIGURE_CELLS = ("demo_edges", "demo_output_size", "demo_pytorch_conv", "demo_pooling", "plot_training",
                "demo_filters", "demo_filter_outputs", "demo_feature_maps")


def is_quick_switch(cell) -> bool:
    """The one plain, editable code cell: the student's quick_run switch (not graded, not locked)."""
    return cell.cell_type == "code" and "nbgrader" not in cell.metadata


def stream_text(cell) -> str:
    return "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")


@pytest.fixture(scope="module")
def committed():
    return nbformat.read(NOTEBOOK, as_version=4)


@pytest.fixture(scope="module")
def executed_folder(mnist_dir, tmp_path_factory):
    """(folder, notebook) after a QUICK run (1 short epoch) in a python3 kernel, in a copy of its folder
    (the run saves the trained model beside the notebook; the source folder stays as committed)."""
    folder = tmp_path_factory.mktemp("source") / NOTEBOOK.parent.name
    shutil.copytree(NOTEBOOK.parent, folder, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    notebook = nbformat.read(folder / NOTEBOOK.name, as_version=4)
    with kernel_environment(mnist_dir):
        client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(folder)}})
        client.execute()
    return folder, notebook


@pytest.fixture(scope="module")
def executed(executed_folder):
    return executed_folder[1]


# --- the committed file ----------------------------------------------------------------------

def test_committed_without_outputs_and_with_python3_kernel(committed):
    assert committed.metadata.kernelspec.name == "python3"
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, grade_id(cell)


def test_first_code_cell_is_the_locked_import_cell(committed):
    first = next(cell for cell in committed.cells if cell.cell_type == "code")
    assert first.metadata["nbgrader"] == {"grade": False, "solution": False, "locked": True,
                                          "grade_id": IMPORT_CELL_ID, "schema_version": 3}
    imported = set()
    for node in ast.parse(first.source).body:
        assert isinstance(node, (ast.Import, ast.ImportFrom)), ast.dump(node)
        imported |= {alias.name for alias in node.names} | {getattr(node, "module", None)} - {None}
    assert imported == {"math", "numpy", "torch", "torch.nn", "torch.nn.functional"}


def test_every_contract_name_has_its_own_solution_cell(committed):
    solution_cells = {grade_id(cell): cell for cell in committed.cells
                      if cell.metadata.get("nbgrader", {}).get("solution")}
    assert sorted(solution_cells) == sorted(GRADED_NAMES)
    for name, cell in solution_cells.items():
        assert cell.metadata["nbgrader"] == {"grade": False, "solution": True, "locked": False,
                                             "grade_id": name, "schema_version": 3}
        defined = [node.name for node in ast.parse(cell.source).body
                   if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
        assert [d for d in defined if not d.startswith("_")] == [name]
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source


def test_other_code_cells_are_locked_with_unique_ids(committed):
    switches = [cell for cell in committed.cells if is_quick_switch(cell)]
    assert len(switches) == 1 and switches[0].source.splitlines()[-1] == "quick_run = QUICK"
    ids = [grade_id(cell) for cell in committed.cells if cell.cell_type == "code" and not is_quick_switch(cell)]
    assert None not in ids and len(ids) == len(set(ids))
    for cell in committed.cells:
        if cell.cell_type == "code" and not is_quick_switch(cell) and grade_id(cell) not in GRADED_NAMES:
            assert cell.metadata["nbgrader"]["locked"] is True, grade_id(cell)


# --- the executed notebook -------------------------------------------------------------------

def test_runs_without_errors(executed):
    errors = [(grade_id(cell), output.ename, output.evalue) for cell in executed.cells
              if cell.cell_type == "code" for output in cell.outputs if output.output_type == "error"]
    assert errors == []


def test_figures_are_rendered(executed):
    with_png = {grade_id(cell) for cell in executed.cells if cell.cell_type == "code"
                for output in cell.outputs if "image/png" in output.get("data", {})}
    assert set(FIGURE_CELLS) <= with_png, set(FIGURE_CELLS) - with_png


def test_every_public_check_passes(executed):
    checked = []
    for part, names in PARTS.items():
        cell = next(cell for cell in executed.cells if grade_id(cell) == f"check_{part}")
        lines = stream_text(cell).splitlines()
        assert lines[:-1] == [f"✅ {name}: passed" for name in names], (part, lines)
        assert "does not promise full marks" in lines[-1], (part, lines)
        checked += names
    assert sorted(checked) == sorted(GRADED_NAMES)


def test_quick_training_ran_and_reported_accuracy(executed):
    cell = next(cell for cell in executed.cells if grade_id(cell) == "train_mnist")
    text = stream_text(cell)
    assert "QUICK run: 1 epoch(s), 6,000 training and 2,000 test images" in text
    assert "epoch 1/1:" in text and "test accuracy" in text
    assert "⏳" not in text


def test_parameter_counts_are_printed(executed):
    text = stream_text(next(cell for cell in executed.cells if grade_id(cell) == "demo_why_conv"))
    for figure in ("156", "2,416", "48,120", "10,164", "850", "61,706", "3,692,640"):
        assert figure in text


def test_contents_lists_every_section(committed):
    markdown = [cell.source for cell in committed.cells if cell.cell_type == "markdown"]
    headings = [line[3:] for text in markdown for line in text.splitlines() if re.match(r"## \d+\. ", line)]
    contents = markdown[0].split("**Contents**", 1)[1]
    listed = [line for line in contents.splitlines() if re.match(r"\d+\. ", line)]
    assert listed == headings and len(headings) == 13
    assert any(line == "## Summary" for text in markdown for line in text.splitlines()) and "Summary" in contents


def test_edges_text_names_the_values_the_demo_draws():
    import torch
    import torch.nn.functional as F

    squares = torch.zeros(8, 8)
    squares[:4, :4] = squares[4:, 4:] = 1.0
    filters = {"plain": torch.tensor([[1.0, 0, -1]] * 3),
               "sobel": torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])}
    values = {name: sorted({abs(int(v)) for v in F.conv2d(squares[None, None], k[None, None]).flatten()} - {0})
              for name, k in filters.items()}
    assert values == {"plain": [1, 3], "sobel": [2, 4]}
    text = next(cell.source for cell in nbformat.read(NOTEBOOK, as_version=4).cells
                if cell.cell_type == "markdown" and cell.source.startswith("### Edges found by your convolution"))
    text = " ".join(text.split())
    assert "±3" in text and "±1" in text and "read ±4 and ±2" in text


def test_training_saves_the_model_beside_the_notebook_and_grading_never_reads_it(executed_folder):
    folder, notebook = executed_folder
    training = stream_text(next(cell for cell in notebook.cells if grade_id(cell) == "train_mnist"))
    assert "\repoch 1/1 [" in training  # the progress bar, updated in place
    assert (folder / "cnn_week1_model.pth").is_file()
    repo = NOTEBOOK.parents[2]
    for path in list((repo / "autograder").rglob("*.py")) + [repo / "grading.toml"]:
        assert "cnn_week1_model" not in path.read_text(encoding="utf-8"), path
