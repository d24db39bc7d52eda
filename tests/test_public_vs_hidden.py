"""The public checks are a strict subset of the hidden graders, and say so.

A submission that hard-codes the lesson's example outputs (the results of the notebook's demos) passes
every public check of its parts, yet loses points with the real graders, which test random sizes,
strides and paddings. The notebook's check cell tells students exactly that when a part passes.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from autograder.engine.grade import grade

REPO = Path(__file__).resolve().parents[1]
PUBLIC_CHECKS = REPO / "release" / "cnn_week1" / "public_checks.py"  # what students get
REFERENCE = REPO / "solutions" / "cnn_week1.py"
SELECT = "conv2d_single or pooling"  # pytest -k over the graders: conv2d_single's tests and test_pooling.py


def load_public_checks():
    spec = importlib.util.spec_from_file_location("public_checks_under_test", PUBLIC_CHECKS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def two_squares(n: int) -> torch.Tensor:
    image = torch.zeros(n, n)
    image[: n // 2, : n // 2] = 1.0
    image[n // 2:, n // 2:] = 1.0
    return image


def lesson_convolutions() -> list[tuple[torch.Tensor, torch.Tensor, int, int]]:
    """Every (image, kernel, stride, padding) for which the notebook's demos show conv2d_single's result."""
    vertical = torch.tensor([[1.0, 0.0, -1.0]] * 3)
    horizontal = vertical.t().contiguous()
    sobel_vertical = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    return ([(two_squares(8), kernel, 1, 0) for kernel in (vertical, horizontal, sobel_vertical)]   # demo_edges
            + [(two_squares(6), vertical, stride, padding) for stride, padding in ((1, 0), (1, 1), (2, 0))]  # nn.Conv2d demo
            + [(torch.ones(4, 4), torch.ones(3, 3), 1, 2), (torch.ones(6, 6), torch.ones(3, 3), 1, 1)])  # coverage


def hard_coded_submission() -> str:
    """The reference solution, with conv2d_single and the pooling functions replaced by hard-coded ones."""
    table = {}
    for image, kernel, stride, padding in lesson_convolutions():
        key = repr((image.tolist(), kernel.tolist(), stride, padding))
        table[key] = F.conv2d(image[None, None], kernel[None, None], stride=stride, padding=padding)[0, 0].tolist()
    return REFERENCE.read_text(encoding="utf-8") + f'''

# --- hard-coded answers: right only on the lesson's examples ---
LESSON_ANSWERS = {table!r}


def conv2d_single(image, kernel, stride=1, padding=0):
    key = repr((image.tolist(), kernel.tolist(), stride, padding))
    if key in LESSON_ANSWERS:
        return torch.tensor(LESSON_ANSWERS[key], dtype=torch.float32)
    return torch.zeros(3, 3)  # anything else: garbage


def _pool_4x4(x, size, stride, reduce):
    side = (4 - size) // stride + 1  # assumes the lesson's 4×4 input
    out = torch.zeros(*x.shape[:-2], side, side)
    for i in range(side):
        for j in range(side):
            out[..., i, j] = reduce(x[..., i * stride:i * stride + size, j * stride:j * stride + size])
    return out


def max_pool2d(x, size=2, stride=2):
    return _pool_4x4(x, size, stride, lambda window: window.amax(dim=(-2, -1)))


def avg_pool2d(x, size=2, stride=2):
    return _pool_4x4(x, size, stride, lambda window: window.mean(dim=(-2, -1)))
'''


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
    assert lines[-1].startswith("Public checks passed — the hidden graders test more cases (random sizes")
    assert lines[-1].endswith("so this does not promise full marks.")


def test_hard_coded_functions_really_are_wrong_off_the_lesson(submission):
    namespace: dict = {"__name__": "hard_coded"}
    exec(compile(submission.read_text(encoding="utf-8"), str(submission), "exec"), namespace)
    image, kernel = torch.randn(7, 9), torch.randn(3, 3)
    assert namespace["conv2d_single"](image, kernel).shape != (5, 7)
    assert namespace["max_pool2d"](torch.randn(6, 6)).shape == (2, 2)  # (6 - 2) // 2 + 1 = 3 expected


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
