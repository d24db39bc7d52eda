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

from autograder.assignments.cnn_week1.hints import HINTS_MODULE, shared_hints
from classic_mistakes import MISTAKES
from conftest import REPO_ROOT
from test_same_mistake import (InProcessStudent, _outcome, manual_conv_graders, output_size_graders, pooling_graders,
                               training_graders)

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
    ("no zero_grad", "training_loop", "train_one_epoch", "test_train_one_epoch_weights", "no zero_grad", {}),
    ("model.eval() inside feature_maps", "feature_maps", "feature_maps", "test_feature_maps_leaves_model_unchanged",
     "model.eval() inside feature_maps", {"switch": "model.eval()"}),
]
GRADERS = {"manual_conv": manual_conv_graders, "output_size": output_size_graders, "pooling": pooling_graders,
           "training_loop": training_graders, "feature_maps": feature_graders}


def test_the_release_ships_the_graders_hint_library():
    assert (RELEASE / "hints.py").read_bytes() == HINTS_MODULE.read_bytes()
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
