"""One hint library: a classic mistake gets the same diagnosis and the same words in the notebook's
check cell (the release's public_checks.py, which public pytest runs too) and in the hidden grader.

Both load source/cnn_week1/hints.py (the release ships a copy beside public_checks.py). Each case
pastes one classic mistake of tests/classic_mistakes.py into the reference solution, runs the part's
public check and one real grader test on it (in this process, as tests/test_same_mistake.py does), and
compares the "Hint:" text of both with the library's words for that mistake's key; the grader's
diagnosis is the library's ``diagnosis(function, key)``.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import re

import pytest

from autograder.assignments.cnn_week1.hints import shared_hints
from autograder.assignments.cnn_week1.student_files import SOURCE
from classic_mistakes import MISTAKES
from conftest import REPO_ROOT
from test_same_mistake import (InProcessStudent, _outcome, manual_conv_graders, output_size_graders, pooling_graders,
                               simple_cnn_graders, training_graders)

feature_graders = importlib.import_module("autograder.assignments.cnn_week1.graders.test_feature_maps")

RELEASE = REPO_ROOT / "release" / "cnn_week1"


def _release_module(name: str):
    spec = importlib.util.spec_from_file_location(f"release_{name}", RELEASE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def public_checks():
    return _release_module("public_checks")  # what students run, with the release's hints.py beside it


def _public_hint(public_checks, part: str, function: str, student: InProcessStudent) -> str | None:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        public_checks.run_checks(part, student.namespace)
    lines = printed.getvalue().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"❌ {function}"))
    following = lines[index + 1] if index + 1 < len(lines) else ""
    return following[len("   Hint: "):] if following.startswith("   Hint: ") else None


def _grader_hint(summary: str) -> str | None:
    found = re.search(r"Hint: (.*?)\.?$", summary, re.S)
    return found.group(1) if found else None


# (classic mistake, part, function, grader test, the library's key, its format fields)
CASES = [
    ("flipped kernel", "manual_conv", "conv2d_single", "test_conv2d_single_lesson_examples", "flipped kernel", {}),
    ("missing +1 in the output size", "output_size", "conv_output_size", "test_conv_output_size_table",
     "size missing +1", {}),
    ("one-sided padding", "output_size", "zero_pad", "test_zero_pad_shapes_and_values",
     "zeros on the bottom and right only", {}),
    ("pooling without stride", "pooling", "max_pool2d", "test_pooling_lesson_example", "pool stride ignored", {}),
    ("wrong fc1 in_features", "simple_cnn", "SimpleCNN", "test_simple_cnn_layers", "fc1 in_features", {}),
    ("evaluate without eval or no_grad", "training_loop", "evaluate", "test_evaluate_mode", "no eval()",
     {}),
    ("no zero_grad", "training_loop", "train_one_epoch", "test_train_one_epoch_weights", "no zero_grad", {}),
    ("model.eval() inside feature_maps", "feature_maps", "feature_maps", "test_feature_maps_leaves_model_unchanged",
     "model.eval() inside feature_maps", {"switch": "model.eval()"}),
]
GRADERS = {"simple_cnn": simple_cnn_graders, "manual_conv": manual_conv_graders, "output_size": output_size_graders, "pooling": pooling_graders,
           "training_loop": training_graders, "feature_maps": feature_graders}


def test_the_release_ships_the_graders_hint_library():
    assert (RELEASE / "hints.py").read_bytes() == (SOURCE / "hints.py").read_bytes()
    assert _release_module("hints").WORDS == shared_hints().WORDS


@pytest.mark.parametrize("mistake, part, function, grader, key, fields", CASES, ids=[case[0] for case in CASES])
def test_a_classic_mistake_gets_the_same_words_in_the_check_cell_and_the_grader(
        mistake, part, function, grader, key, fields, public_checks):
    words = shared_hints().words(key, **fields)
    student = InProcessStudent(mistake)
    assert _public_hint(public_checks, part, function, student) == words
    failure = _outcome(getattr(GRADERS[part], grader), student)
    assert failure is not None, f"{grader} passed {mistake}"
    assert _grader_hint(failure.summary) == words, failure.summary


def test_a_diagnosis_is_the_function_and_the_librarys_key():
    failure = _outcome(manual_conv_graders.test_conv2d_single_lesson_examples, InProcessStudent("flipped kernel"))
    assert failure.diagnosis == shared_hints().diagnosis("conv2d_single", "flipped kernel")
    failure = _outcome(pooling_graders.test_pooling_lesson_example, InProcessStudent("pooling without stride"))
    assert failure.diagnosis == "max_pool2d: windows move by 1 pixel"


def test_a_demo_cells_own_lines_are_never_called_the_students(public_checks, capsys):
    """An error raised in PyTorch from a demo cell's lambda names no line; one raised in the student's
    function names the student's line, as the check cell does."""
    namespace = {"not_done_yet_is_ok": public_checks.not_done_yet_is_ok, "torch": __import__("torch")}
    exec(compile("import torch.nn as nn\nclass SimpleCNN(nn.Module):\n    def __init__(self):\n"
                 "        super().__init__()\n        self.fc1 = nn.Linear(256, 120)\n\n"
                 "def conv2d_single(image, kernel):\n    return image[100]\n", "<student cell>", "exec"), namespace)
    exec(compile("with not_done_yet_is_ok('SimpleCNN'):\n    network = SimpleCNN()\n"
                 "    step = lambda t: torch.relu(network.fc1(t))\n    step(torch.zeros(1, 400))\n"
                 "with not_done_yet_is_ok('conv2d_single'):\n    run = lambda: conv2d_single(torch.zeros(3, 3), None)\n"
                 "    run()\n", "<demo cell>", "exec"), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "❌ SimpleCNN raised RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x400 and 256x120)"
    assert lines[2].startswith("❌ conv2d_single raised IndexError") and lines[2].endswith(
        "(line 8 of your `conv2d_single`)"), lines[2]  # (no source text for an exec'd string)
