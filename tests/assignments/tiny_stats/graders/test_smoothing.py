"""Part smoothing: moving_average (by hand, in a worker without the library routines) and
exponential_smoothing; one test runs moving_average on the data file inside the sandbox."""
from __future__ import annotations

import random

import pytest
from stats_checks import exponential_smoothing, expect_numbers, moving_average

from autograder.engine.checks import call_text, checking, expect_int, expect_manual, expect_raises
from autograder.engine.session import Watch

pytestmark = pytest.mark.part("smoothing")

EXAMPLE = [1.0, 2.0, 6.0, 4.0, 5.0, 9.0]


def average_hints(values, window):
    return [("the last window seems left out", moving_average(values, window)[:-1]),
            ("the windows seem one value shorter than `window`", moving_average(values, window - 1) if window > 1 else None)]


@pytest.mark.weight(2)
def test_moving_average_example(student):
    """moving_average gives the mean of every window of consecutive values"""
    for window in (1, 2, 3, 6):
        expect_numbers(student.call("moving_average", EXAMPLE, window, watch=Watch.MANUAL),
                       moving_average(EXAMPLE, window), call_text("moving_average", (EXAMPLE, window)),
                       hints=average_hints(EXAMPLE, window))


@pytest.mark.weight(1)
def test_moving_average_errors(student):
    """moving_average raises ValueError for a window below 1 or longer than the values"""
    for window in (0, -2, 7):
        expect_raises(student, "moving_average", (EXAMPLE, window), watch=Watch.MANUAL)


@pytest.mark.weight(1)
def test_moving_average_by_hand(student):
    """moving_average does the work by hand (no numpy.convolve, cumsum or sliding window)"""
    expect_manual(student, "moving_average", ([1.0, 2.0, 3.0], 2), watch=Watch.MANUAL)


@pytest.mark.hidden  # random inputs: the example test above shows its details
@pytest.mark.weight(2)
def test_moving_average_random(student):
    """moving_average on random lists and windows"""
    generator = random.Random(7)
    for case in range(5):
        values = [generator.uniform(-10, 10) for _ in range(generator.randint(3, 30))]
        window = generator.randint(2, len(values))
        with checking(f"random list {case + 1}"):
            expect_numbers(student.call("moving_average", values, window, watch=Watch.MANUAL),
                           moving_average(values, window), "moving_average")


@pytest.mark.weight(2)
def test_moving_average_on_the_data_file(student, grading_config, series):
    """moving_average smooths the month of temperatures in series.csv"""
    window = grading_config.smoothing.window
    report = student.task("smooth_series", {"window": window}, needs=("moving_average",))
    expect_int(report["length"], len(series), "the series the worker read")  # the task's own check
    what = f"`moving_average(temperatures, {window})` on the {len(series)} days of the data file"
    expect_numbers(report["smoothed"], moving_average(series, window), what)


@pytest.mark.weight(2)
def test_exponential_smoothing(student):
    """exponential_smoothing starts at the first value and mixes in each new one with weight alpha"""
    for alpha in (1.0, 0.5, 0.25):
        wrong = exponential_smoothing(EXAMPLE, 1 - alpha) if alpha != 0.5 else None
        expect_numbers(student.call("exponential_smoothing", EXAMPLE, alpha), exponential_smoothing(EXAMPLE, alpha),
                       call_text("exponential_smoothing", (EXAMPLE, alpha)),
                       hints=[("alpha seems to weigh the previous smoothed value instead of the new one", wrong)])


@pytest.mark.weight(1)
def test_exponential_smoothing_errors(student):
    """exponential_smoothing raises ValueError unless 0 < alpha <= 1"""
    for alpha in (0.0, -0.5, 1.5):
        expect_raises(student, "exponential_smoothing", (EXAMPLE, alpha))
