"""Grader-side checks that turn a wrong result into words a student can act on.

Every function here runs in the trusted grader process on values decoded from
the worker (plain tensors, ``NumpyValue``, ``Opaque``, numbers, containers).
A failed check raises ``GradingFailure(summary, details)``: the summary says
what was checked and what came out wrong; details carry values (a position,
both numbers, a count), never whole expected arrays.

Hints are ``(message, alternative)`` or ``(message, alternative, diagnosis)``: the result of a
classic mistake on the same input. A wrong result equal to an alternative (within the check's
tolerance) adds "Hint: message"; with a diagnosis (a key naming the function and the mistake,
"conv2d_single: flipped kernel") the failure carries it, and tests failed by the same diagnosis
are charged once (``results.apply_same_mistake``). A test with several cases runs them in
``diagnosed_cases()`` so that its diagnosis stands only when that mistake explains every case.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from .failures import GradingFailure, StudentFailure, add_context
from .runtime.wire import NumpyValue, Opaque

ATOL, RTOL = 1e-4, 1e-4  # accepts float32 summation order, rejects every classic mistake


@contextmanager
def checking(what: str):
    """Prefix ``what`` (e.g. "the 8×8 two-squares image, stride 2") to a failure raised inside."""
    try:
        yield
    except (GradingFailure, StudentFailure) as error:
        add_context(error, what)
        raise


# ----- describing values ---------------------------------------------------------------------

def shape_text(shape) -> str:
    return "(" + ", ".join(str(int(n)) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def size_text(shape) -> str:
    """(8, 9) -> '8×9' (how the lesson names image sizes)."""
    return "×".join(str(int(n)) for n in shape)


def number_text(value) -> str:
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.6g}"


def describe_type(value) -> str:
    """What a returned value is, in a student's words."""
    if value is None:
        return "None (is a `return` missing?)"
    if isinstance(value, NumpyValue):
        return f"a numpy array of shape {shape_text(value.array.shape)}"
    if isinstance(value, Opaque):
        return f"an object of type {value.type_name}"
    if isinstance(value, torch.Tensor):
        dtype = "" if value.dtype == torch.float32 else f" and dtype {dtype_text(value.dtype)}"
        return f"a tensor of shape {shape_text(value.shape)}{dtype}"
    if isinstance(value, bool):
        return f"the bool {value}"
    if isinstance(value, (int, float)):
        return f"the {type(value).__name__} {value!r}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


# ----- tensors ---------------------------------------------------------------------------------

def dtype_text(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def as_tensor(value, what: str, dtype: torch.dtype | None = torch.float32) -> torch.Tensor:
    """``value`` if it is a tensor (of ``dtype`` when given), else a GradingFailure that says what it is."""
    if isinstance(value, NumpyValue):
        raise GradingFailure(
            f"{what} returned a numpy array; the contract asks for a torch.Tensor. "
            "Convert it before returning, e.g. `torch.from_numpy(result).float()`.",
            f"numpy array of dtype {value.array.dtype} and shape {shape_text(value.array.shape)}")
    if not isinstance(value, torch.Tensor):
        raise GradingFailure(f"{what} returned {describe_type(value)}; the contract asks for a torch.Tensor.",
                             value.text if isinstance(value, Opaque) else None)
    if dtype is not None and value.dtype != dtype:  # the wire keeps the returned dtype (complex64, bfloat16…)
        convert = ""
        if dtype == torch.float32:
            convert = " (take the real part with `.real`, then `.float()`)" if value.is_complex() else \
                " (convert with `.float()`)"
        raise GradingFailure(f"{what} returned {dtype_text(value.dtype)}, the contract asks for "
                             f"{dtype_text(dtype)}{convert}.")
    return value


def expect_tensor(value, expected: torch.Tensor, what: str, atol: float = ATOL, rtol: float = RTOL,
                  dtype: torch.dtype | None = torch.float32, hints=()) -> torch.Tensor:
    """Check ``value`` against ``expected``: type, shape, dtype, NaNs, then values.

    ``hints``: (message, alternative tensor[, diagnosis]) for classic mistakes; a wrong result
    equal to an alternative adds its message ("your kernel seems flipped: …") and its diagnosis.
    """
    tensor = as_tensor(value, what, dtype=None)
    hint, diagnosis = _matching_hint(tensor, hints, atol, rtol)
    if tuple(tensor.shape) != tuple(expected.shape):
        summary = f"{what} returned shape {shape_text(tensor.shape)}, expected {shape_text(expected.shape)}"
        if not hint and tensor.dim() == expected.dim() == 2 and tuple(tensor.shape) == tuple(expected.shape)[::-1]:
            hint = "height and width seem swapped"
        raise GradingFailure(with_hint(summary, hint), diagnosis=diagnosis)
    if dtype is not None and tensor.dtype != dtype:
        as_tensor(tensor, what, dtype)  # raises with the dtype message
    got = tensor.double()
    want = expected.double()
    bad_numbers = ~torch.isfinite(got) & torch.isfinite(want)
    if bad_numbers.any():
        index = _first_index(bad_numbers)
        raise GradingFailure(
            f"{what} returned {int(bad_numbers.sum())} NaN or infinite value(s) where finite values were expected.",
            f"first at index {index}: got {number_text(got[index])}, expected {number_text(want[index])}")
    close = torch.isclose(got, want, atol=atol, rtol=rtol, equal_nan=True)
    if not close.all():
        wrong = ~close
        index = _first_index(wrong)
        summary = (f"{what} returned wrong values: {int(wrong.sum())} of {wrong.numel()} differ "
                   f"from the expected result")
        raise GradingFailure(
            with_hint(summary, hint),
            f"first difference at index {index}: got {number_text(got[index])}, "
            f"expected {number_text(want[index])} (tolerance {atol:g} + {rtol:g}·|expected|)", diagnosis=diagnosis)
    return tensor


def expect_map(value, expected: torch.Tensor, what: str, attach, shown_input: torch.Tensor, **options) -> None:
    """``expect_tensor`` for a 2-D map on a visible example; when it fails, the feedback report
    draws the input, the expected map, the student's map and their difference."""
    try:
        expect_tensor(value, expected, what, **options)
    except GradingFailure:
        yours = value if isinstance(value, torch.Tensor) and value.dim() == 2 else None
        attach("feature_maps", {"input": shown_input, "expected": expected, "yours": yours, "title": what})
        raise


def first_only(attach):
    """``attach`` that keeps only the first figure: in ``diagnosed_cases`` the cases after the first
    failure still run, and the figure must stay the one of the failure the student reads."""
    done = []

    def attach_first(key: str, value) -> None:
        if not done:
            done.append(key)
            attach(key, value)

    return attach_first


def _first_index(mask: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in mask.nonzero()[0]) if mask.dim() else ()


def _hint_parts(hint) -> tuple:
    """(message, alternative, diagnosis) of a 2- or 3-item hint."""
    message, alternative, *rest = hint
    return message, alternative, (rest[0] if rest else None)


def _matching_hint(tensor: torch.Tensor, hints, atol: float, rtol: float) -> tuple[str | None, str | None]:
    """(message, diagnosis) of the first hint whose alternative equals ``tensor``, else (None, None)."""
    for message, alternative, diagnosis in map(_hint_parts, hints):
        if alternative is None or tuple(alternative.shape) != tuple(tensor.shape):
            continue
        try:
            if torch.allclose(tensor.double(), alternative.double(), atol=atol, rtol=rtol):
                return message, diagnosis
        except RuntimeError:
            continue
    return None, None


class diagnosed_cases:
    """The cases of one test, run so that a diagnosis is precise over all of them::

        with diagnosed_cases() as case:
            for ...:
                with case():
                    expect_tensor(student.call(...), expected, what, hints=...)

    The first failure is what the student sees, as before. When it carries a diagnosis the
    remaining cases still run: the test keeps the diagnosis only if every failing case has that
    same diagnosis; a case that fails otherwise (no diagnosis, another one, the code raised)
    ends the test with the first failure, its diagnosis dropped (it is then charged as any failure).
    """

    def __init__(self):
        self.first: GradingFailure | None = None

    def __enter__(self):
        return self.case

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None and self.first is not None:
            raise self.first
        return False

    @contextmanager
    def case(self):
        try:
            yield
        except GradingFailure as failure:
            if failure.diagnosis is not None and (self.first is None or failure.diagnosis == self.first.diagnosis):
                self.first = self.first or failure
                return
            raise self._undiagnosed(failure) from None
        except StudentFailure as failure:
            raise self._undiagnosed(failure) from None

    def _undiagnosed(self, failure):
        if self.first is None:
            return failure
        self.first.diagnosis = None  # another fault shows too: the mistake does not explain the whole test
        return self.first


def with_hint(summary: str, hint: str | None) -> str:
    """'summary. Hint: hint.' with one final punctuation mark."""
    text = f"{summary}. Hint: {hint}" if hint else summary
    return text if text.endswith((".", "?", "!")) else f"{text}."


# ----- numbers -----------------------------------------------------------------------------

def expect_int(value, expected: int, what: str, hints=()) -> int:
    """A Python int equal to ``expected`` (bool, float, tensor and numpy values are explained);
    ``hints``: (message, alternative int[, diagnosis]) for classic mistakes."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value == expected:
            raise GradingFailure(f"{what} returned the float {value!r}; the contract asks for a Python int "
                                 "(use `//` instead of `/`, or `int(...)`).")
        if isinstance(value, (torch.Tensor, NumpyValue)):
            raise GradingFailure(f"{what} returned {describe_type(value)}; the contract asks for a Python int "
                                 "(convert with `int(...)`).")
        raise GradingFailure(f"{what} returned {describe_type(value)}; expected the int {expected}.")
    if value != expected:
        message, _, diagnosis = next((hint for hint in map(_hint_parts, hints) if hint[1] == value),
                                     (None, None, None))
        raise GradingFailure(with_hint(f"{what} returned {value}, expected {expected}", message), diagnosis=diagnosis)
    return value


def as_number(value, what: str) -> float:
    """A returned Python number or single-element tensor as a float, or a GradingFailure."""
    if isinstance(value, bool):
        raise GradingFailure(f"{what} is {describe_type(value)}; expected a number.")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        return float(value.reshape(()))
    if isinstance(value, NumpyValue) and value.array.size == 1:
        return float(value.array.reshape(()))
    raise GradingFailure(f"{what} is {describe_type(value)}; expected a number.")


def expect_float(value, expected: float, what: str, atol: float = 1e-6, rtol: float = 1e-6, hints=()) -> float:
    """A number (Python or single-element tensor) close to ``expected``; hints as (message, alternative)."""
    number = as_number(value, what)
    if math.isnan(number) or not math.isclose(number, expected, rel_tol=rtol, abs_tol=atol):
        hint, _, diagnosis = next((hint for hint in map(_hint_parts, hints) if hint[1] is not None
                                   and math.isclose(number, hint[1], rel_tol=rtol, abs_tol=atol)), (None, None, None))
        raise GradingFailure(with_hint(f"{what} is {number_text(number)}, expected {number_text(expected)}", hint),
                             diagnosis=diagnosis)
    return number


# ----- exceptions ------------------------------------------------------------------------------

def expect_raises(student, name: str, args=(), kwargs=None, error_type: str = "ValueError",
                  what: str | None = None, watch: str | None = None) -> None:
    """``name(*args, **kwargs)`` must raise ``error_type`` in the student's code."""
    what = what or call_text(name, args, kwargs)
    try:
        value = student.call(name, *args, watch=watch, **(kwargs or {}))
    except StudentFailure as failure:
        if failure.kind != "exception":
            raise  # not implemented, timeout, crash…: the session's own words are best
        raised = failure.error_type
        if raised == error_type:
            return
        raise GradingFailure(f"{what} raised {raised or 'an exception'}, expected {error_type}.",
                             failure.summary) from None
    raise GradingFailure(f"{what} returned {describe_type(value)} instead of raising {error_type}.")


def call_text(name: str, args=(), kwargs=None) -> str:
    """`sobel_filter('diagonal')` as the student would write the call (tensors by shape)."""
    def show(value):
        if isinstance(value, torch.Tensor):
            return f"<{size_text(value.shape)} tensor>"
        return repr(value)

    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in (kwargs or {}).items()]
    return f"`{name}({', '.join(parts)})`"


# ----- the no-library-routine rule ------------------------------------------------------------

def expect_manual(student, name: str, args, watch: str = "manual", kwargs=None) -> None:
    """The no-library-routine rule for ``name``: one run in a manual worker.

    The session refuses the call (StudentFailure "forbidden") when a cell that worker would load
    breaks ``rules.manual_rule_violations``, and the worker itself has the routines disabled
    (``runtime/restrict.py``): a breach either way fails this call, and the verdict is the grader's.
    """
    student.call(name, *args, watch=watch, **(kwargs or {}))


def changed_weights(sent: dict[str, torch.Tensor], after) -> list[str]:
    """Names of the parameters the worker's model no longer has as sent (compared here, not there)."""
    after = after if isinstance(after, dict) else {}
    return [name for name, tensor in sent.items()
            if not isinstance(after.get(name), torch.Tensor) or after[name].shape != tensor.shape
            or not torch.equal(after[name], tensor)]
