"""Public checks for the CNN week-1 notebook: quick tests you can run as often as you like.

In the notebook, after each part::

    run_checks("manual_conv", globals())

prints one line per function of the part: ``✅ name: passed``, ``❌ name: <what is wrong>`` (with a
``Hint:`` line when your result matches a classic mistake, and a picture for the lesson's images) or
``⏳ name: not implemented yet``; when all pass, a closing line says what the hidden graders add. It
never raises, and its result is true when every function passed.

Each check starts with the lesson's own examples, then runs one case of every *kind* the hidden
graders test, on other data: rectangular images (taller and wider), rectangular kernels, one and
several channels and filters, strides that do not divide, paddings, negative values, every dimension
of input, the error cases, a model in training mode and one in evaluation mode, several epochs. So a
mistake that only shows on some kind of input shows here too; the hidden graders test more cases of
the same kinds (other sizes, seeds and weights), so passing here is necessary, not sufficient.

From a terminal, ``pytest test_public_checks.py`` runs the same checks on the notebook beside it.

PyTorch's own functions serve as the reference ("oracle") and compute the classic mistakes that the
hints recognise; they are never used to fill in your answers. Each check is one function registered
for one contract name in ``CHECKS``.
"""
from __future__ import annotations

import os
import re
import sys
import sysconfig
import traceback
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def _load_hints():
    """hints.py beside this file: the classic mistakes' keys, words and results, shared with the graders."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cnn_week1_hints", os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "hints.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_hints = _load_hints()


def _pairs(mistakes) -> list:
    """(words, result) pairs of hints' (key, words, result) triples."""
    return [(text, result) for _, text, result in mistakes]


# Part key -> the names it checks, in notebook order (the assignment's contract).
PARTS: dict[str, tuple[str, ...]] = {
    "manual_conv": ("vertical_edge_filter", "horizontal_edge_filter", "sobel_filter",
                    "conv2d_single", "conv2d_volume"),
    "output_size": ("conv_output_size", "same_padding", "zero_pad"),
    "pooling": ("max_pool2d", "avg_pool2d"),
    "simple_cnn": ("SimpleCNN",),
    "training_loop": ("train_one_epoch", "evaluate"),
    "feature_maps": ("feature_maps",),
}
ALL_NAMES = tuple(name for names in PARTS.values() for name in names)

# What the hidden graders test beyond these checks, per part (printed when a part passes): more
# cases of the kinds checked here, on other data.
MORE_IN_HIDDEN = {
    "manual_conv": "more random sizes, kernels, strides, paddings and biases",
    "output_size": "more sizes, dimensions and error cases",
    "pooling": "more random sizes, windows and strides",
    "simple_cnn": "other weights and batches",
    "training_loop": "other weights and batches, and an MNIST accuracy gate",
    "feature_maps": "other weights and images, in training and evaluation mode",
}

# Library routines that would do the work of a "by hand" function (the assignment's rules).
_BANNED = ("conv", "unfold", "pool")
_BANNED_IN_ZERO_PAD = _BANNED + ("pad",)
ATOL = RTOL = 1e-4  # the graders' tolerance: float32 summation order passes, every classic mistake fails


class CheckFailed(AssertionError):
    """A check found a wrong result; the message says what, in plain words.

    ``figure``: (title, input, expected, got) for the lesson's images, drawn in the notebook.
    """

    def __init__(self, message: str, figure: tuple | None = None):
        super().__init__(message)
        self.figure = figure


CHECKS: dict[str, Callable[[object], None]] = {}


def _check(name: str):
    """Register the decorated function as the check of contract name ``name``."""
    def register(function):
        CHECKS[name] = function
        return function
    return register


# --- running ---------------------------------------------------------------------------------

def check(name: str, obj) -> None:
    """Run the check of ``name`` on ``obj``; raises CheckFailed, NotImplementedError or the student's error."""
    with _one_thread():
        CHECKS[name](obj)


@contextmanager
def _one_thread():
    """The checks' tensors are tiny: one thread is fastest, and on a busy machine (a shared server)
    several threads waiting for each other can make a check a hundred times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_checks(part: str, namespace: dict) -> "Verdict":
    """Check every function of ``part`` found in ``namespace`` (pass ``globals()``); print one line each.

    Returns a Verdict, true when every function passed.
    """
    names = PARTS.get(part)
    if names is None:
        print(f"❌ unknown part {part!r}; the parts are: {', '.join(PARTS)}")
        return Verdict(False)
    results = [_run_one(name, namespace) for name in names]
    if all(results):
        print(f"Public checks passed — the hidden graders test more cases ({MORE_IN_HIDDEN[part]}), "
                  "so this does not promise full marks.")
    return Verdict(all(results))


class Verdict:
    """run_checks' answer: true when the part passed; shows nothing in Jupyter, so the check cell's
    output ends with its own lines rather than with "Out: True"."""

    def __init__(self, passed: bool):
        self.passed = bool(passed)

    def __bool__(self) -> bool:
        return self.passed

    def __eq__(self, other) -> bool:
        return self.passed == bool(other)

    def __hash__(self) -> int:
        return hash(self.passed)

    def __repr__(self) -> str:
        return repr(self.passed)

    def _ipython_display_(self) -> None:
        pass


def _run_one(name: str, namespace: dict) -> bool:
    if name not in namespace:
        print(f"❌ {name}: not defined — run its cell above (if you deleted the cell, copy it back "
              "from a fresh copy of the assignment)")
        return False
    try:
        check(name, namespace[name])
    except NotImplementedError:
        print(f"⏳ {name}: not implemented yet")
        return False
    except CheckFailed as failure:
        print(f"❌ {name}: {failure}")
        if failure.figure is not None:
            _draw_comparison(name, *failure.figure)
        return False
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # the student's own error: show it, never stop the notebook
        print(f"❌ {name}: raised {_describe(error)}{_student_line(error)}" + _error_hint(error))
        return False
    print(f"✅ {name}: passed")
    return True


def _describe(error: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, clipped (a torch message can run over many lines)."""
    text = " ".join(str(error).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _is_library_file(filename: str) -> bool:
    """Whether ``filename`` belongs to Python, an installed package or these checks (not to the student)."""
    if filename.startswith("<frozen"):
        return True
    path = os.path.realpath(filename)
    return path == _THIS_FILE or any(path.startswith(root + os.sep) for root in _LIBRARY_ROOTS)


_THIS_FILE = os.path.realpath(__file__)
_LIBRARY_ROOTS = tuple(sorted({os.path.realpath(path) for key in ("stdlib", "platstdlib", "purelib", "platlib")
                               for path in [sysconfig.get_paths().get(key)] if path}))


def _student_line(error: BaseException, in_demo: bool = False) -> str:
    """`` (line N of your `function`: `code`)``: the innermost frame of the student's own code, or ''.

    Frames of PyTorch, Python and these checks are skipped, so the line is the student's, never a
    library's internals. ``in_demo``: the error came through a read-only demo cell (the first frame outside
    the libraries), whose own lines and lambdas are not the student's either."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if not _is_library_file(frame.filename)]
    demo_file = frames[0].filename if in_demo and frames else None
    frames = [frame for frame in frames if frame.filename != demo_file]
    if not frames:
        return ""
    frame = frames[-1]
    code = " ".join((frame.line or "").split())
    where = f"line {frame.lineno} of your `{frame.name}`" if frame.name != "<module>" else f"line {frame.lineno} of your cell"
    return f" ({where}: `{code}`)" if code else f" ({where})"


def _error_hint(error: BaseException) -> str:
    if isinstance(error, AttributeError) and "'SimpleCNN' object has no attribute" in str(error):
        return ("\n   Hint: the model has only the submodules conv1, pool1, conv2, pool2, fc1, fc2, fc3 "
                "(no ReLU module): apply torch.relu (or F.relu) yourself")
    called = re.match(r"(\w+)\(\) (missing|got|takes)", str(error))
    if isinstance(error, TypeError) and called and called.group(1) in ALL_NAMES:  # the call itself failed
        return ("\n   Hint: keep the signature given in the cell (the names, their order and the defaults): "
                "the checks and the graders call it exactly that way")
    if isinstance(error, TypeError) and "float" in str(error):
        return ("\n   Hint: a size computed with / is a float; sizes need whole numbers: use // "
                "(floor division), as in the output-size formula")
    return ""


@contextmanager
def not_done_yet_is_ok(*uses: str):
    """For demo and plot cells: your code's error never stops the notebook (Run All reaches every check).

    A stub's NotImplementedError prints one ⏳ line; any other error of your code prints two lines:
    which function, what went wrong, and which check cell to run. ``uses`` names the contract
    functions or classes the demo relies on, for errors raised inside PyTorch (a wrong layer size).
    """
    try:
        yield
    except NotImplementedError as error:
        name = _unfinished_name(error, uses)
        print(f"⏳ {name} is not implemented yet — fill in its cell above, then re-run this cell.")
    except Exception as error:  # KeyboardInterrupt (the stop button) still stops the cell
        _close_open_figures()
        if isinstance(error, NameError) and getattr(error, "name", None) in ALL_NAMES:
            name, what = error.name, "is not defined: run its cell above (or fix the error shown there)"
        else:
            name = _unfinished_name(error, uses)
            what = f"raised {_describe(error, 200)}{_student_line(error, in_demo=True)}"
        print(f"❌ {name} {what}")
        print("   This demo stopped there — run the check cell below to see what is wrong.")


def _close_open_figures() -> None:
    """A demo that failed half way leaves no half-drawn figure behind."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


def _unfinished_name(error: BaseException, uses: tuple = ()) -> str:
    """The contract name that raised: the innermost frame that is a contract function or method, else
    the first of ``uses`` (the names the demo relies on)."""
    for frame, _ in reversed(list(traceback.walk_tb(error.__traceback__))):
        function = frame.f_code.co_name
        if function in ALL_NAMES:
            return function
        owner = frame.f_locals.get("self")
        if owner is not None and type(owner).__name__ in ALL_NAMES:
            return type(owner).__name__
    if uses:
        return uses[0]
    return "a function this cell uses"


# --- comparing -------------------------------------------------------------------------------

def _as_tensor(got, what: str) -> torch.Tensor:
    if isinstance(got, np.ndarray):
        raise CheckFailed(f"returned a numpy array for {what}; the assignment asks for a torch tensor: "
                          "convert before returning, e.g. torch.from_numpy(result).float()")
    if got is None:
        raise CheckFailed(f"returned None for {what} (is a `return` missing, or `out` never assigned?)")
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"returned {type(got).__name__} for {what}, expected a torch tensor")
    return got.detach().as_subclass(torch.Tensor)  # a tensor subclass counts as a plain tensor


def _matching_hint(got: torch.Tensor, hints) -> str | None:
    """The message of the first classic mistake whose result equals ``got``."""
    for message, alternative in hints:
        if alternative is not None and tuple(alternative.shape) == tuple(got.shape) and torch.allclose(
                got.double(), alternative.double(), atol=ATOL, rtol=RTOL):
            return message
    return None


def _with_hint(text: str, hint: str | None) -> str:
    return f"{text}\n   Hint: {hint}" if hint else text


def _same(got, want: torch.Tensor, what: str, dtype: torch.dtype = torch.float32, hints=(),
          shown=None, shape_hints=()) -> None:
    """Fail unless ``got`` is a tensor of want's shape and ``dtype`` with (nearly) want's values.

    ``hints``: (message, result of that mistake) pairs; ``shape_hints``: (message, output shape of
    that mistake) pairs, for mistakes that show in the shape; ``shown``: the input, to draw on failure.
    """
    got = _as_tensor(got, what)
    hint = _matching_hint(got, hints)
    figure = None if shown is None else (what, shown, want, got)
    if tuple(got.shape) != tuple(want.shape):
        if hint is None:  # a shape mistake is named only when no other mistake gives the same shape
            matching = {message for message, shape in shape_hints if tuple(shape) == tuple(got.shape)}
            hint = matching.pop() if len(matching) == 1 else None
        if hint is None and got.dim() == 2 and tuple(got.shape) == tuple(want.shape)[::-1]:
            hint = "height and width seem swapped"
        raise CheckFailed(_with_hint(f"returned shape {tuple(got.shape)}, expected {tuple(want.shape)} "
                                     f"for {what}", hint), figure)
    if got.dtype != dtype:
        raise CheckFailed(f"returned dtype {got.dtype}, expected {dtype} for {what}"
                          + (" (convert with .float())" if dtype == torch.float32 else ""))
    close = torch.isclose(got.double(), want.double(), rtol=RTOL, atol=ATOL)
    if not bool(close.all()):
        position = tuple(int(i) for i in torch.nonzero(~close)[0])
        raise CheckFailed(_with_hint(
            f"wrong values for {what}: {int((~close).sum())} of {close.numel()} differ; first at position "
            f"{position}: got {got[position].item():.6g}, expected {want[position].item():.6g}", hint), figure)


def _raises_value_error(function: Callable, args: tuple, what: str, hint: str | None = None,
                        kwargs: dict | None = None) -> None:
    """Fail unless ``function(*args, **kwargs)`` raises ValueError; ``hint`` names the likely mistake."""
    try:
        result = function(*args, **(kwargs or {}))
    except ValueError:
        return
    except Exception as error:  # any other error type is a wrong answer here, not a crash of the check
        raise CheckFailed(_with_hint(f"expected ValueError for {what}, but it raised {_describe(error, 120)}",
                                     "check the arguments first and raise ValueError(...) yourself")) from None
    raise CheckFailed(_with_hint(f"expected ValueError for {what}, but it returned {_short(result)}", hint))


def _short(value) -> str:
    """A returned value on one line: a tensor by its shape, anything else by its clipped repr."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:79] + "…"


_size = _hints.output_size  # the contract's output size along one axis: (n + 2p - f) // s + 1


def _window_shape_hints(x_shape, kernel: tuple[int, int], stride: int, padding: int,
                        what: str = "kernel") -> list:
    """(hint, output shape) of the shape mistakes of a sliding window (_hints.window_shape_mistakes)."""
    return _pairs(_hints.window_shape_mistakes(x_shape, kernel, stride, padding, what))


def _forbid_library_routines(name: str, function: Callable, *args, **kwargs):
    """Call ``function`` and fail if it used a routine that does the work for it."""
    banned = _BANNED_IN_ZERO_PAD if name == "zero_pad" else _BANNED
    for call in _record_torch_calls(function, *args, **kwargs)[1]:
        if any(word in call.lower() for word in banned):
            raise CheckFailed(f"uses {call}, which does the exercise for you; write it by hand "
                              "(slicing, loops, einsum, sum/max)")


def _record_torch_calls(function: Callable, *args, **kwargs):
    from torch.overrides import TorchFunctionMode

    class Recorder(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.names: list[str] = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.append(getattr(func, "__name__", repr(func)))
            return func(*args, **(kwargs or {}))

    with Recorder() as recorder:
        result = function(*args, **kwargs)
    return result, recorder.names


def _draw_comparison(name: str, what: str, shown, want: torch.Tensor, got: torch.Tensor) -> None:
    """Input, expected, yours and their difference side by side (small grids with their numbers)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return
    panels = [(shown, "input"), (want, "expected"), (got, "yours")]
    if got.shape == want.shape:
        panels.append((got.double() - want.double(), "yours − expected"))
    figure, axes = plt.subplots(1, len(panels), figsize=(2.5 * len(panels), 2.9))
    for ax, (values, title) in zip(axes, panels):
        values = values.detach().double().cpu()
        values = values[0] if values.dim() == 3 else values  # a volume: its first channel
        ax.set_axis_off()
        if values.dim() != 2 or values.numel() == 0:
            ax.set_title(f"{title}\nshape {tuple(values.shape)}", fontsize=8)
            continue
        high = float(values.abs().max()) or 1.0
        ax.imshow(values.numpy(), cmap="coolwarm", vmin=-high, vmax=high)
        ax.set_title(f"{title} {tuple(values.shape)}", fontsize=8)
        if values.numel() <= 100:
            for (row, col), value in np.ndenumerate(values.numpy()):
                ax.text(col, row, f"{value:g}", ha="center", va="center", fontsize=7)
    figure.suptitle(f"{name}: {what}", fontsize=9)
    figure.tight_layout()
    plt.show()
    plt.close(figure)


# --- the lesson's examples -------------------------------------------------------------------

def _two_squares(n: int) -> torch.Tensor:
    """The lesson's n×n image: ones in the top-left and bottom-right quarters."""
    half = n // 2
    picture = torch.zeros(n, n)
    picture[:half, :half] = 1.0
    picture[half:, half:] = 1.0
    return picture


VERTICAL = torch.tensor([[1.0, 0, -1]] * 3)
HORIZONTAL = VERTICAL.t().contiguous()
SOBEL_HORIZONTAL = torch.tensor([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]])
COUNTING = torch.arange(1.0, 17.0).view(4, 4)  # the pooling example, 1..16 row by row


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- part manual_conv ------------------------------------------------------------------------

def _filter_hints(want: torch.Tensor) -> list:
    return _pairs(_hints.filter_mistakes(want))


@_check("vertical_edge_filter")
def _check_vertical(vertical_edge_filter):
    _same(vertical_edge_filter(), VERTICAL, "the vertical edge filter", hints=_filter_hints(VERTICAL))


@_check("horizontal_edge_filter")
def _check_horizontal(horizontal_edge_filter):
    _same(horizontal_edge_filter(), HORIZONTAL, "the horizontal edge filter", hints=_filter_hints(HORIZONTAL))


@_check("sobel_filter")
def _check_sobel(sobel_filter):
    horizontal = SOBEL_HORIZONTAL
    for args, want in [((), horizontal), (("horizontal",), horizontal), (("vertical",), horizontal.t())]:
        what = f"sobel_filter({', '.join(map(repr, args))})" + (" (default direction)" if not args else "")
        _same(sobel_filter(*args), want, what, hints=_filter_hints(want))
    # Only the two lowercase strings are valid: other words, other capitals or spaces, and parts of them.
    exact = "only these two exact lowercase strings are valid: compare with ==, without .lower() or .strip()"
    for direction, hint in [("diagonal", None), ("Vertical", exact), ("HORIZONTAL", exact), (" horizontal", exact),
                            ("v", 'compare with ==, not with `in` ("v" in "vertical" is True)')]:
        _raises_value_error(sobel_filter, (direction,), f"sobel_filter({direction!r})", hint)


_conv = _hints.conv  # the oracle on (C, H, W) input and (F, C, kh, kw) filters


def _conv_mistakes(x, w, bias, stride, padding) -> list:
    """(hint, result of that classic mistake) for one convolution, on (C, H, W) and (F, C, kh, kw)."""
    return _pairs(_hints.conv_mistakes(x, w, bias, stride, padding))


# The lesson's examples: (what, image, kernel, stride, padding) from the demos of sections 3, 5 and 6.
LESSON_CONVOLUTIONS = [
    ("the 8×8 two-squares image and the vertical filter (valid)", _two_squares(8), VERTICAL, 1, 0),
    ("the 8×8 two-squares image and the horizontal filter (valid)", _two_squares(8), HORIZONTAL, 1, 0),
    ("the 8×8 two-squares image and the vertical Sobel filter (valid)", _two_squares(8), SOBEL_HORIZONTAL.t(), 1, 0),
    ("the 6×6 two-squares image and the vertical filter (valid)", _two_squares(6), VERTICAL, 1, 0),
    ("the 6×6 two-squares image and the vertical filter, padding 1 (same)", _two_squares(6), VERTICAL, 1, 1),
    ("the 6×6 two-squares image and the vertical filter, stride 2", _two_squares(6), VERTICAL, 2, 0),
    ("a 6×6 image of ones and a 3×3 kernel of ones, padding 1 (window counts)", torch.ones(6, 6),
     torch.ones(3, 3), 1, 1),
]


# Every kind of case the hidden graders use, on other data: (what, image shape, kernel shape, stride,
# padding, seed). Random values, negative ones too; each call passes stride and padding by position.
CONVOLUTION_KINDS = [
    ("a random 5×8 image (wider than tall) and a random 3×3 kernel", (5, 8), (3, 3), 1, 0, 11),
    ("a random 9×4 image (taller than wide) and a random 2×3 kernel, stride 2", (9, 4), (2, 3), 2, 0, 12),
    ("a random 7×6 image and a random 3×1 kernel, stride 3, padding 2", (7, 6), (3, 1), 3, 2, 13),
    ("a random 3×5 image and a random 5×4 kernel (taller than the image), padding 1", (3, 5), (5, 4), 1, 1, 14),
    ("a random 6×7 image and a random 1×1 kernel", (6, 7), (1, 1), 1, 0, 15),
    ("a random 8×5 image and a random 4×2 kernel, stride 2, padding 1", (8, 5), (4, 2), 2, 1, 16),
]


@_check("conv2d_single")
def _check_conv2d_single(conv2d_single):
    for what, image, kernel, stride, padding in LESSON_CONVOLUTIONS:
        x, w = image[None], kernel[None, None]
        hints = [(message, alternative[0]) for message, alternative in _conv_mistakes(x, w, None, stride, padding)]
        got = conv2d_single(image.clone(), kernel.clone(), stride=stride, padding=padding)
        _same(got, _conv(x, w, None, stride, padding)[0], what, hints=hints, shown=image,
              shape_hints=_window_shape_hints(image.shape, kernel.shape, stride, padding))
    for what, image_shape, kernel_shape, stride, padding, seed in CONVOLUTION_KINDS:
        generator = torch.Generator().manual_seed(seed)
        image, kernel = torch.randn(image_shape, generator=generator), torch.randn(kernel_shape, generator=generator)
        x, w = image[None], kernel[None, None]
        hints = [(message, alternative[0]) for message, alternative in _conv_mistakes(x, w, None, stride, padding)]
        got = conv2d_single(image.clone(), kernel.clone(), stride, padding)
        _same(got, _conv(x, w, None, stride, padding)[0], f"{what} (conv2d_single(image, kernel, {stride}, {padding}))",
              hints=hints, shown=image, shape_hints=_window_shape_hints(image_shape, kernel_shape, stride, padding))
    _forbid_library_routines("conv2d_single", conv2d_single, _random(5, 6, seed=17), VERTICAL.clone(), 2, 1)


# (what, volume shape, filters shape, bias: "tensor", "none" (None passed) or "omitted", stride, padding,
# seed); a call passes bias, stride and padding by position, or leaves the bias out.
VOLUME_KINDS = [
    ("a random 2×5×7 volume (wider than tall), three 3×3 filters and a bias", (2, 5, 7), (3, 2, 3, 3),
     "tensor", 1, 0, 21),
    ("a random 1×8×5 volume (one channel, taller than wide), two 2×4 filters, bias None, stride 3, padding 2",
     (1, 8, 5), (2, 1, 2, 4), "none", 3, 2, 22),
    ("a random 4×6×9 volume and one 1×1 filter with a bias, stride 2", (4, 6, 9), (1, 4, 1, 1), "tensor", 2, 0, 23),
    ("a random 3×4×6 volume and two 5×3 filters (taller than the volume), no bias argument, padding 1",
     (3, 4, 6), (2, 3, 5, 3), "omitted", 1, 1, 24),
]


def _volume_hints(volume, filters, bias, stride, padding) -> dict:
    return {"hints": _conv_mistakes(volume, filters, bias, stride, padding),
            "shape_hints": _window_shape_hints((filters.shape[0], *volume.shape[1:]), filters.shape[-2:], stride, padding)
            + [("the filter dimension seems dropped: with one filter the output is still (1, H', W')",
                (_size(volume.shape[1], filters.shape[2], padding, stride),
                 _size(volume.shape[2], filters.shape[3], padding, stride)))]}


@_check("conv2d_volume")
def _check_conv2d_volume(conv2d_volume):
    generator = torch.Generator().manual_seed(1)  # the lesson's demo: a 6×6×3 "image" and two 3×3×3 filters
    volume = torch.rand(3, 6, 6, generator=generator)
    filters = torch.randn(2, 3, 3, 3, generator=generator)
    bias = torch.tensor([0.5, -1.0])
    what = "the lesson's 6×6×3 volume and two 3×3×3 filters, no bias"
    _same(conv2d_volume(volume.clone(), filters.clone()), _conv(volume, filters), what,
          **_volume_hints(volume, filters, None, 1, 0))
    for stride, padding in [(1, 0), (1, 1), (2, 1)]:
        what = f"the lesson's 6×6×3 volume, two 3×3×3 filters, bias {bias.tolist()}, stride {stride}, padding {padding}"
        got = conv2d_volume(volume.clone(), filters.clone(), bias.clone(), stride=stride, padding=padding)
        _same(got, _conv(volume, filters, bias, stride, padding), what,
              **_volume_hints(volume, filters, bias, stride, padding))
    rectangular = _random(4, 2, 2, 3, seed=3)
    _same(conv2d_volume(volume[:2].clone(), rectangular.clone()), _conv(volume[:2], rectangular),
          "a 6×6×2 volume and four 2×3 filters (kh = 2, kw = 3)", **_volume_hints(volume[:2], rectangular, None, 1, 0))
    for what, volume_shape, filters_shape, bias_mode, stride, padding, seed in VOLUME_KINDS:
        generator = torch.Generator().manual_seed(seed)
        x, w = torch.randn(volume_shape, generator=generator), torch.randn(filters_shape, generator=generator)
        b = torch.randn(filters_shape[0], generator=generator) if bias_mode == "tensor" else None
        if bias_mode == "omitted":
            got = conv2d_volume(x.clone(), w.clone(), stride=stride, padding=padding)
            call = f"conv2d_volume(volume, filters, stride={stride}, padding={padding})"
        else:
            got = conv2d_volume(x.clone(), w.clone(), None if b is None else b.clone(), stride, padding)
            call = f"conv2d_volume(volume, filters, {'bias' if b is not None else 'None'}, {stride}, {padding})"
        _same(got, _conv(x, w, b, stride, padding), f"{what} ({call})", **_volume_hints(x, w, b, stride, padding))
    _forbid_library_routines("conv2d_volume", conv2d_volume, _random(3, 5, 6, seed=25), filters, bias, 2, 1)


# --- part output_size ------------------------------------------------------------------------

def _size_mistakes(n: int, f: int, padding: int, stride: int) -> list:
    return _pairs(_hints.size_mistakes(n, f, padding, stride))


def _expect_size(got, want: int, call: str, mistakes: list) -> None:
    if isinstance(got, bool) or not isinstance(got, int):
        hint = "use // (floor division), or int(...)" if isinstance(got, float) and got == want else None
        if isinstance(got, float) and got != want and any(value == got for _, value in mistakes[1:2]):
            hint = mistakes[1][0]
        raise CheckFailed(_with_hint(f"{call} returned {got!r} ({type(got).__name__}), expected the int {want}", hint))
    if got != want:
        hint = next((message for message, value in mistakes if value == got), None)
        raise CheckFailed(_with_hint(f"{call} returned {got}, expected {want}", hint))


# Every kind of call the hidden graders make, on other numbers: the defaults, keyword arguments, strides
# that do not divide (floor), a filter larger than the input that fits after padding (output size 1),
# a large image, a stride larger than the filter.
SIZE_KINDS = [((10, 3), {}), ((9, 4), {"padding": 1, "stride": 3}), ((3, 5), {"padding": 1}),
              ((64, 7), {"padding": 3, "stride": 2}), ((10, 2), {"stride": 5}), ((1, 1), {}),
              ((12, 12), {"padding": 0, "stride": 4})]
# Invalid arguments, as keyword calls: (n, f, padding, stride, what, hint for the likely mistake).
SIZE_ERRORS = [
    (5, 7, 0, 1, "a 7-wide filter on a 5-wide input", None),
    (6, 0, 0, 1, "f = 0", None),
    (6, -2, 0, 1, "f = -2", "a filter size below 1 is invalid, negative ones too: test f < 1"),
    (6, 3, 0, 0, "stride 0", None),
    (5, 8, 0, -1, "stride -1", "a stride below 1 is invalid, negative ones too: test stride < 1"),
    (6, 3, -1, 1, "padding -1", None),
    (5, 6, 0, 3, "a 6-wide filter on a 5-wide input with stride 3",
     "(5 - 6) // 3 + 1 = 0 < 1; with int((n + 2p - f) / s) the negative fraction rounds up to 0 and hides "
     "that: use // and check the result"),
    (2, 5, 1, 2, "a 5-wide filter on a 2-wide input with padding 1 and stride 2",
     "(2 + 2 - 5) // 2 + 1 = 0 < 1: the filter does not fit even after padding"),
]


@_check("conv_output_size")
def _check_conv_output_size(conv_output_size):
    # The lesson's examples (sections 3 and 5).
    for n, f, padding, stride in [(6, 3, 0, 1), (6, 3, 1, 1), (6, 3, 0, 2), (7, 3, 0, 2), (28, 5, 2, 1),
                                  (14, 5, 0, 1)]:
        call = f"conv_output_size(n={n}, f={f}, padding={padding}, stride={stride})"
        _expect_size(conv_output_size(n, f, padding, stride), _size(n, f, padding, stride), call,
                     _size_mistakes(n, f, padding, stride))
    for args, kwargs in SIZE_KINDS:
        padding, stride = kwargs.get("padding", 0), kwargs.get("stride", 1)
        call = "conv_output_size(" + ", ".join([*map(str, args), *(f"{k}={v}" for k, v in kwargs.items())]) + ")"
        try:
            got = conv_output_size(*args, **kwargs)
        except ValueError as error:
            fits = " (the filter fits in the padded input: n + 2p >= f)" if args[1] > args[0] else ""
            raise CheckFailed(f"{call} raised ValueError ({_describe(error, 120)}); these arguments are "
                              f"valid{fits}, expected {_size(*args, padding, stride)}") from None
        _expect_size(got, _size(*args, padding, stride), call, _size_mistakes(*args, padding, stride))
    for n, f, padding, stride, what, hint in SIZE_ERRORS:
        call = f"conv_output_size({n}, {f}, padding={padding}, stride={stride}): {what}"
        _raises_value_error(conv_output_size, (n, f), call, hint, kwargs={"padding": padding, "stride": stride})


@_check("same_padding")
def _check_same_padding(same_padding):
    for f in (1, 3, 5, 9, 13):
        got = same_padding(f)
        if isinstance(got, bool) or not isinstance(got, int) or got != (f - 1) // 2:
            hint = "return an int: use // instead of /" if got == (f - 1) // 2 else None
            raise CheckFailed(_with_hint(f"same_padding({f}) returned {got!r}, expected the int {(f - 1) // 2}",
                                         hint))
    for f in (2, 6, 0, -5):
        hint = "a negative size is invalid even when odd: test f < 1 as well as f % 2 == 0" if f < 0 else None
        _raises_value_error(same_padding, (f,), f"f = {f}", hint)


def _pad_mistakes(x: torch.Tensor, pad: int) -> list:
    return _pairs(_hints.pad_mistakes(x, pad))


def _pad_shape_hints(shape: tuple, pad: int) -> list:
    """(hint, output shape) of zero_pad's shape mistakes."""
    *leading, h, w = shape
    return [("the width seems computed from the height (a square-only formula): the columns are W + 2 * pad",
             (*leading, h + 2 * pad, h + 2 * pad)),
            ("the height seems computed from the width (a square-only formula): the rows are H + 2 * pad",
             (*leading, w + 2 * pad, w + 2 * pad)),
            ("only one ring of zeros seems added on each side: add pad rings", (*leading, h + 2, w + 2)),
            ("the zeros seem added on one side only: add pad rings on every side", (*leading, h + pad, w + pad)),
            ("only the last dimension seems padded; pad the last two (height and width)", (*leading, h, w + 2 * pad)),
            ("the leading dimensions seem padded too; pad only the last two (height and width)",
             tuple(size + 2 * pad for size in shape))]


@_check("zero_pad")
def _check_zero_pad(zero_pad):
    image = torch.arange(1.0, 10.0).view(3, 3)  # the lesson's demo
    _same(zero_pad(image, 1), F.pad(image, (1, 1, 1, 1)), "the lesson's 3×3 image 1..9 padded by 1",
          hints=_pad_mistakes(image, 1), shown=image, shape_hints=_pad_shape_hints(image.shape, 1))
    batch = torch.arange(120, dtype=torch.int64).view(2, 3, 4, 5)
    _same(zero_pad(batch.clone(), 2), F.pad(batch, (2, 2, 2, 2)), "an int64 (2, 3, 4, 5) batch padded by 2",
          dtype=torch.int64, hints=_pad_mistakes(batch, 2), shape_hints=_pad_shape_hints(batch.shape, 2))
    # Every dimension the hidden graders use, rectangular, with no zeros inside (misplaced zeros show).
    for shape, pad, seed in (((2, 7), 2, 31), ((2, 3, 5), 3, 32), ((1, 2, 1, 4), 1, 33)):
        x = _random(*shape, seed=seed).abs() + 1.0
        _same(zero_pad(x.clone(), pad), F.pad(x, (pad, pad, pad, pad)),
              f"a random {shape} tensor padded by {pad}", hints=_pad_mistakes(x, pad),
              shape_hints=_pad_shape_hints(shape, pad)
              + [("the first two dimensions seem padded; pad the last two (height and width), whatever the "
                  "number of leading dimensions", (shape[0] + 2 * pad, shape[1] + 2 * pad, *shape[2:]))])
    _same(zero_pad(image, 0), image, "pad = 0")
    volume = _random(2, 4, 3, seed=34)
    _same(zero_pad(volume.clone(), 0), volume, "a random (2, 4, 3) volume with pad = 0")
    _raises_value_error(zero_pad, (image, -1), "pad = -1")
    _raises_value_error(zero_pad, (volume, -2), "a (2, 4, 3) volume with pad = -2")
    _forbid_library_routines("zero_pad", zero_pad, _random(2, 3, 4, seed=35), 2)


# --- part pooling ----------------------------------------------------------------------------

_pool = _hints.pool  # the oracle of max_pool2d or avg_pool2d on (H, W) or (C, H, W)


def _pool_mistakes(name: str, x: torch.Tensor, size: int, stride: int) -> list:
    return _pairs(_hints.pool_mistakes(name, x, size, stride))


# Every kind of case the hidden graders use, on other data: (what, input, size, stride); None: the
# defaults. Rectangular inputs both ways, 2-D and 3-D, one channel, windows that overlap and windows
# with gaps between them, sizes the stride does not divide (floor), negative values, a window of 1.
_RECTANGLE = torch.arange(1.0, 25.0).view(4, 6)
POOLING_KINDS = [
    ("a random 5×8 image, size 2, stride 2 (5 rows: the last one is left over)", _random(5, 8, seed=41), 2, 2),
    ("a random (3, 7, 4) volume, size 3, stride 2 (overlapping windows)", _random(3, 7, 4, seed=42), 3, 2),
    ("a random (1, 6, 9) volume, size 2, stride 3 (gaps between windows)", _random(1, 6, 9, seed=43), 2, 3),
    ("a (2, 4, 6) volume: the map 1..24 and its negative, default size and stride",
     torch.stack([_RECTANGLE, -_RECTANGLE]), None, None),
    ("a random (2, 3, 5) volume, size 1, stride 2", _random(2, 3, 5, seed=44), 1, 2),
]


def _check_pooling(name: str, mine: Callable):
    volume = torch.stack([COUNTING, COUNTING.flip(-1)])  # (2, 4, 4): the map and its mirror image
    cases = [(COUNTING, (), 2, 2, "the lesson's 4×4 map 1..16 with the default size 2, stride 2"),
             (COUNTING, (2, 1), 2, 1, "the 4×4 map 1..16 with size 2, stride 1 (overlapping windows)"),
             (COUNTING, (3, 1), 3, 1, "the 4×4 map 1..16 with size 3, stride 1"),
             (volume, (), 2, 2, "a (2, 4, 4) volume: the map 1..16 and its mirror image, default size and stride")]
    cases += [(x, () if size is None else (size, stride), size or 2, stride or 2, what)
              for what, x, size, stride in POOLING_KINDS]
    for x, args, size, stride, what in cases:
        hints = _pool_mistakes(name, x, size, stride)
        if name == "max_pool2d" and bool((x < 0).any()):
            hints.append(("negative values come out wrong: is the running maximum started at 0? Start it "
                          "from the window's values (or -inf)", _pool(name, x.clamp(min=0), size, stride)))
        _same(mine(x.clone(), *args), _pool(name, x, size, stride), what, hints=hints, shown=x,
              shape_hints=_window_shape_hints(x.shape, (size, size), stride, 0, what="window")
              + [("a 2-D input must give a 2-D output (and a (C, H, W) input a (C, H', W') output)",
                  _pool(name, x, size, stride)[None].shape if x.dim() == 2 else _pool(name, x, size, stride)[0].shape)])
    _forbid_library_routines(name, mine, _random(2, 5, 6, seed=45), 2, 2)


@_check("max_pool2d")
def _check_max_pool2d(max_pool2d):
    _check_pooling("max_pool2d", max_pool2d)


@_check("avg_pool2d")
def _check_avg_pool2d(avg_pool2d):
    _check_pooling("avg_pool2d", avg_pool2d)


# --- part simple_cnn -------------------------------------------------------------------------

_LAYER_PARAMETERS = {"conv1": 156, "conv2": 2416, "fc1": 48120, "fc2": 10164, "fc3": 850}


def _lesson_forward(model: nn.Module, x: torch.Tensor, relu_after=("conv1", "conv2", "fc1", "fc2"),
                    final=None) -> torch.Tensor:
    """The lesson's forward pass with the model's own layers (ReLU only after the layers named)."""
    def layer(name, value):
        value = getattr(model, name)(value)
        return torch.relu(value) if name in relu_after else value
    hidden = model.pool1(layer("conv1", x))
    hidden = model.pool2(layer("conv2", hidden)).flatten(1)
    logits = layer("fc3", layer("fc2", layer("fc1", hidden)))
    return final(logits) if final else logits


# The contract's layers: name -> (type, how the contract writes it, settings that must hold).
_LAYERS = {
    "conv1": (nn.Conv2d, "nn.Conv2d(1, 6, 5, padding=2)", {"in_channels": 1, "out_channels": 6, "kernel_size": (5, 5),
                                                          "stride": (1, 1), "padding": (2, 2), "dilation": (1, 1),
                                                          "groups": 1}),
    "pool1": (nn.MaxPool2d, "nn.MaxPool2d(2, 2)", {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0),
                                                   "dilation": (1, 1)}),
    "conv2": (nn.Conv2d, "nn.Conv2d(6, 16, 5)", {"in_channels": 6, "out_channels": 16, "kernel_size": (5, 5),
                                                 "stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1}),
    "pool2": (nn.MaxPool2d, "nn.MaxPool2d(2, 2)", {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0),
                                                   "dilation": (1, 1)}),
    "fc1": (nn.Linear, "nn.Linear(400, 120)", {"in_features": 400, "out_features": 120}),
    "fc2": (nn.Linear, "nn.Linear(120, 84)", {"in_features": 120, "out_features": 84}),
    "fc3": (nn.Linear, "nn.Linear(84, 10)", {"in_features": 84, "out_features": 10}),
}


def _setting(layer: nn.Module, key: str):
    """A layer's setting as a pair where the contract gives one (2 and (2, 2) are the same window)."""
    value = getattr(layer, key, None)
    if key in ("kernel_size", "stride", "padding", "dilation"):
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value, value)
        elif isinstance(value, (list, tuple)):
            value = tuple(value)
        if key == "padding" and value == "same" and getattr(layer, "kernel_size", None) == (5, 5):
            value = (2, 2)  # "same" padding of a 5×5 kernel at stride 1 is 2
    return value


def _check_layers(model: nn.Module) -> None:
    for name, (kind, spelled, settings) in _LAYERS.items():
        layer = getattr(model, name)
        if not isinstance(layer, kind):
            raise CheckFailed(f"{name} is a {type(layer).__name__}; the assignment asks for {spelled}")
        wrong = [f"its {key} is {_setting(layer, key)!r}, expected {value!r}" for key, value in settings.items()
                 if _setting(layer, key) != value]
        if kind is not nn.MaxPool2d and getattr(layer, "bias", None) is None:
            wrong.append("it has no bias (bias=False); keep the default bias")
        if wrong:
            only_fc1 = name == "fc1" and len(wrong) == 1 and _setting(layer, "in_features") != 400
            raise CheckFailed(_with_hint(f"{name} should be {spelled}, but " + "; ".join(wrong),
                                         _hints.fc1_mistake(_setting(layer, "in_features")) if only_fc1 else None))


@_check("SimpleCNN")
def _check_simple_cnn(SimpleCNN):
    torch.manual_seed(0)
    model = SimpleCNN()
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"SimpleCNN() built a {type(model).__name__}; SimpleCNN must subclass nn.Module")
    for name in ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"):
        if not isinstance(getattr(model, name, None), nn.Module):
            raise CheckFailed(f"has no submodule named {name!r} (self.{name} = ... in __init__)")
    _check_layers(model)
    for name, want in _LAYER_PARAMETERS.items():
        got = sum(p.numel() for p in getattr(model, name).parameters())
        if got != want:
            raise CheckFailed(f"{name} has {got:,} parameters, expected {want:,}")
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if total != 61706:
        raise CheckFailed(f"has {total:,} trainable parameters in all, expected 61,706 "
                          "(no extra layers with parameters)")
    model.eval()  # as the graders do: an extra dropout layer of yours must not add noise here
    x = _random(2, 1, 28, 28)
    with torch.no_grad():
        logits = model(x)
        want = _lesson_forward(model, x)
        hints = [("the outputs look like probabilities: return the logits, no softmax",
                  _lesson_forward(model, x, final=lambda t: t.softmax(1))),
                 ("the outputs look like log-probabilities: return the logits, no log_softmax",
                  _lesson_forward(model, x, final=lambda t: t.log_softmax(1))),
                 ("there seems to be a ReLU after fc3: the logits must be able to go negative",
                  _lesson_forward(model, x, relu_after=("conv1", "conv2", "fc1", "fc2", "fc3")))]
        hints += [(f"the ReLU after {skipped} seems missing",
                   _lesson_forward(model, x, relu_after=tuple(n for n in ("conv1", "conv2", "fc1", "fc2") if n != skipped)))
                  for skipped in ("conv1", "conv2", "fc1", "fc2")]
    _same(logits, want, "a (2, 1, 28, 28) batch (compared with the lesson's forward pass through "
          "your own layers)", hints=hints)
    for batch in (1, 3):  # a batch of one keeps its batch dimension too
        with torch.no_grad():
            logits = model(_random(batch, 1, 28, 28, seed=batch))
        got = _as_tensor(logits, f"a ({batch}, 1, 28, 28) batch")
        if tuple(got.shape) != (batch, 10):
            hint = ("the batch dimension seems dropped for a batch of one: avoid .squeeze() and flatten() "
                    "without start_dim; use torch.flatten(x, 1) or x.view(x.size(0), -1)") if batch == 1 else None
            raise CheckFailed(_with_hint(f"returned shape {tuple(got.shape)} for a ({batch}, 1, 28, 28) batch, "
                                         f"expected ({batch}, 10)", hint))
    # The contract's weights, loaded by name: the same logits as the lesson's network with those weights.
    torch.manual_seed(7)
    reference = _LessonCNN()
    missing, unexpected = model.load_state_dict(reference.state_dict(), strict=False)
    if missing:
        raise CheckFailed(f"the contract's weights cannot be loaded: SimpleCNN has parameters the contract's "
                          f"network lacks ({', '.join(missing[:3])})")
    x = _random(3, 1, 28, 28, seed=8)
    with torch.no_grad():
        want, got = reference(x), model(x)
    _same(got, want, "a (3, 1, 28, 28) batch with the weights of the contract's network loaded into yours "
          "(compared with that network)",
          hints=[("with the same weights your network computes other logits than the contract's: check the "
                  "forward (ReLU after conv1, conv2, fc1 and fc2, both poolings, torch.flatten(x, 1)) and every "
                  "layer's options (padding_mode too)", got)]
          if isinstance(got, torch.Tensor) and got.shape == want.shape else ())


# --- part training_loop ----------------------------------------------------------------------

def _lesson_model(seed: int) -> nn.Module:
    """A network of the contract's architecture with seeded weights (the graders pass one like it)."""
    torch.manual_seed(seed)
    return _LessonCNN()


def _probe_data(model: nn.Module, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n random images whose first half is labelled as ``model`` predicts them (so the accuracy is not 0)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (n,), generator=generator)
    with torch.no_grad():
        labels[: n // 2] = model(images[: n // 2]).argmax(1)
    return images, labels


class _Samples:
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]


class _Loader:
    """Like a DataLoader: ``len()`` (batches), ``dataset``, ``batch_size``, the last batch smaller; pass k
    visits the samples in ``orders[k - 1]`` (the last order repeats; none: in sequence), as a loader
    with shuffle=True does. Each pass and batch is logged in ``log``."""

    def __init__(self, images, labels, batch_size: int, log: list, orders=None):
        self.dataset, self.batch_size, self.log = _Samples(images, labels), batch_size, log
        self.orders, self.passes = list(orders or []), 0

    def __len__(self):
        return (len(self.dataset) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        self.passes += 1
        self.log.append(("pass",))
        order = self.orders[min(self.passes, len(self.orders)) - 1] if self.orders else torch.arange(len(self.dataset))
        for first in range(0, len(order), self.batch_size):
            index = order[first:first + self.batch_size]
            self.log.append(("batch",))
            yield self.dataset.images[index], self.dataset.labels[index]  # copies: yours to change

    def batches(self, number: int) -> list:
        """The batches of pass ``number`` (1, 2, ...), without logging."""
        order = self.orders[min(number, len(self.orders)) - 1] if self.orders else torch.arange(len(self.dataset))
        return [(self.dataset.images[order[i:i + self.batch_size]], self.dataset.labels[order[i:i + self.batch_size]])
                for i in range(0, len(order), self.batch_size)]


def _log_calls(owner, method: str, log: list) -> None:
    """Log ``method`` in ``log`` each time ``owner.method(...)`` is called, then call it."""
    original = getattr(owner, method)

    def logged(*args, **kwargs):
        log.append((method,))
        return original(*args, **kwargs)

    object.__setattr__(owner, method, logged)


def _watch(model: nn.Module, log: list) -> None:
    """Log each forward pass (training mode?, gradients tracked?) and each backward pass of ``model``."""
    model.register_forward_pre_hook(lambda module, inputs: log.append(
        ("forward", module.training, torch.is_grad_enabled() and not torch.is_inference_mode_enabled())))
    model.fc3.bias.register_hook(lambda grad: log.append(("backward",)))


def _stale_gradients(model: nn.Module, seed: int) -> None:
    """Gradients left over from earlier work, as a model can come with them: zero them before backward."""
    generator = torch.Generator().manual_seed(seed)
    for parameter in model.parameters():
        parameter.grad = torch.randn(parameter.shape, generator=generator)


def _snapshot(model: nn.Module) -> dict:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _contract_training(weights: dict, stale_seed, settings: dict, epochs: list, variant: str = "contract") -> dict:
    """The contract's loop (zero_grad, forward, loss, backward, step per batch) from ``weights`` over the
    batches of each epoch, or a classic mistake of it (``variant``); returns the weights after it."""
    model = _LessonCNN()
    model.load_state_dict(weights)
    model.train()
    if stale_seed is not None:
        _stale_gradients(model, stale_seed)
    optimizer = torch.optim.SGD(model.parameters(), **settings)
    for batches in epochs:
        if variant == "new_optimizer":
            optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"])
        for images, labels in batches:  # (the lesson's loop, written out for the check)
            if variant in ("contract", "new_optimizer"):
                optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(images), labels).backward()
            optimizer.step(closure=None)
            if variant == "zero_after_step":
                optimizer.zero_grad(set_to_none=True)
    return _snapshot(model)


def _different_weight(got: dict, want: dict) -> str | None:
    """The first parameter that differs beyond the graders' tolerance, else None."""
    for name, tensor in want.items():
        other = got.get(name)
        if other is None or other.shape != tensor.shape or not torch.allclose(
                other.double(), tensor.double(), atol=1e-5, rtol=1e-4):
            return name
    return None


def _expect_contract_weights(model, start: dict, stale_seed, settings: dict, epochs: list, what: str) -> None:
    got = _snapshot(model)
    differs = _different_weight(got, _contract_training(start, stale_seed, settings, epochs))
    if differs is None:
        return
    if _different_weight(got, start) is None:
        hint = _hints.words("no optimizer.step()")
    elif _different_weight(got, _contract_training(start, stale_seed, settings, epochs, "no_zero_grad")) is None:
        hint = _hints.words("no zero_grad")
    elif _different_weight(got, _contract_training(start, stale_seed, settings, epochs, "zero_after_step")) is None:
        hint = _hints.words("zero_grad after the step")
    elif len(epochs) > 1 and _different_weight(got, _contract_training(start, stale_seed, settings, epochs,
                                                                       "new_optimizer")) is None:
        hint = "the given optimizer seems replaced by a new one (its momentum is lost): use the optimizer as given"
    else:
        hint = ("compare your loop step by step with the lesson's (zero_grad, forward, loss, backward, step), "
                "and take the batches from the loader itself, in the order it gives them")
    raise CheckFailed(_with_hint(f"{what}, the weight {differs!r} differs from the lesson's training loop's", hint))


def _number(value, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckFailed(f"returned {type(value).__name__} as {what}, expected a Python float")
    return float(value)


def _expect_close(got: float, want: float, what: str, hints, tolerance: float) -> None:
    if abs(got - want) > tolerance:
        hint = next((message for message, value in hints if abs(got - value) <= tolerance), None)
        raise CheckFailed(_with_hint(f"returned {what} {got:.6g}, expected {want:.6g}", hint))


def _accuracy_hints(correct: int, total: int, per_batch: list[float]) -> list:
    return [("this is a fraction (0-1): the assignment asks for percent (0-100), multiply by 100",
             correct / total),
            ("this is the number of correct predictions: divide by the number of images, times 100", correct),
            ("this is the mean of the per-batch accuracies: divide all correct predictions by all images",
             sum(per_batch) / len(per_batch))]


def _expect_one_pass(loader: _Loader, log: list) -> None:
    used = sum(1 for event in log if event[0] == "batch")
    if loader.passes == 0:
        raise CheckFailed("never iterated over the loader: take the batches from it, in the order it gives "
                          "them, with `for images, labels in loader:`")
    if loader.passes != 1:
        raise CheckFailed(f"iterated over the loader {loader.passes} times; make exactly one pass (len(loader) "
                          "gives the number of batches, and each batch's size is len(labels), without a pass)")
    if used != len(loader):
        raise CheckFailed(f"used {used} of the loader's {len(loader)} batches; use every batch once")


def _per_batch(log: list) -> tuple[list, list]:
    """The events before the first batch, and those of each batch."""
    before, batches = [], []
    for event in log:
        if event[0] == "batch":
            batches.append([])
        elif event[0] != "pass":
            (batches[-1] if batches else before).append(event)
    return before, batches


def _expect_contract_steps(log: list, batches: int) -> None:
    """Training mode, gradients on, and zero_grad, backward and one step per batch, in that order."""
    before, during = _per_batch(log)
    zeroed = any(event[0] == "zero_grad" for event in before)
    for number, events in enumerate(during, start=1):
        where = f"in batch {number} of {batches}"
        forwards = [event for event in events if event[0] == "forward"]
        if not forwards:
            raise CheckFailed(f"did not run the model {where}")
        if not all(training for _, training, _ in forwards):
            raise CheckFailed("ran the model in evaluation mode; the model came in evaluation mode, so call "
                              "model.train() at the start of train_one_epoch")
        if not any(grad_on for _, _, grad_on in forwards):
            raise CheckFailed("ran the model without gradient tracking (inside no_grad), so it cannot learn")
        backwards, steps = [sum(1 for event in events if event[0] == kind) for kind in ("backward", "step")]
        if backwards != 1:
            raise CheckFailed(f"ran loss.backward() {backwards} times {where}; expected once per batch")
        if steps != 1:
            raise CheckFailed(f"called optimizer.step() {steps} times {where}; expected once per batch")
        order = [event[0] for event in events if event[0] in ("backward", "zero_grad", "step")]
        if "zero_grad" in order[order.index("backward"):order.index("step")]:
            raise CheckFailed(f"zeroed the gradients between loss.backward() and optimizer.step() {where}, so the "
                              "step has no gradients to use: zero them before loss.backward()")
        for position, kind in enumerate(order):
            if kind == "zero_grad":
                zeroed = True
            elif kind == "backward":
                if not zeroed:
                    if not any(event[0] == "zero_grad" for event in log):
                        raise CheckFailed(_with_hint("never zeroes the gradients", _hints.words("no zero_grad")))
                    left_over = (" (the model came with gradients left over from earlier work, so zeroing only "
                                 "after the step is too late)") if number == 1 else ""
                    raise CheckFailed(f"did not zero the gradients before loss.backward() {where}{left_over}: "
                                      "call optimizer.zero_grad() in every batch, before loss.backward()")
                zeroed = False
            elif kind == "step" and "backward" not in order[:position]:
                raise CheckFailed(f"called optimizer.step() before loss.backward() {where}")


@_check("train_one_epoch")
def _check_train_one_epoch(train_one_epoch):
    # One call on the contract's network, which comes in evaluation mode and with gradients left over.
    model = _lesson_model(0)
    images, labels = _probe_data(model, 18, seed=0)
    log: list = []
    loader = _Loader(images, labels, 7, log)  # batches of 7, 7 and 4
    model.eval()  # train_one_epoch must switch it to training mode
    _stale_gradients(model, seed=5)
    start = _snapshot(model)
    settings = {"lr": 0.02, "momentum": 0.8}
    optimizer = torch.optim.SGD(model.parameters(), **settings)
    for owner, method in ((optimizer, "step"), (optimizer, "zero_grad"), (model, "zero_grad")):
        _log_calls(owner, method, log)  # model.zero_grad() is allowed too
    _watch(model, log)
    losses, correct, per_batch = [], [], []

    def recording_criterion(logits, labels):
        loss = F.cross_entropy(logits, labels)
        losses.append(loss.item())
        hits = (logits.argmax(1) == labels).sum().item()
        correct.append(hits)
        per_batch.append(100.0 * hits / len(labels))
        return loss

    result = train_one_epoch(model, loader, recording_criterion, optimizer)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"returned {result!r}, expected a tuple (mean loss, accuracy)")
    mean_loss, accuracy = _number(result[0], "the mean loss"), _number(result[1], "the accuracy")
    if not any(event[0] == "forward" for event in log):
        raise CheckFailed("never ran the model")
    _expect_one_pass(loader, log)
    _expect_contract_steps(log, len(loader))
    group = optimizer.param_groups[0]
    if len(optimizer.param_groups) != 1 or group["lr"] != settings["lr"] or group["momentum"] != settings["momentum"] \
            or len(group["params"]) != 10:
        raise CheckFailed(f"changed the optimizer (learning rate {group['lr']}, momentum {group['momentum']}, "
                          f"{len(optimizer.param_groups)} parameter group(s) afterwards; given: lr {settings['lr']}, "
                          f"momentum {settings['momentum']}, 1 group): use the optimizer as it is given")
    if len(losses) != len(loader):
        raise CheckFailed(f"computed the loss {len(losses)} times for {len(loader)} batches")
    sizes = [len(labels) for _, labels in loader.batches(1)]
    loss_hints = [("this is the sum of the batch losses: divide by the number of batches", sum(losses)),
                  ("this is the last batch's loss: average over all batches", losses[-1]),
                  ("this is the mean weighted by batch size; the assignment asks for the plain mean of the "
                   "batch losses (sum / number of batches)", sum(l * n for l, n in zip(losses, sizes)) / sum(sizes))]
    _expect_close(mean_loss, sum(losses) / len(losses), "mean loss", loss_hints, 1e-4)
    want_accuracy = 100.0 * sum(correct) / sum(sizes)
    _expect_close(accuracy, want_accuracy, "training accuracy",
                  _accuracy_hints(sum(correct), sum(sizes), per_batch), 1e-3)
    _expect_contract_weights(model, start, 5, settings, [loader.batches(1)],
                             "after one call (SGD with momentum, batches of 7, 7 and 4)")

    # Several epochs, as when training for real: the same model and optimizer, called once per epoch, on a
    # loader that reshuffles at every pass (as DataLoader(shuffle=True) does).
    model = _lesson_model(1)
    images, labels = _probe_data(model, 15, seed=1)
    generator = torch.Generator().manual_seed(2)
    loader = _Loader(images, labels, 6, [], orders=[torch.randperm(15, generator=generator) for _ in range(2)])
    start, settings = _snapshot(model), {"lr": 0.03, "momentum": 0.9}
    optimizer = torch.optim.SGD(model.parameters(), **settings)
    for _ in range(2):
        train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer)
    _expect_contract_weights(model, start, None, settings, [loader.batches(1), loader.batches(2)],
                             "after two calls (two epochs) on a loader that reshuffles at every pass")


@_check("evaluate")
def _check_evaluate(evaluate):
    for seed, mode in ((2, "training"), (3, "evaluation")):  # it must work whatever mode the model is in
        model = _lesson_model(seed)
        images, labels = _probe_data(model, 16, seed=seed)
        log: list = []
        loader = _Loader(images, labels, 6, log)  # batches of 6, 6 and 4
        model.train(mode == "training")
        _watch(model, log)
        before = _snapshot(model)
        got = _number(evaluate(model, loader), "the accuracy")
        forwards = [event for event in log if event[0] == "forward"]
        if not forwards:
            raise CheckFailed("never ran the model")
        if any(training for _, training, _ in forwards):
            raise CheckFailed(_with_hint("ran the model in training mode", _hints.words("no eval()")))
        if any(grad_on for _, _, grad_on in forwards):
            raise CheckFailed(_with_hint("ran the model with gradient tracking on", _hints.words("no no_grad")))
        _expect_one_pass(loader, log)
        if _different_weight(_snapshot(model), before) is not None:
            raise CheckFailed("changed the model's weights; evaluate only measures")
        with torch.no_grad():
            batches = loader.batches(1)
            hits = [(model(x).argmax(1) == y).sum().item() for x, y in batches]
        total = sum(len(y) for _, y in batches)
        per_batch = [100.0 * h / len(y) for h, (_, y) in zip(hits, batches)]
        _expect_close(got, 100.0 * sum(hits) / total, f"accuracy (model given in {mode} mode)",
                      _accuracy_hints(sum(hits), total, per_batch), 1e-3)


# --- part feature_maps -----------------------------------------------------------------------

class _LessonCNN(nn.Module):
    """The contract's architecture, for feature_maps (the graders pass a model like this one)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.pool1 = nn.Conv2d(1, 6, 5, padding=2), nn.MaxPool2d(2, 2)
        self.conv2, self.pool2 = nn.Conv2d(6, 16, 5), nn.MaxPool2d(2, 2)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        return _lesson_forward(self, x)


# Errors name a model's class ("'SimpleCNN' object has no attribute 'relu'"): name the one students know.
_LessonCNN.__name__ = _LessonCNN.__qualname__ = "SimpleCNN"


@_check("feature_maps")
def _check_feature_maps(feature_maps):
    # A model in evaluation mode, then one in training mode (the graders pass both): the maps are the
    # same either way here, and the model must leave as it came.
    for seed, mode in ((0, "evaluation"), (6, "training")):
        torch.manual_seed(seed)
        model, image = _LessonCNN(), _random(1, 28, 28, seed=seed)
        model.train(mode == "training")
        before = _snapshot(model)
        got = feature_maps(model, image.clone())
        if not isinstance(got, dict):
            raise CheckFailed(f"returned {type(got).__name__}, expected a dict")
        with torch.no_grad():
            raw1 = model.conv1(image[None])
            conv1 = torch.relu(raw1)
            pool1 = model.pool1(conv1)
            raw2 = model.conv2(pool1)
            conv2 = torch.relu(raw2)
            kept = _hints.words("batch dimension kept")
            map_hints = {"conv1": [(_hints.words("no ReLU after conv1"), raw1[0]), (kept, conv1)],
                         "pool1": [(_hints.words("pooled without ReLU"), model.pool1(raw1)[0]), (kept, pool1)],
                         "conv2": [(_hints.words("no ReLU after conv2"), raw2[0]),
                                   (_hints.words("conv2 without pooling first"), torch.relu(model.conv2(conv1))[0]),
                                   (kept, conv2)]}
        for key, want in [("conv1", conv1[0]), ("pool1", pool1[0]), ("conv2", conv2[0])]:
            if key not in got:
                raise CheckFailed(f"the result has no key {key!r} (keys: {sorted(map(str, got))})")
            if isinstance(got[key], torch.Tensor) and got[key].requires_grad:
                raise CheckFailed(f"{key!r} tracks gradients; compute the maps under torch.no_grad()")
            _same(got[key], want, f"the {key!r} maps of one image (model in {mode} mode)", hints=map_hints[key])
        if model.training != (mode == "training"):
            now = "training" if model.training else "evaluation"
            switch = "model.eval()" if mode == "training" else "model.train()"
            raise CheckFailed(_with_hint(
                f"switched a {mode}-mode model to {now} mode; leave the mode as it came",
                _hints.words("model.eval() inside feature_maps", switch=switch)))
        if _different_weight(_snapshot(model), before) is not None or any(
                not torch.equal(before[key], value) for key, value in model.state_dict().items()):
            raise CheckFailed(f"changed the model's weights (model in {mode} mode)")
