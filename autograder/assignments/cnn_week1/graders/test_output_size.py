"""Part output_size: conv_output_size, same_padding and zero_pad.

Weights (10 points, 12 weights): the two value tests (the size table, zero_pad's shapes and values) 3
each, 2.5 points, about what a one-line mistake costs elsewhere; the error, dtype and by-hand checks 1.
A missing +1 (table and errors) and one-sided zeros (values and dtype) are each diagnosed and charged once."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autograder.assignments.cnn_week1.hints import grader_hints, shared_hints
from autograder.engine.checks import (call_text, describe_type, diagnosed_cases, expect_int, expect_manual,
                                     expect_raises, expect_tensor, size_text)
from autograder.engine.failures import GradingFailure, StudentFailure

pytestmark = pytest.mark.part("output_size")

# (n, f, padding, stride) -> floor((n + 2p - f) / s) + 1, with non-dividing cases where floor matters.
SIZE_TABLE = [(32, 5, 0, 1, 28), (28, 5, 2, 1, 28), (6, 3, 0, 1, 4), (8, 3, 1, 2, 4), (7, 3, 0, 2, 3),
              (9, 2, 0, 2, 4), (10, 4, 0, 3, 3), (11, 3, 1, 3, 4), (227, 11, 0, 4, 55), (224, 7, 3, 2, 112),
              (5, 5, 0, 1, 1), (1, 1, 0, 1, 1), (4, 6, 1, 1, 1), (14, 2, 0, 2, 7), (13, 3, 2, 4, 4),
              (10, 1, 0, 1, 10), (6, 3, 1, 5, 2)]


MISSING_PLUS_ONE = "conv_output_size: missing +1"


def plus_one_hint(expected: int) -> tuple:
    """The formula without its +1 (what the lesson's check cell says too)."""
    return (shared_hints().words("size missing +1"), expected - 1, MISSING_PLUS_ONE)


def output_of_one_refused(what: str, details: str | None) -> GradingFailure:
    """A ValueError where the output has exactly one element: the size without its +1 is 0."""
    return GradingFailure(f"{what} raised ValueError, expected 1: these arguments are valid, so an output of one "
                          f"element looks empty. Hint: {shared_hints().words('size missing +1')}",
                          details, diagnosis=MISSING_PLUS_ONE)


def call_size(student, n: int, f: int, expected: int, what: str, **kwargs):
    try:
        return student.call("conv_output_size", n, f, **kwargs)
    except StudentFailure as failure:
        if expected == 1 and failure.kind == "exception" and failure.error_type == "ValueError":
            raise output_of_one_refused(what, failure.summary) from None
        raise


@pytest.mark.weight(3)
def test_conv_output_size_table(student):
    """conv_output_size follows (n + 2p - f) // s + 1 on a table of sizes and returns an int

    18 sizes (n, f, padding, stride), strides that do not divide included, against (n + 2p - f) // s
    + 1; the result must be a Python int.
    """
    with diagnosed_cases() as case:
        with case():
            what = call_text("conv_output_size", (32, 5)) + " (default padding 0 and stride 1)"
            expect_int(call_size(student, 32, 5, 28, what), 28, what, hints=[plus_one_hint(28)])
        for n, f, padding, stride, expected in SIZE_TABLE:
            with case():
                kwargs = {"padding": padding, "stride": stride}
                what = call_text("conv_output_size", (n, f), kwargs)
                value = call_size(student, n, f, expected, what, **kwargs)
                if isinstance(value, (int, float)) and value != expected and \
                        value == round((n + 2 * padding - f) / stride) + 1:
                    what += " (the contract rounds down: use `//`)"
                expect_int(value, expected, what, hints=[plus_one_hint(expected)])


def size_grid() -> list[tuple[int, int, int, int]]:
    """(n, f, padding, stride) for n 1, 4, 7, stride -1 to 3, padding -1 to 2 and f from -1 to n + 2p + 1."""
    return [(n, f, padding, stride) for n in (1, 4, 7) for stride in range(-1, 4) for padding in range(-1, 3)
            for f in range(-1, n + 2 * max(padding, 0) + 2)]


def contract_size(n: int, f: int, padding: int, stride: int) -> int | None:
    """The contract's output size, or None where it asks for a ValueError."""
    if f < 1 or stride < 1 or padding < 0 or (n + 2 * padding - f) // stride + 1 < 1:
        return None
    return (n + 2 * padding - f) // stride + 1


@pytest.mark.weight(1)
def test_conv_output_size_errors(student):
    """conv_output_size raises ValueError exactly for a kernel below 1, a stride below 1, a negative padding or an empty output, for strides 1 to 3 too

    Every n in 1, 4, 7 with stride -1 to 3, padding -1 to 2 and f from -1 up: ValueError exactly
    where the contract asks for one, the right size everywhere else.
    """
    grid = size_grid()
    results = student.task("call_table", {"name": "conv_output_size",
                                          "calls": [[[n, f], {"padding": p, "stride": s}] for n, f, p, s in grid]},
                           needs=("conv_output_size",))
    with diagnosed_cases() as case:
        for (n, f, padding, stride), result in zip(grid, results):
            with case():
                check_size_call(n, f, padding, stride, result)


def check_size_call(n: int, f: int, padding: int, stride: int, result) -> None:
    what = call_text("conv_output_size", (n, f), {"padding": padding, "stride": stride})
    expected = contract_size(n, f, padding, stride)
    raised = result[1] if result[0] == "raised" else None
    if expected is None and raised != "ValueError":
        hint = ""
        if raised is None and stride > 1 and f > n + 2 * padding:
            hint = (" (the output would have (n + 2p - f) // s + 1 < 1 elements: note that // rounds down, "
                    "while int() of a negative fraction rounds up to 0)")
        got = f"raised {raised}" if raised else f"returned {describe_type(result[1])}"
        raise GradingFailure(f"{what} {got}, expected a ValueError{hint}.")
    if expected is not None:
        if raised == "ValueError" and expected == 1:  # the size without its +1 is 0, hence "too small"
            raise output_of_one_refused(what, result[2])
        if raised is not None:
            raise GradingFailure(f"{what} raised {raised}, expected {expected}: these arguments are valid.",
                                 result[2])
        expect_int(result[1], expected, what, hints=[plus_one_hint(expected)])


@pytest.mark.weight(1)
def test_same_padding(student):
    """same_padding gives (f - 1) // 2 for odd kernel sizes as an int

    f = 1, 3, 5, 7 and 11.
    """
    for f in (1, 3, 5, 7, 11):
        expect_int(student.call("same_padding", f), (f - 1) // 2, call_text("same_padding", (f,)))


@pytest.mark.weight(1)
def test_same_padding_errors(student):
    """same_padding raises ValueError for even or non-positive kernel sizes

    f = 2, 4, 0, -1 and -3 each raise ValueError.
    """
    for f in (2, 4, 0, -1, -3):
        expect_raises(student, "same_padding", (f,))


# ----- zero_pad ------------------------------------------------------------------------------

def pad_hints(x: torch.Tensor, pad: int) -> list:
    """(words, result, diagnosis) of zero_pad's classic mistakes (source/cnn_week1/hints.py): zeros on two
    sides only, the leading dimensions padded too."""
    return grader_hints("zero_pad", shared_hints().pad_mistakes(x, pad))


@pytest.mark.weight(3)
def test_zero_pad_shapes_and_values(student):
    """zero_pad surrounds the last two dimensions of 2-, 3- and 4-dimensional tensors with zeros

    Seven random tensors of 2 to 4 dimensions with no zeros inside (so misplaced zeros show), pad 1
    to 3, exactly.
    """
    generator = torch.Generator().manual_seed(11)
    with diagnosed_cases() as case:
        for shape, pad in (((5, 6), 1), ((4, 4), 2), ((3, 4, 5), 2), ((1, 3, 3), 1), ((2, 3, 4, 4), 3),
                           ((2, 1, 5, 7), 1), ((1, 1), 2)):
            x = torch.randn(shape, generator=generator) + 3.0  # no zeros inside, so misplaced zeros show
            with case():
                what = f"`zero_pad` on a random {size_text(shape)} tensor with pad {pad}"
                value = student.call("zero_pad", x, pad, watch="manual_no_pad")
                expected = F.pad(x, (pad, pad, pad, pad))
                expect_tensor(value, expected, what, atol=0, rtol=0, hints=pad_hints(x, pad))


@pytest.mark.weight(1)
def test_zero_pad_dtype_and_pad_zero(student):
    """zero_pad keeps the input's dtype (int64 too) and returns an equal tensor for pad 0

    A 3×4 int64 tensor with pad 2 stays int64; pad 0 returns an equal tensor (2 and 3 dimensions).
    """
    with diagnosed_cases() as case:
        with case():
            x = torch.arange(1, 13, dtype=torch.int64).reshape(3, 4)
            value = student.call("zero_pad", x, 2, watch="manual_no_pad")
            expect_tensor(value, F.pad(x, (2, 2, 2, 2)), "`zero_pad` on a 3×4 int64 tensor with pad 2",
                          atol=0, rtol=0, dtype=torch.int64, hints=pad_hints(x, 2))
        generator = torch.Generator().manual_seed(12)
        for shape in ((4, 5), (2, 3, 3)):
            with case():
                x = torch.randn(shape, generator=generator)
                value = student.call("zero_pad", x, 0, watch="manual_no_pad")
                expect_tensor(value, x, f"`zero_pad` on a random {size_text(shape)} tensor with pad 0", atol=0, rtol=0)


@pytest.mark.weight(1)
def test_zero_pad_negative(student):
    """zero_pad raises ValueError for a negative pad

    pad -1 and -3 each raise ValueError.
    """
    for pad in (-1, -3):
        expect_raises(student, "zero_pad", (torch.ones(3, 3), pad), watch="manual_no_pad")


@pytest.mark.weight(1)
def test_zero_pad_by_hand(student):
    """zero_pad does the work by hand (no F.pad, numpy.pad or library convolution)

    One call in a worker where F.pad, numpy.pad and library convolution are disabled.
    """
    expect_manual(student, "zero_pad", (torch.ones(2, 3, 4), 2), watch="manual_no_pad")
