"""The public checks use other data than the hidden graders, and say that passing them is not enough.

The public checks run every kind of case the hidden graders run (tests/test_public_pairing.py proves
the pairing), but on other sizes, seeds and weights. A submission that hard-codes the answers to every
call the public checks make passes every public check of its parts, yet loses points with the real
graders, whose data differ: a data-specific "bug" is the one thing the public checks cannot catch. The
notebook's check cell tells students exactly that when a part passes.
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import os
from pathlib import Path

import pytest
import torch

from autograder.engine.grade import grade

REPO = Path(__file__).resolve().parents[1]
PUBLIC_CHECKS = REPO / "release" / "cnn_week1" / "public_checks.py"  # what students get
REFERENCE = REPO / "solutions" / "cnn_week1.py"
SELECT = "conv2d_single or pooling"  # pytest -k over the graders: conv2d_single's tests and test_pooling.py
HARD_CODED = ("conv2d_single", "max_pool2d", "avg_pool2d")


def load_public_checks():
    spec = importlib.util.spec_from_file_location("public_checks_under_test", PUBLIC_CHECKS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_namespace() -> dict:
    namespace: dict = {"__name__": "reference"}
    exec(compile(REFERENCE.read_text(encoding="utf-8"), str(REFERENCE), "exec"), namespace)
    return namespace


def call_key(function, args: tuple, kwargs: dict) -> str:
    """One call's arguments, defaults filled in, tensors as lists: the same call gives the same key."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    return repr([value.tolist() if isinstance(value, torch.Tensor) else value
                 for value in bound.arguments.values()])


def public_answers(name: str) -> dict[str, list]:
    """{call key: the reference's answer} for every call that the public check of ``name`` makes."""
    public_checks, reference = load_public_checks(), reference_namespace()[name]
    answers = {}

    def recording(*args, **kwargs):
        result = reference(*args, **kwargs)
        answers[call_key(reference, args, kwargs)] = result.tolist()
        return result

    recording.__signature__ = inspect.signature(reference)
    public_checks.check(name, recording)
    return answers


def hard_coded_submission() -> str:
    """The reference solution, with conv2d_single and the pooling functions replaced by look-ups of the
    answers to the public checks' own calls (and garbage for any other call)."""
    tables = {name: public_answers(name) for name in HARD_CODED}
    source = REFERENCE.read_text(encoding="utf-8") + f'''

# --- hard-coded answers: right only on the public checks' own calls ---
PUBLIC_ANSWERS = {tables!r}


def _look_up(name, arguments):
    key = repr([value.tolist() if isinstance(value, torch.Tensor) else value for value in arguments])
    if key in PUBLIC_ANSWERS[name]:
        return torch.tensor(PUBLIC_ANSWERS[name][key], dtype=torch.float32)
    return torch.zeros(2, 2)  # anything else: garbage


def conv2d_single(image, kernel, stride=1, padding=0):
    return _look_up("conv2d_single", [image, kernel, stride, padding])


def max_pool2d(x, size=2, stride=2):
    return _look_up("max_pool2d", [x, size, stride])


def avg_pool2d(x, size=2, stride=2):
    return _look_up("avg_pool2d", [x, size, stride])
'''
    return source


@pytest.fixture(scope="module")
def submission(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hard-coded") / "submission.py"
    path.write_text(hard_coded_submission(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def graded(submission, tmp_path_factory, mnist_dir):
    os.environ.setdefault("CNN_MNIST_DIR", str(mnist_dir))
    return grade(submission, tmp_path_factory.mktemp("out"), select=SELECT)


def run_part(public_checks, part: str, namespace: dict) -> tuple[bool, list[str]]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        passed = public_checks.run_checks(part, namespace)
    return passed, printed.getvalue().splitlines()


@pytest.mark.parametrize("part", ["manual_conv", "pooling"])
def test_hard_coded_lesson_answers_pass_the_public_checks_and_are_told_so(part, submission):
    public_checks = load_public_checks()
    namespace: dict = {"__name__": "hard_coded"}
    exec(compile(submission.read_text(encoding="utf-8"), str(submission), "exec"), namespace)
    passed, lines = run_part(public_checks, part, namespace)
    assert passed, lines
    names = public_checks.PARTS[part]
    assert lines[:-1] == [f"✅ {name}: passed" for name in names]
    assert lines[-1].startswith("Public checks passed — the hidden graders test more cases (more random sizes")
    assert lines[-1].endswith("so this does not promise full marks.")


def test_hard_coded_functions_really_are_wrong_off_the_public_data(submission):
    namespace: dict = {"__name__": "hard_coded"}
    exec(compile(submission.read_text(encoding="utf-8"), str(submission), "exec"), namespace)
    image, kernel = torch.randn(7, 9), torch.randn(3, 3)
    assert namespace["conv2d_single"](image, kernel).shape != (5, 7)
    assert namespace["max_pool2d"](torch.randn(6, 6)).shape == (2, 2)  # (6 - 2) // 2 + 1 = 3 expected
    assert len(namespace["PUBLIC_ANSWERS"]["conv2d_single"]) >= 13  # the lesson's cases and every kind


def test_the_hidden_graders_take_points_off(graded):
    ran = {test.name: test for test in graded.tests if test.selected}
    assert ran and all("conv2d_single" in name or "pool" in name for name in ran), sorted(ran)
    failed = sorted(name for name, test in ran.items() if not test.passed)
    assert "conv2d_single matches PyTorch on random images, kernels, strides and paddings" in failed
    assert "max_pool2d matches PyTorch on random images and volumes, window sizes and strides" in failed
    assert "avg_pool2d matches PyTorch on random images and volumes, window sizes and strides" in failed
    conv_points = sum(test.max_score for test in ran.values() if "conv2d_single" in test.name)
    conv_score = sum(test.score for test in ran.values() if "conv2d_single" in test.name)
    assert conv_score < conv_points
    assert graded.part_score("pooling") < graded.parts["pooling"][1]
    # The no-library rule is not what costs the points: those tests pass.
    assert ran["conv2d_single does the work by hand (no library convolution, unfold or pooling)"].passed
    assert ran["max_pool2d does the work by hand (no library pooling, convolution or unfold)"].passed


def test_the_reference_passes_the_same_hidden_tests(tmp_path, mnist_dir):
    """The lost points come from the hard-coding, not from the selection or the grader."""
    os.environ.setdefault("CNN_MNIST_DIR", str(mnist_dir))
    result = grade(REFERENCE, tmp_path / "out", select=SELECT)
    ran = [test for test in result.tests if test.selected]
    assert len(ran) == len([t for t in ran if "conv2d_single" in t.name or "pool" in t.name]) >= 7 and all(test.passed for test in ran), [(t.name, t.summary) for t in ran if not t.passed]
