"""Run All with classic mistakes: the student release, with wrong answers pasted into its answer cells.

A wrong answer must never stop Run All in a read-only demo or plot cell before the part's check cell:
the demo prints two lines (which function, what went wrong, "run the check cell below") and the run
goes on, so that every check cell runs and says what is wrong, on the student's own line.

Each notebook runs in one real kernel with Jupyter's strict Run All semantics: any error in a locked
cell stops the run and fails the test. The only error Jupyter itself raises in a *student's* cell (a
syntax error there) is the student's own cell, which nothing can guard; the run records it and goes on
with the next cell, as a student does after "Run All Below". Mistakes are grouped three notebooks to a
test run (they touch different functions), with quick-mode training, to keep the cost down. The mistakes
are defined in tests/classic_mistakes.py (bench/mistakes.py grades the same ones).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder.assignments.cnn_week1.contract import ASSIGNMENT, GRADED_NAMES, PARTS
from autograder.engine.extract import SOLUTION_MARKERS
from conftest import kernel_environment
from autograder.engine.notebook import grade_id
from classic_mistakes import MISTAKES, apply_mistakes

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "release" / ASSIGNMENT
SOURCE_NOTEBOOK = REPO / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

NOTEBOOKS = {  # mistakes in different functions, one kernel per notebook
    "wrong values": ("flipped kernel", "missing +1 in the output size", "pooling without stride",
                     "no zero_grad", "evaluate without eval or no_grad"),
    "wrong shapes": ("one-sided padding", "wrong fc1 in_features", "a stub left"),
    "raising": ("a raising conv2d_single", "a syntax error in one cell", "a ReLU module the model does not have"),
}


def is_answer_cell(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def stream_lines(cell) -> list[str]:
    return "".join(output.get("text", "") for output in cell.outputs
                   if output.output_type == "stream").splitlines()


def run_all(notebook, folder: Path, mnist_dir: Path) -> list[str]:
    """Jupyter's Run All in one kernel: an error in a locked cell stops it (and fails the test); an
    error in an answer cell is recorded and the run goes on below it. Returns the answer cells that raised."""
    raised = []
    with kernel_environment(mnist_dir):
        client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=False,
                                resources={"metadata": {"path": str(folder)}})
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as error:
                    if not is_answer_cell(cell):
                        pytest.fail(f"Run All stopped at the read-only cell {grade_id(cell) or index}:\n{error}")
                    raised.append(grade_id(cell))
    return raised


@pytest.fixture(scope="module", params=list(NOTEBOOKS))
def mistaken(request, tmp_path_factory, mnist_dir):
    """(mistakes, executed notebook, answer cells that raised, its folder) for one group of mistakes."""
    mistakes = NOTEBOOKS[request.param]
    folder = tmp_path_factory.mktemp("mistakes") / ASSIGNMENT
    shutil.copytree(RELEASE, folder)
    notebook = nbformat.read(folder / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = {grade_id(cell): "\n".join(line for line in cell.source.splitlines()
                                         if not SOLUTION_MARKERS.match(line))
               for cell in nbformat.read(SOURCE_NOTEBOOK, as_version=4).cells if grade_id(cell) in GRADED_NAMES}
    apply_mistakes(notebook, mistakes, answers)
    raised = run_all(notebook, folder, mnist_dir)
    return mistakes, notebook, raised, folder


def test_run_all_reaches_every_check_cell(mistaken):
    mistakes, notebook, raised, _ = mistaken
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)  # every cell ran, to the last one
    for part, names in PARTS.items():
        check = next(cell for cell in code if grade_id(cell) == f"check_{part}")
        lines = [line for line in stream_lines(check) if line.startswith(("✅", "❌", "⏳"))]
        assert [line.split()[1].rstrip(":") for line in lines] == list(names), (part, stream_lines(check))
    expected_raising = {MISTAKES[name][0] for name in mistakes if name == "a syntax error in one cell"}
    assert set(raised) == expected_raising


def test_no_locked_cell_shows_a_traceback(mistaken):
    _, notebook, _, _ = mistaken
    for cell in notebook.cells:
        if cell.cell_type == "code" and not is_answer_cell(cell):
            assert not any(output.output_type == "error" for output in cell.outputs), grade_id(cell)
            assert "Traceback" not in "\n".join(stream_lines(cell)), grade_id(cell)


def test_each_mistake_is_named_in_its_check_cell(mistaken):
    mistakes, notebook, _, _ = mistaken
    verdicts = {}
    for cell in notebook.cells:
        if (grade_id(cell) or "").startswith("check_"):
            for line in stream_lines(cell):
                if line.startswith(("✅", "❌", "⏳")):
                    verdicts[line.split()[1].rstrip(":")] = line
    for name in mistakes:
        function = MISTAKES[name][0]
        want = "⏳" if name == "a stub left" else "❌"
        assert verdicts[function].startswith(want), (name, verdicts[function])
    for function, line in verdicts.items():
        if function not in {MISTAKES[name][0] for name in mistakes}:
            assert line.startswith("✅"), line  # one mistake does not fail other functions' checks
        assert "_LessonCNN" not in line and "__getattr__" not in line and "site-packages" not in line, line


def test_a_raising_function_is_shown_at_the_students_line(mistaken):
    mistakes, notebook, _, _ = mistaken
    cells = {grade_id(cell): cell for cell in notebook.cells}
    stopped = [grade_id(cell) for cell in notebook.cells if cell.cell_type == "code"
               and "   This demo stopped there — run the check cell below to see what is wrong." in stream_lines(cell)]
    if "a raising conv2d_single" not in mistakes:
        # nothing raised in this notebook but (maybe) SimpleCNN, whose demo and training cells say so
        assert set(stopped) <= {"demo_simple_cnn", "train_mnist"}, stopped
        return
    check = next(line for line in stream_lines(cells["check_manual_conv"]) if line.startswith("❌ conv2d_single"))
    where = "(line 6 of your `conv2d_single`: `out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum()`)"
    assert check.startswith("❌ conv2d_single: raised RuntimeError:") and check.endswith(where), check
    # the demo before the check cell: two lines, then the run went on
    demo = stream_lines(cells["demo_edges"])
    assert len(demo) == 2 and demo[0].startswith("❌ conv2d_single raised RuntimeError:") and demo[0].endswith(where)
    assert demo[1] == "   This demo stopped there — run the check cell below to see what is wrong."
    assert "demo_edges" in stopped and "demo_output_size" in stopped  # its padding demo uses conv2d_single too
    relu = next(line for line in stream_lines(cells["check_feature_maps"]) if line.startswith("❌ feature_maps"))
    assert "'SimpleCNN' object has no attribute 'relu'" in relu
    assert "(line 3 of your `feature_maps`: `conv1 = model.relu(model.conv1(image))`)" in relu
    hint = stream_lines(cells["check_feature_maps"])[1]
    assert hint.startswith("   Hint: the model has only the submodules conv1, pool1, conv2")
    assert stream_lines(cells["check_pooling"])[1].startswith("❌ avg_pool2d: not defined")


def test_a_wrong_layer_size_stops_only_the_demo(mistaken):
    mistakes, notebook, _, folder = mistaken
    cells = {grade_id(cell): cell for cell in notebook.cells}
    if "wrong fc1 in_features" not in mistakes:
        # training worked: the progress bar was drawn and the weights were saved next to the notebook
        training = "".join(output.get("text", "") for output in cells["train_mnist"].outputs
                           if output.output_type == "stream")
        assert "\repoch 1/1 [" in training and "batches" in training
        assert (folder / "cnn_week1_model.pth").is_file()
        return
    demo = stream_lines(cells["demo_simple_cnn"])
    errors = [line for line in demo if line.startswith("❌")]
    assert len(errors) == 1 and errors[0].startswith("❌ SimpleCNN raised RuntimeError: mat1 and mat2 shapes")
    assert errors[0].endswith("(1x400 and 256x120)"), errors[0]  # the demo's own lambda is not "your" line
    assert demo[demo.index(errors[0]) + 1] == "   This demo stopped there — run the check cell below to see what is wrong."
    assert len(demo) <= 12  # the layer shapes printed so far, then two lines: no PyTorch traceback
    training = stream_lines(cells["train_mnist"])
    assert any(line.startswith("❌ SimpleCNN raised RuntimeError") for line in training), training
    assert not (folder / "cnn_week1_model.pth").exists()
    for later in ("plot_training", "demo_filters", "demo_filter_outputs", "demo_feature_maps"):
        assert stream_lines(cells[later])[0].startswith("⏳ no trained model yet") or \
            stream_lines(cells[later])[0].startswith("⏳ no training history yet"), later
