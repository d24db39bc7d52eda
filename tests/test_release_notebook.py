"""The student release notebook, run with a real kernel: as handed out, and with the answers filled in.

(a) Untouched, every cell runs: the answer cells only define stubs, and every demo and check cell that
    needs an unfinished function prints a friendly ⏳ line instead of raising.
(b) With the reference solutions pasted into the answer cells, every public check prints ✅ (and says
    that the hidden graders test more), and every demo draws its figures.

Both runs use quick mode (CNN_WEEK1_QUICK=1: one short training epoch), in a copy of release/cnn_week1.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from autograder.assignments.cnn_week1.contract import ASSIGNMENT, GRADED_NAMES, PARTS
from autograder.engine.extract import SOLUTION_MARKERS
from conftest import kernel_environment
from autograder.engine.notebook import code_cells, grade_id

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "release" / ASSIGNMENT
SOURCE_NOTEBOOK = REPO / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
FIGURE_CELLS = ("demo_edges", "demo_output_size", "demo_pytorch_conv", "demo_pooling", "plot_training",
                "demo_filters", "demo_filter_outputs", "demo_feature_maps")
TRAILER = "Public checks passed — the hidden graders test more cases"
MISTAKES = {  # appended to the solved notebook: a flipped kernel, and windows summed instead of averaged
    "mistake_flipped_kernel": "right_conv2d_single = conv2d_single\n"
                              "conv2d_single = lambda image, kernel, stride=1, padding=0: "
                              "right_conv2d_single(image, kernel.flip(0, 1), stride, padding)\n"
                              'run_checks("manual_conv", globals())',
    "mistake_summed_windows": "right_avg_pool2d = avg_pool2d\n"
                              "avg_pool2d = lambda x, size=2, stride=2: right_avg_pool2d(x, size, stride) * size * size\n"
                              'run_checks("pooling", globals())',
}


def stream_lines(cell) -> list[str]:
    return "".join(output.get("text", "") for output in cell.outputs
                   if output.output_type == "stream").splitlines()


def execute_in_copy(notebook, folder: Path, mnist_dir: Path):
    """Run ``notebook`` top to bottom in a python3 kernel whose cwd is ``folder``; a raising cell fails the run."""
    with kernel_environment(mnist_dir):
        client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=False,
                                resources={"metadata": {"path": str(folder)}})
        client.execute()
    return notebook


def released_copy(tmp_path_factory, label: str) -> tuple[Path, nbformat.NotebookNode]:
    folder = tmp_path_factory.mktemp(label) / ASSIGNMENT
    shutil.copytree(RELEASE, folder)
    return folder, nbformat.read(folder / f"{ASSIGNMENT}.ipynb", as_version=4)


@pytest.fixture(scope="module")
def untouched(tmp_path_factory, mnist_dir):
    folder, notebook = released_copy(tmp_path_factory, "untouched")
    return execute_in_copy(notebook, folder, mnist_dir)


@pytest.fixture(scope="module")
def solved(solved_folder):
    return solved_folder[1]


@pytest.fixture(scope="module")
def solved_folder(tmp_path_factory, mnist_dir):
    folder, notebook = released_copy(tmp_path_factory, "solved")
    solutions = {grade_id(cell): cell.source for cell in nbformat.read(SOURCE_NOTEBOOK, as_version=4).cells
                 if grade_id(cell) in GRADED_NAMES}
    pasted = 0
    for cell in notebook.cells:
        if grade_id(cell) in GRADED_NAMES:
            cell.source = "\n".join(line for line in solutions[grade_id(cell)].splitlines()
                                    if not SOLUTION_MARKERS.match(line))
            pasted += 1
    assert pasted == len(GRADED_NAMES)
    # Two classic mistakes at the end, to see a failing check in the same kernel.
    for grade, code in MISTAKES.items():
        cell = nbformat.v4.new_code_cell(code)
        cell.metadata["nbgrader"] = {"grade_id": grade}
        notebook.cells.append(cell)
    return folder, execute_in_copy(notebook, folder, mnist_dir)


# --- (a) as handed out -----------------------------------------------------------------------

def test_untouched_release_runs_every_cell_without_an_error(untouched):
    # allow_errors=False already stopped the run at the first raising cell; the kernel lived to the end
    cells = code_cells(untouched)
    assert all(cell.execution_count is not None for cell in cells)
    errors = [grade_id(cell) for cell in cells for output in cell.outputs if output.output_type == "error"]
    assert errors == []
    assert not any(output.get("name") == "stderr" and "Traceback" in output.get("text", "")
                   for cell in cells for output in cell.outputs)


def test_untouched_check_cells_say_not_done_yet(untouched):
    for part, names in PARTS.items():
        cell = next(cell for cell in untouched.cells if grade_id(cell) == f"check_{part}")
        assert stream_lines(cell) == [f"⏳ {name}: not implemented yet" for name in names], part  # no trailer
        assert not any("image/png" in output.get("data", {}) for output in cell.outputs)


def test_untouched_demo_cells_print_a_friendly_line(untouched):
    waiting = {grade_id(cell): stream_lines(cell) for cell in code_cells(untouched)
               if grade_id(cell) in FIGURE_CELLS + ("demo_volume", "demo_simple_cnn", "train_mnist")}
    for name, lines in waiting.items():
        assert any(line.startswith("⏳") for line in lines), (name, lines)
    # the line names the unfinished function the demo reached first
    assert waiting["demo_edges"] == ["⏳ vertical_edge_filter is not implemented yet — fill in its cell above, "
                                     "then re-run this cell."]
    assert [line for line in waiting["demo_output_size"] if line.startswith("⏳")] == [f"⏳ {name} is not implemented yet — fill in its cell above, then "
                                           "re-run this cell." for name in ("conv_output_size", "zero_pad",
                                                                            "conv2d_single")]
    assert any(line.startswith("⏳ SimpleCNN is not implemented yet") for line in waiting["train_mnist"])


def test_untouched_answer_cells_only_define_stubs(untouched):
    for cell in code_cells(untouched):
        if grade_id(cell) in GRADED_NAMES:
            assert "raise NotImplementedError" in cell.source and cell.outputs == [], grade_id(cell)


# --- (b) with the reference answers ----------------------------------------------------------

def test_solved_release_passes_every_public_check_and_says_the_graders_test_more(solved):
    for part, names in PARTS.items():
        cell = next(cell for cell in solved.cells if grade_id(cell) == f"check_{part}")
        lines = stream_lines(cell)
        assert lines[:-1] == [f"✅ {name}: passed" for name in names], (part, lines)
        assert lines[-1].startswith(TRAILER) and "does not promise full marks" in lines[-1], part
        assert {output.output_type for output in cell.outputs} == {"stream"}, part  # no figure, no Out[]


def test_solved_release_renders_every_figure(solved):
    with_png = {grade_id(cell) for cell in code_cells(solved)
                for output in cell.outputs if "image/png" in output.get("data", {})}
    assert set(FIGURE_CELLS) <= with_png, set(FIGURE_CELLS) - with_png


def test_a_failing_check_names_the_mistake_and_draws_the_lesson_example(solved):
    flipped = next(cell for cell in solved.cells if grade_id(cell) == "mistake_flipped_kernel")
    lines = stream_lines(flipped)
    assert lines[3].startswith("❌ conv2d_single: wrong values for the 8×8 two-squares image and the vertical filter")
    assert "first at position (0, 2): got -3, expected 3" in lines[3]
    assert lines[4].startswith("   Hint: your kernel seems flipped")
    summed = next(cell for cell in solved.cells if grade_id(cell) == "mistake_summed_windows")
    lines = stream_lines(summed)
    assert lines[0] == "✅ max_pool2d: passed"
    assert lines[1].startswith("❌ avg_pool2d: wrong values for the lesson's 4×4 map 1..16")
    assert lines[2] == "   Hint: each window seems summed instead of averaged: divide by size * size"
    for cell in (flipped, summed):
        assert sum("image/png" in output.get("data", {}) for output in cell.outputs) == 1  # input, expected, yours, diff
        assert not any(line.startswith(TRAILER) for line in stream_lines(cell))


def test_solved_release_has_nothing_left_to_do(solved):
    lines = [line for cell in code_cells(solved) if not (grade_id(cell) or "").startswith("mistake_")
             for line in stream_lines(cell)]
    assert not [line for line in lines if line.startswith(("⏳", "❌"))]
    training = next(cell for cell in solved.cells if grade_id(cell) == "train_mnist")
    assert any(line.startswith("epoch 1/1:") for line in stream_lines(training))


def test_training_draws_a_progress_bar_and_saves_the_model(solved_folder):
    folder, solved = solved_folder
    training = next(cell for cell in solved.cells if grade_id(cell) == "train_mnist")
    text = "".join(output.get("text", "") for output in training.outputs if output.output_type == "stream")
    bars = [part for part in text.split("\r") if part.startswith("epoch 1/1 [")]
    assert len(bars) >= 2 and bars[-1].split("]")[1].startswith(" 94/94 batches"), bars[-3:]  # 6,000 / 64
    assert "saved the trained weights to cnn_week1_model.pth" in text
    state = torch.load(folder / "cnn_week1_model.pth", weights_only=True)
    assert sum(tensor.numel() for tensor in state.values()) == 61_706


def test_the_quick_switch_is_a_cell_the_student_can_edit():
    notebook = nbformat.read(RELEASE / f"{ASSIGNMENT}.ipynb", as_version=4)
    switches = [cell for cell in code_cells(notebook) if "nbgrader" not in cell.metadata]
    assert [cell.source.splitlines()[-1] for cell in switches] == ["quick_run = QUICK"]
    assert switches[0].metadata.get("editable", True) is not False
    following = code_cells(notebook)[code_cells(notebook).index(switches[0]) + 1]
    assert grade_id(following) == "train_mnist" and "quick=quick_run" in following.source


def test_feature_map_demo_draws_pool1(solved):
    demo = next(cell for cell in solved.cells if grade_id(cell) == "demo_feature_maps")
    assert sum("image/png" in output.get("data", {}) for output in demo.outputs) == 4  # digit, conv1, pool1, conv2
    assert 'maps["pool1"]' in demo.source
