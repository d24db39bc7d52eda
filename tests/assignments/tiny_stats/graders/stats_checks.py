"""The oracle and the list check of tiny_stats' graders (imported by the test modules beside it)."""
from __future__ import annotations

import math

import torch

from autograder.engine.checks import describe_type, number_text, with_hint
from autograder.engine.failures import GradingFailure
from autograder.engine.runtime.wire import NumpyValue

TOLERANCE = 1e-9


def mean(values):
    return sum(values) / len(values)


def variance(values, ddof=0):
    centre = mean(values)
    return sum((x - centre) ** 2 for x in values) / (len(values) - ddof)


def normalise(values):
    centre, spread = mean(values), math.sqrt(variance(values))
    return [(x - centre) / spread for x in values]


def moving_average(values, window):
    return [mean(values[i:i + window]) for i in range(len(values) - window + 1)]


def exponential_smoothing(values, alpha):
    smoothed = [values[0]]
    for x in values[1:]:
        smoothed.append(alpha * x + (1 - alpha) * smoothed[-1])
    return smoothed


def as_numbers(value, what: str) -> list[float]:
    """A returned list (or tuple, 1-D numpy array or tensor) of numbers as floats."""
    if isinstance(value, NumpyValue) and value.array.ndim == 1:
        return [float(x) for x in value.array.tolist()]
    if isinstance(value, torch.Tensor) and value.dim() == 1:
        return [float(x) for x in value.tolist()]
    if isinstance(value, (list, tuple)) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        return [float(x) for x in value]
    raise GradingFailure(f"{what} returned {describe_type(value)}; the contract asks for a list of numbers.")


def expect_numbers(value, expected: list[float], what: str, hints=()) -> None:
    """A list of numbers equal to ``expected``; ``hints`` as (message, what that mistake returns)."""
    got = as_numbers(value, what)
    hint = next((message for message, wrong in hints if wrong is not None and _close(got, wrong)), None)
    if len(got) != len(expected):
        raise GradingFailure(with_hint(f"{what} returned {len(got)} numbers, expected {len(expected)}", hint))
    for index, (mine, theirs) in enumerate(zip(got, expected)):
        if not math.isclose(mine, theirs, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            raise GradingFailure(with_hint(f"{what} is wrong", hint),
                                 f"At index {index}: {number_text(mine)}, expected {number_text(theirs)}.")


def _close(got: list[float], wanted: list[float]) -> bool:
    return len(got) == len(wanted) and all(math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
                                           for a, b in zip(got, wanted))
