"""Part summaries: mean, variance and normalise, against the oracle in stats_checks.py."""
from __future__ import annotations

import random

import pytest
from stats_checks import expect_numbers, mean, normalise, variance

from autograder.engine.checks import call_text, checking, expect_float, expect_raises

pytestmark = pytest.mark.part("summaries")

EXAMPLES = ([1.0, 2.0, 3.0, 4.0], [5.0], [-1.5, 1.5], [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])


@pytest.mark.weight(1)
def test_mean(student):
    """mean gives the arithmetic mean of the lesson's examples"""
    for values in EXAMPLES:
        expect_float(student.call("mean", values), mean(values), call_text("mean", (values,)))


@pytest.mark.weight(1)
def test_mean_empty(student):
    """mean raises ValueError for an empty list"""
    expect_raises(student, "mean", ([],))


@pytest.mark.weight(2)
def test_variance(student):
    """variance divides by n - ddof (population variance by default)"""
    for values in EXAMPLES[2:]:
        for ddof in (0, 1):
            hints = [("the sum of squares seems divided by n whatever ddof is", variance(values))]
            expect_float(student.call("variance", values, ddof=ddof), variance(values, ddof),
                         call_text("variance", (values,), {"ddof": ddof}), hints=hints if ddof else ())


@pytest.mark.weight(1)
def test_variance_errors(student):
    """variance raises ValueError when there are no more values than ddof"""
    expect_raises(student, "variance", ([],))
    expect_raises(student, "variance", ([3.0],), {"ddof": 1})


@pytest.mark.weight(2)
def test_normalise(student):
    """normalise subtracts the mean and divides by the population standard deviation"""
    for values in (EXAMPLES[0], EXAMPLES[3]):
        wrong = [(x - mean(values)) / variance(values, 1) ** 0.5 for x in values]
        expect_numbers(student.call("normalise", values), normalise(values), call_text("normalise", (values,)),
                       hints=[("it seems divided by the sample standard deviation (ddof=1)", wrong)])


@pytest.mark.weight(1)
def test_normalise_constant(student):
    """normalise raises ValueError for constant values (no spread to divide by)"""
    expect_raises(student, "normalise", ([3.0, 3.0, 3.0],))


@pytest.mark.hidden  # random inputs: the example tests above show their details
@pytest.mark.weight(2)
def test_summaries_random(student):
    """mean, variance and normalise on random lists"""
    generator = random.Random(20260101)
    for case in range(5):
        values = [generator.uniform(-100, 100) for _ in range(generator.randint(2, 40))]
        with checking(f"random list {case + 1}"):
            expect_float(student.call("mean", values), mean(values), "mean", atol=1e-9, rtol=1e-9)
            expect_float(student.call("variance", values, ddof=1), variance(values, 1), "variance", atol=1e-9, rtol=1e-9)
            expect_numbers(student.call("normalise", values), normalise(values), "normalise")
