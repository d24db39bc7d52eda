"""Part pooling: max_pool2d and avg_pool2d against torch.nn.functional.

Weights (10 points, 9 weights): each function's random cases 3 (3.33 points), the lesson example of
both 1, each by-hand rule 1. A pooling mistake (stride ignored, sum instead of mean) fails the random
and the lesson test with one diagnosis: 3.33 points, once."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autograder.assignments.cnn_week1.hints import grader_hints, shared_hints
from autograder.engine.checks import diagnosed_cases, expect_manual, expect_tensor, size_text

pytestmark = pytest.mark.part("pooling")

ORACLE = {"max_pool2d": F.max_pool2d, "avg_pool2d": F.avg_pool2d}
LESSON_IMAGE = torch.tensor([[1.0, 3.0, 2.0, 1.0], [2.0, 9.0, 1.0, 1.0], [1.0, 3.0, 2.0, 3.0], [5.0, 6.0, 1.0, 2.0]])


def pool(name: str, x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """The oracle for (H, W) or (C, H, W) input (no padding, rounding down, as the contract says)."""
    flat = x.dim() == 2
    out = ORACLE[name]((x.unsqueeze(0) if flat else x), size, stride)
    return out[0] if flat else out


def pool_hints(name: str, x: torch.Tensor, size: int, stride: int) -> list:
    """(words, result, diagnosis) of the classic mistakes of pooling function ``name``: source/cnn_week1/hints.py,
    the check cells' own."""
    return grader_hints(name, shared_hints().pool_mistakes(name, x, size, stride))


def pool_cases() -> list[tuple]:
    """(seed, shape, size, stride): hand-picked first (odd sizes, overlapping and sparse windows), then random."""
    cases = [(0, (4, 4), 2, 2), (1, (5, 5), 2, 2), (2, (3, 6, 6), 2, 2), (3, (7, 9), 3, 2), (4, (2, 8, 7), 3, 1),
             (5, (6, 6), 2, 3), (6, (4, 5, 6), 1, 1), (7, (1, 9, 9), 4, 3), (8, (8, 8), 4, 4), (9, (3, 5, 7), 2, 1)]
    generator = torch.Generator().manual_seed(31)
    while len(cases) < 20:
        h, w = (int(v) for v in torch.randint(3, 12, (2,), generator=generator))
        c = int(torch.randint(0, 5, (1,), generator=generator))  # 0: a 2-D input
        size, stride = int(torch.randint(1, 5, (1,), generator=generator)), int(torch.randint(1, 4, (1,), generator=generator))
        if size <= min(h, w):
            cases.append((300 + len(cases), (h, w) if c == 0 else (c, h, w), size, stride))
    return cases


def check_random(student, name: str) -> None:
    with diagnosed_cases() as case:
        for seed, shape, size, stride in pool_cases():
            with case():
                x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
                kind = "image" if len(shape) == 2 else "volume"
                what = f"`{name}` on a random {size_text(shape)} {kind}, size {size}, stride {stride}"
                value = student.call(name, x, size, stride, watch="manual")
                expect_tensor(value, pool(name, x, size, stride), what, hints=pool_hints(name, x, size, stride))


@pytest.mark.hidden  # random inputs: the lesson-example tests beside it show details
@pytest.mark.weight(3)
def test_max_pool2d_random(student):
    """max_pool2d matches PyTorch on random images and volumes, window sizes and strides"""
    check_random(student, "max_pool2d")


@pytest.mark.hidden  # random inputs: the lesson-example tests beside it show details
@pytest.mark.weight(3)
def test_avg_pool2d_random(student):
    """avg_pool2d matches PyTorch on random images and volumes, window sizes and strides"""
    check_random(student, "avg_pool2d")


@pytest.mark.weight(1)
def test_pooling_lesson_example(student):
    """max_pool2d and avg_pool2d give the lesson's 4×4 results with the default size 2 and stride 2

    The lesson's 4×4 image, and a 2-channel volume of it and its negative, with the defaults (size
    2, stride 2), both poolings.
    """
    volume = torch.stack([LESSON_IMAGE, -LESSON_IMAGE])
    with diagnosed_cases() as case:
        for name in ("max_pool2d", "avg_pool2d"):
            for x, kind in ((LESSON_IMAGE, "the lesson's 4×4 image"),
                            (volume, "a 2×4×4 volume of that image and its negative")):
                with case():
                    value = student.call(name, x, watch="manual")
                    expect_tensor(value, pool(name, x, 2, 2), f"`{name}` on {kind} with the default size and stride",
                                  atol=1e-6, rtol=0, hints=pool_hints(name, x, 2, 2))


@pytest.mark.weight(1)
def test_max_pool2d_by_hand(student):
    """max_pool2d does the work by hand (no library pooling, convolution or unfold)

    One call in a worker where library pooling, convolution and unfold are disabled.
    """
    expect_manual(student, "max_pool2d", (torch.randn(3, 6, 6, generator=torch.Generator().manual_seed(5)), 2, 2))


@pytest.mark.weight(1)
def test_avg_pool2d_by_hand(student):
    """avg_pool2d does the work by hand (no library pooling, convolution or unfold)

    One call in a worker where library pooling, convolution and unfold are disabled.
    """
    expect_manual(student, "avg_pool2d", (torch.randn(3, 6, 6, generator=torch.Generator().manual_seed(6)), 2, 2))
