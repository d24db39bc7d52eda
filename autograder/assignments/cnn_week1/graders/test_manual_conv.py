"""Part manual_conv: edge filters, conv2d_single and conv2d_volume against torch.nn.functional.

Weights (30 points, 12 weights: 2.5 each): the four filter tests 1 each (a constant or an error);
conv2d_single's lesson examples and random cases 2 each, conv2d_volume's random cases 2, each function's
by-hand rule 1. A classic convolution mistake (flipped kernel, stride or padding ignored) fails both
conv2d_single value tests with one diagnosis, so it costs 5 points once, like a square-only conv2d_volume."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autograder.assignments.cnn_week1.hints import grader_hints, shared_hints
from autograder.engine.checks import (call_text, diagnosed_cases, expect_manual, expect_map, expect_raises,
                                     expect_tensor, first_only, size_text)

pytestmark = pytest.mark.part("manual_conv")

VERTICAL = torch.tensor([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]])
HORIZONTAL = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]])
SOBEL = {"horizontal": torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]),
         "vertical": torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])}


def filter_hints(expected: torch.Tensor, function: str) -> list:
    """(words, result, diagnosis) of an edge filter's classic mistakes (source/cnn_week1/hints.py)."""
    return grader_hints(function, shared_hints().filter_mistakes(expected))


# ----- filters ---------------------------------------------------------------------------------

@pytest.mark.weight(1)
def test_vertical_edge_filter(student):
    """vertical_edge_filter returns the lesson's 3×3 vertical edge filter as float32

    `vertical_edge_filter()` against [[1, 0, -1]] × 3, exactly, as float32.
    """
    value = student.call("vertical_edge_filter")
    expect_tensor(value, VERTICAL, "`vertical_edge_filter()`", atol=0, rtol=0, hints=filter_hints(VERTICAL, "vertical_edge_filter"))


@pytest.mark.weight(1)
def test_horizontal_edge_filter(student):
    """horizontal_edge_filter returns the lesson's 3×3 horizontal edge filter as float32

    `horizontal_edge_filter()` against [[1, 1, 1], [0, 0, 0], [-1, -1, -1]], exactly, as float32.
    """
    value = student.call("horizontal_edge_filter")
    expect_tensor(value, HORIZONTAL, "`horizontal_edge_filter()`", atol=0, rtol=0, hints=filter_hints(HORIZONTAL, "horizontal_edge_filter"))


@pytest.mark.weight(1)
def test_sobel_filter(student):
    """sobel_filter gives the horizontal (also by default) and vertical Sobel kernels as float32

    `sobel_filter()`, `sobel_filter('horizontal')` and `sobel_filter('vertical')`, exactly.
    """
    with diagnosed_cases() as case:
        for args, direction in (((), "horizontal"), (("horizontal",), "horizontal"), (("vertical",), "vertical")):
            with case():
                expected = SOBEL[direction]
                value = student.call("sobel_filter", *args)
                expect_tensor(value, expected, call_text("sobel_filter", args), atol=0, rtol=0,
                              hints=filter_hints(expected, "sobel_filter"))


@pytest.mark.weight(1)
def test_sobel_filter_rejects_other_directions(student):
    """sobel_filter raises ValueError for any direction other than 'horizontal' and 'vertical'

    'Horizontal', 'diagonal', '', 'VERTICAL' and 'vertical ' each raise ValueError.
    """
    for direction in ("Horizontal", "diagonal", "", "VERTICAL", "vertical "):
        expect_raises(student, "sobel_filter", (direction,), error_type="ValueError")


# ----- conv2d_single -------------------------------------------------------------------------

def conv(x: torch.Tensor, w: torch.Tensor, bias=None, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """The oracle on unbatched (C, H, W) input and (F, C, kh, kw) filters."""
    return F.conv2d(x.unsqueeze(0), w, bias, stride=stride, padding=padding)[0]


def conv_hints(x, w, bias, stride, padding, function: str) -> list:
    """(words, result, diagnosis) of the classic mistakes of ``function`` on the same (C, H, W) input
    and (F, C, kh, kw) filters: source/cnn_week1/hints.py, the check cells' own."""
    return grader_hints(function, shared_hints().conv_mistakes(x, w, bias, stride, padding))


def two_squares(n: int) -> torch.Tensor:
    """The lesson's n×n image with ones in the top-left and bottom-right quarters."""
    image = torch.zeros(n, n)
    half = n // 2
    image[:half, :half] = 1.0
    image[half:, half:] = 1.0
    return image


LESSON_SETTINGS = (({}, "valid (no padding, stride 1)", 1, 0),
                   ({"padding": 1}, "same (padding 1)", 1, 1),
                   ({"stride": 2}, "strided (stride 2)", 2, 0))


@pytest.mark.weight(2)
def test_conv2d_single_lesson_examples(student, attach):
    """conv2d_single reproduces the lesson's edge maps of the two-squares images

    The 8×8 and 6×6 two-squares images with both edge filters: valid, same (padding 1) and strided
    (stride 2). A wrong map is drawn next to the expected one.
    """
    attach = first_only(attach)
    with diagnosed_cases() as case:
        for n in (8, 6):
            image = two_squares(n)
            for kernel, filter_name in ((VERTICAL, "vertical"), (HORIZONTAL, "horizontal")):
                for kwargs, setting, stride, padding in LESSON_SETTINGS:
                    with case():
                        what = (f"`conv2d_single` on the lesson's {n}×{n} two-squares image with the {filter_name} "
                                f"filter, {setting}")
                        value = student.call("conv2d_single", image, kernel, watch="manual", **kwargs)
                        x, w = image.unsqueeze(0), kernel.reshape(1, 1, 3, 3)
                        hints = [(message, alternative[0], key) for message, alternative, key
                                 in conv_hints(x, w, None, stride, padding, "conv2d_single")]
                        expect_map(value, conv(x, w, None, stride, padding)[0], what, attach, image,
                                   atol=1e-5, rtol=0, hints=hints)


def single_cases() -> list[tuple[int, int, int, int, int, int, int]]:
    """(seed, H, W, kh, kw, stride, padding): hand-picked shapes first, then random ones."""
    cases = [(0, 5, 5, 3, 3, 1, 0), (1, 8, 8, 3, 3, 2, 1), (2, 7, 9, 2, 3, 1, 0), (3, 9, 7, 3, 2, 2, 0),
             (4, 6, 6, 1, 1, 1, 0), (5, 11, 10, 5, 5, 3, 2), (6, 6, 8, 4, 4, 1, 2), (7, 7, 7, 3, 3, 3, 1),
             (8, 4, 4, 4, 4, 1, 0), (9, 5, 6, 3, 5, 2, 2)]
    generator = torch.Generator().manual_seed(2024)
    while len(cases) < 26:
        h, w = (int(v) for v in torch.randint(3, 13, (2,), generator=generator))
        kh, kw = (int(v) for v in torch.randint(1, 6, (2,), generator=generator))
        stride, padding = int(torch.randint(1, 4, (1,), generator=generator)), int(torch.randint(0, 3, (1,), generator=generator))
        if kh <= h + 2 * padding and kw <= w + 2 * padding:
            cases.append((100 + len(cases), h, w, kh, kw, stride, padding))
    return cases


@pytest.mark.hidden  # random inputs: the lesson-example tests beside it show details
@pytest.mark.weight(2)
def test_conv2d_single_random(student):
    """conv2d_single matches PyTorch on random images, kernels, strides and paddings"""
    with diagnosed_cases() as case:
        for seed, h, w, kh, kw, stride, padding in single_cases():
            with case():
                generator = torch.Generator().manual_seed(seed)
                image = torch.randn(h, w, generator=generator)
                kernel = torch.randn(kh, kw, generator=generator)
                what = (f"`conv2d_single` on a random {h}×{w} image with a {kh}×{kw} kernel, "
                        f"stride {stride}, padding {padding}")
                value = student.call("conv2d_single", image, kernel, stride, padding, watch="manual")
                x, k = image.unsqueeze(0), kernel.reshape(1, 1, kh, kw)
                hints = [(message, alternative[0], key) for message, alternative, key
                         in conv_hints(x, k, None, stride, padding, "conv2d_single")]
                expect_tensor(value, conv(x, k, None, stride, padding)[0], what, hints=hints)


@pytest.mark.weight(1)
def test_conv2d_single_by_hand(student):
    """conv2d_single does the work by hand (no library convolution, unfold or pooling)

    One call in a worker where library convolution, pooling, unfold and padding routines are
    disabled, after the cells passed the no-library rule check.
    """
    generator = torch.Generator().manual_seed(7)
    expect_manual(student, "conv2d_single", (torch.randn(7, 8, generator=generator),
                                             torch.randn(3, 3, generator=generator), 2, 1))


# ----- conv2d_volume -------------------------------------------------------------------------

def volume_cases() -> list[tuple]:
    """(seed, C, H, W, F, kh, kw, stride, padding, bias mode) with bias mode "tensor", "none" or "default"."""
    cases = [(0, 3, 6, 6, 2, 3, 3, 1, 0, "tensor"), (1, 1, 5, 5, 1, 3, 3, 1, 0, "default"),
             (2, 2, 8, 8, 4, 3, 3, 2, 1, "tensor"), (3, 4, 7, 9, 5, 2, 3, 1, 2, "none"),
             (4, 3, 9, 7, 3, 5, 5, 3, 2, "tensor"), (5, 2, 6, 6, 1, 1, 1, 1, 0, "tensor"),
             (6, 4, 5, 6, 2, 3, 2, 2, 0, "default"), (7, 1, 10, 10, 3, 4, 4, 3, 1, "tensor")]
    generator = torch.Generator().manual_seed(4096)
    modes = ("tensor", "none", "default", "tensor")
    while len(cases) < 22:
        c, f = int(torch.randint(1, 5, (1,), generator=generator)), int(torch.randint(1, 6, (1,), generator=generator))
        h, w = (int(v) for v in torch.randint(3, 12, (2,), generator=generator))
        kh, kw = (int(v) for v in torch.randint(1, 6, (2,), generator=generator))
        stride, padding = int(torch.randint(1, 4, (1,), generator=generator)), int(torch.randint(0, 3, (1,), generator=generator))
        if kh <= h + 2 * padding and kw <= w + 2 * padding:
            cases.append((200 + len(cases), c, h, w, f, kh, kw, stride, padding, modes[len(cases) % 4]))
    return cases


@pytest.mark.hidden  # random inputs: the lesson-example tests beside it show details
@pytest.mark.weight(2)
def test_conv2d_volume_random(student):
    """conv2d_volume matches PyTorch on random volumes, filters, biases, strides and paddings"""
    with diagnosed_cases() as case:
        for seed, c, h, w, f, kh, kw, stride, padding, bias_mode in volume_cases():
            with case():
                generator = torch.Generator().manual_seed(seed)
                volume = torch.randn(c, h, w, generator=generator)
                filters = torch.randn(f, c, kh, kw, generator=generator)
                bias = torch.randn(f, generator=generator) if bias_mode == "tensor" else None
                bias_text = {"tensor": "a bias", "none": "bias None", "default": "no bias argument"}[bias_mode]
                what = (f"`conv2d_volume` on a random {size_text((c, h, w))} volume with {f} filter(s) of "
                        f"{size_text((c, kh, kw))}, {bias_text}, stride {stride}, padding {padding}")
                if bias_mode == "default":
                    value = student.call("conv2d_volume", volume, filters, stride=stride, padding=padding,
                                         watch="manual")
                else:
                    value = student.call("conv2d_volume", volume, filters, bias, stride, padding, watch="manual")
                hints = conv_hints(volume, filters, bias, stride, padding, "conv2d_volume")
                expected = conv(volume, filters, bias, stride, padding)
                expect_tensor(value, expected, what, hints=hints)


@pytest.mark.weight(1)
def test_conv2d_volume_by_hand(student):
    """conv2d_volume does the work by hand (no library convolution, unfold or pooling)

    One call (3 channels, 2 filters, a bias, stride 2, padding 1) in a worker where library
    convolution, pooling and unfold are disabled.
    """
    generator = torch.Generator().manual_seed(8)
    args = (torch.randn(3, 7, 8, generator=generator), torch.randn(2, 3, 3, 3, generator=generator),
            torch.randn(2, generator=generator), 2, 1)
    expect_manual(student, "conv2d_volume", args)
