"""Public checks for the CNN week-1 notebook: quick tests you can run as often as you like.

In the notebook, after each part::

    run_checks("manual_conv", globals())

prints one line per function of the part: ``✅ name: passed``, ``❌ name: <what is wrong>`` (with a
``Hint:`` line when your result matches a classic mistake, and a picture for the lesson's images) or
``⏳ name: not implemented yet``; when all pass, a closing line says what the hidden graders add. It
never raises, and its result is true when every function passed.

These checks use the lesson's own examples. The hidden graders test more cases (random sizes, strides,
paddings, weights), so passing here is necessary, not sufficient.

From a terminal, ``pytest test_public_checks.py`` runs the same checks on the notebook beside it.

PyTorch's own functions serve as the reference ("oracle") and compute the classic mistakes that the
hints recognise; they are never used to fill in your answers. Each check is one function registered
for one contract name in ``CHECKS``.
"""
from __future__ import annotations

import os
import sys
import sysconfig
import traceback
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

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

# What the hidden graders test beyond these checks, per part (printed when a part passes).
MORE_IN_HIDDEN = {
    "manual_conv": "random sizes, strides, paddings and biases",
    "output_size": "more sizes, dimensions and error cases",
    "pooling": "random sizes, windows and strides",
    "simple_cnn": "layer settings, and logits against a reference model",
    "training_loop": "the weights after training, and an MNIST accuracy gate",
    "feature_maps": "random weights, in training and evaluation mode",
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
    CHECKS[name](obj)


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


def _student_line(error: BaseException) -> str:
    """`` (line N of your `function`: `code`)``: the innermost frame of the student's own code, or ''.

    Frames of PyTorch, Python and these checks are skipped, so the line is the student's, never a
    library's internals."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not _is_library_file(frame.filename)]
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
            what = f"raised {_describe(error, 200)}{_student_line(error)}"
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
          shown=None) -> None:
    """Fail unless ``got`` is a tensor of want's shape and ``dtype`` with (nearly) want's values.

    ``hints``: (message, result of that mistake) pairs; ``shown``: the input, to draw on failure.
    """
    got = _as_tensor(got, what)
    hint = _matching_hint(got, hints)
    figure = None if shown is None else (what, shown, want, got)
    if tuple(got.shape) != tuple(want.shape):
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


def _raises_value_error(function: Callable, args: tuple, what: str) -> None:
    try:
        result = function(*args)
    except ValueError:
        return
    raise CheckFailed(f"expected ValueError for {what}, but it returned {result!r}")


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
    return [("rows and columns seem swapped (that is the other direction's filter)", want.t()),
            ("the signs seem reversed", -want)]


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
    _raises_value_error(sobel_filter, ("diagonal",), 'sobel_filter("diagonal")')


def _conv(x: torch.Tensor, w: torch.Tensor, bias=None, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """The oracle on (C, H, W) input and (F, C, kh, kw) filters."""
    return F.conv2d(x[None], w, bias, stride=stride, padding=padding)[0]


def _conv_mistakes(x, w, bias, stride, padding) -> list:
    """(hint, result of that classic mistake) for one convolution, on (C, H, W) and (F, C, kh, kw)."""
    want = _conv(x, w, bias, stride, padding)
    two = 2 * padding
    mistakes = [
        ("your kernel seems flipped (rotated 180°) — deep learning's convolution is cross-correlation, "
         "as in F.conv2d: do not flip", lambda: _conv(x, w.flip(-2, -1), bias, stride, padding)),
        ("the bias seems ignored: add bias[f] to every value of map f",
         lambda: _conv(x, w, None, stride, padding) if bias is not None else None),
        ("the stride seems ignored (this is the stride-1 result)",
         lambda: _conv(x, w, bias, 1, padding) if stride > 1 else None),
        ("the windows move by 1 pixel instead of by the stride",
         lambda: _conv(x, w, bias, 1, padding)[:, :want.shape[1], :want.shape[2]] if stride > 1 else None),
        ("the padding seems ignored", lambda: _conv(x, w, bias, stride, 0) if padding else None),
        ("the zeros seem added on the bottom and right only; pad all four sides equally",
         lambda: _conv(F.pad(x, (0, two, 0, two)), w, bias, stride) if padding else None),
        ("the zeros seem added on the top and left only; pad all four sides equally",
         lambda: _conv(F.pad(x, (two, 0, two, 0)), w, bias, stride) if padding else None),
        ("the output is one row and one column short: the size formula ends with + 1",
         lambda: want[:, :-1, :-1]),
        ("only the first channel seems used: a filter spans all input channels",
         lambda: _conv(x[:1], w[:, :1], bias, stride, padding) if x.shape[0] > 1 else None),
    ]
    found = []
    for message, compute in mistakes:
        try:
            alternative = compute()
        except RuntimeError:  # that mistake cannot even run here
            alternative = None
        if alternative is not None:
            found.append((message, alternative))
    return found


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


@_check("conv2d_single")
def _check_conv2d_single(conv2d_single):
    for what, image, kernel, stride, padding in LESSON_CONVOLUTIONS:
        x, w = image[None], kernel[None, None]
        hints = [(message, alternative[0]) for message, alternative in _conv_mistakes(x, w, None, stride, padding)]
        got = conv2d_single(image.clone(), kernel.clone(), stride=stride, padding=padding)
        _same(got, _conv(x, w, None, stride, padding)[0], what, hints=hints, shown=image)
    _forbid_library_routines("conv2d_single", conv2d_single, _two_squares(6), VERTICAL.clone(), stride=1, padding=1)


@_check("conv2d_volume")
def _check_conv2d_volume(conv2d_volume):
    generator = torch.Generator().manual_seed(1)  # the lesson's demo: a 6×6×3 "image" and two 3×3×3 filters
    volume = torch.rand(3, 6, 6, generator=generator)
    filters = torch.randn(2, 3, 3, 3, generator=generator)
    bias = torch.tensor([0.5, -1.0])
    what = "the lesson's 6×6×3 volume and two 3×3×3 filters, no bias"
    _same(conv2d_volume(volume, filters), _conv(volume, filters), what,
          hints=_conv_mistakes(volume, filters, None, 1, 0))
    for stride, padding in [(1, 0), (1, 1), (2, 1)]:
        what = f"the lesson's 6×6×3 volume, two 3×3×3 filters, bias {bias.tolist()}, stride {stride}, padding {padding}"
        got = conv2d_volume(volume, filters, bias, stride=stride, padding=padding)
        _same(got, _conv(volume, filters, bias, stride, padding), what,
              hints=_conv_mistakes(volume, filters, bias, stride, padding))
    rectangular = _random(4, 2, 2, 3, seed=3)
    _same(conv2d_volume(volume[:2], rectangular), _conv(volume[:2], rectangular),
          "a 6×6×2 volume and four 2×3 filters (kh = 2, kw = 3)", hints=_conv_mistakes(volume[:2], rectangular, None, 1, 0))
    _forbid_library_routines("conv2d_volume", conv2d_volume, volume, filters, bias, stride=1, padding=1)


# --- part output_size ------------------------------------------------------------------------

def _size_mistakes(n: int, f: int, padding: int, stride: int) -> list:
    return [("the + 1 of the formula seems missing", (n + 2 * padding - f) // stride),
            ("this is true division (/): the formula rounds down, use //", (n + 2 * padding - f) / stride + 1),
            ("the padding seems counted once; it is added on both sides: n + 2p",
             (n + padding - f) // stride + 1),
            ("the padding seems ignored", (n - f) // stride + 1 if n >= f else None)]


@_check("conv_output_size")
def _check_conv_output_size(conv_output_size):
    # The lesson's examples (sections 3 and 5).
    for n, f, padding, stride in [(6, 3, 0, 1), (6, 3, 1, 1), (6, 3, 0, 2), (7, 3, 0, 2), (28, 5, 2, 1),
                                  (14, 5, 0, 1)]:
        want = (n + 2 * padding - f) // stride + 1
        got = conv_output_size(n, f, padding, stride)
        call = f"conv_output_size(n={n}, f={f}, padding={padding}, stride={stride})"
        if isinstance(got, bool) or not isinstance(got, int):
            hint = "use // (floor division), or int(...)" if isinstance(got, float) and got == want else None
            if isinstance(got, float) and got == (n + 2 * padding - f) / stride + 1 and got != want:
                hint = "this is true division (/): the formula rounds down, use //"
            raise CheckFailed(_with_hint(f"{call} returned {got!r} ({type(got).__name__}), "
                                         f"expected the int {want}", hint))
        if got != want:
            hint = next((m for m, value in _size_mistakes(n, f, padding, stride) if value == got), None)
            raise CheckFailed(_with_hint(f"{call} returned {got}, expected {want}", hint))
    for args, what in [((5, 7, 0, 1), "a 7-wide filter on a 5-wide input"), ((6, 0, 0, 1), "f = 0"),
                       ((6, 3, 0, 0), "stride 0"), ((6, 3, -1, 1), "padding -1")]:
        _raises_value_error(conv_output_size, args, what)


@_check("same_padding")
def _check_same_padding(same_padding):
    for f in (1, 3, 5):
        got = same_padding(f)
        if isinstance(got, bool) or not isinstance(got, int) or got != (f - 1) // 2:
            hint = "return an int: use // instead of /" if got == (f - 1) // 2 else None
            raise CheckFailed(_with_hint(f"same_padding({f}) returned {got!r}, expected the int {(f - 1) // 2}",
                                         hint))
    for f in (2, 4, 0):
        _raises_value_error(same_padding, (f,), f"f = {f}")


def _pad_mistakes(x: torch.Tensor, pad: int) -> list:
    two = 2 * pad
    return [("the zeros seem added on the bottom and right only; add pad rings on every side",
             F.pad(x, (0, two, 0, two))),
            ("the zeros seem added on the top and left only; add pad rings on every side",
             F.pad(x, (two, 0, two, 0))),
            ("the leading dimensions seem padded too; pad only the last two (height and width)",
             F.pad(x, (pad, pad) * x.dim()) if x.dim() > 2 else None)]


@_check("zero_pad")
def _check_zero_pad(zero_pad):
    image = torch.arange(1.0, 10.0).view(3, 3)  # the lesson's demo
    _same(zero_pad(image, 1), F.pad(image, (1, 1, 1, 1)), "the lesson's 3×3 image 1..9 padded by 1",
          hints=_pad_mistakes(image, 1), shown=image)
    batch = torch.arange(120, dtype=torch.int64).view(2, 3, 4, 5)
    _same(zero_pad(batch, 2), F.pad(batch, (2, 2, 2, 2)), "an int64 (2, 3, 4, 5) batch padded by 2",
          dtype=torch.int64, hints=_pad_mistakes(batch, 2))
    _same(zero_pad(image, 0), image, "pad = 0")
    _raises_value_error(zero_pad, (image, -1), "pad = -1")
    _forbid_library_routines("zero_pad", zero_pad, image, 1)


# --- part pooling ----------------------------------------------------------------------------

def _pool(name: str, x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    oracle = F.max_pool2d if name == "max_pool2d" else F.avg_pool2d
    return oracle(x[None], size, stride)[0] if x.dim() == 2 else oracle(x, size, stride)


def _pool_mistakes(name: str, x: torch.Tensor, size: int, stride: int) -> list:
    want = _pool(name, x, size, stride)
    other = "avg_pool2d" if name == "max_pool2d" else "max_pool2d"
    hints = [(f"this is the other pooling ({'mean' if name == 'max_pool2d' else 'max'} of each window)",
              _pool(other, x, size, stride))]
    if name == "avg_pool2d":
        hints.append(("each window seems summed instead of averaged: divide by size * size",
                      want * size * size))
    if stride != 1:
        moved = _pool(name, x, size, 1)
        hints += [("the stride seems ignored: the windows move by 1 pixel", moved),
                  ("the windows move by 1 pixel instead of by the stride", moved[..., :want.shape[-2], :want.shape[-1]])]
    if stride != size:
        hints.append(("the stride seems taken equal to the window size", _pool(name, x, size, size)))
    if want.shape[-1] > 1 and want.shape[-2] > 1:
        hints.append(("the output is one row and one column short: the size formula ends with + 1",
                      want[..., :-1, :-1]))
    return hints


def _check_pooling(name: str, mine: Callable):
    # Only the lesson's 4×4 map 1..16 (the hidden graders use other sizes).
    volume = torch.stack([COUNTING, COUNTING.flip(-1)])  # (2, 4, 4): the map and its mirror image
    cases = [(COUNTING, (), 2, 2, "the lesson's 4×4 map 1..16 with the default size 2, stride 2"),
             (COUNTING, (2, 1), 2, 1, "the 4×4 map 1..16 with size 2, stride 1 (overlapping windows)"),
             (COUNTING, (3, 1), 3, 1, "the 4×4 map 1..16 with size 3, stride 1"),
             (volume, (), 2, 2, "a (2, 4, 4) volume: the map 1..16 and its mirror image, default size and stride")]
    for x, args, size, stride, what in cases:
        _same(mine(x.clone(), *args), _pool(name, x, size, stride), what,
              hints=_pool_mistakes(name, x, size, stride), shown=x)
    _forbid_library_routines(name, mine, volume, 2, 2)


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


@_check("SimpleCNN")
def _check_simple_cnn(SimpleCNN):
    torch.manual_seed(0)
    model = SimpleCNN()
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"SimpleCNN() built a {type(model).__name__}; SimpleCNN must subclass nn.Module")
    for name in ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"):
        if not isinstance(getattr(model, name, None), nn.Module):
            raise CheckFailed(f"has no submodule named {name!r} (self.{name} = ... in __init__)")
    for name, want in _LAYER_PARAMETERS.items():
        got = sum(p.numel() for p in getattr(model, name).parameters())
        if got != want:
            raise CheckFailed(f"{name} has {got:,} parameters, expected {want:,}")
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if total != 61706:
        raise CheckFailed(f"has {total:,} trainable parameters in all, expected 61,706 "
                          "(no extra layers with parameters)")
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


# --- part training_loop ----------------------------------------------------------------------

def _tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))


def _tiny_loader(model: nn.Module, sizes=(8, 8, 4), seed: int = 0):
    """Random batches of unequal sizes (so a size-weighted mean differs from the plain mean of the
    batch losses) where half the labels agree with the model (so the accuracy is not 0)."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for n in sizes:
        images = torch.randn(n, 1, 28, 28, generator=generator)
        labels = torch.randint(0, 10, (n,), generator=generator)
        with torch.no_grad():
            labels[: n // 2] = model(images[: n // 2]).argmax(1)
        batches.append((images, labels))
    return batches


def _watch_forwards(model: nn.Module) -> list:
    """(training mode, gradients on) of every forward pass of ``model``, in order."""
    seen = []
    model.register_forward_hook(lambda module, inputs, output: seen.append((module.training,
                                                                            torch.is_grad_enabled())))
    return seen


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


@_check("train_one_epoch")
def _check_train_one_epoch(train_one_epoch):
    model = _tiny_model()
    loader = _tiny_loader(model)
    model.eval()  # train_one_epoch must switch it to training mode
    forwards = _watch_forwards(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    events, losses, correct, per_batch = [], [], [], []
    real_step, real_zero_grad = optimizer.step, optimizer.zero_grad

    def counted_step(*args, **kwargs):
        events.append("step")
        return real_step(*args, **kwargs)

    def counted_zero_grad(*args, **kwargs):
        events.append("zero_grad")
        return real_zero_grad(*args, **kwargs)

    def recording_criterion(logits, labels):
        loss = F.cross_entropy(logits, labels)
        losses.append(loss.item())
        hits = (logits.argmax(1) == labels).sum().item()
        correct.append(hits)
        per_batch.append(100.0 * hits / len(labels))
        return loss

    optimizer.step, optimizer.zero_grad = counted_step, counted_zero_grad
    model.zero_grad = counted_zero_grad  # model.zero_grad() is allowed too
    result = train_one_epoch(model, loader, recording_criterion, optimizer)
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailed(f"returned {result!r}, expected a tuple (mean loss, accuracy)")
    mean_loss, accuracy = _number(result[0], "the mean loss"), _number(result[1], "the accuracy")
    if not forwards:
        raise CheckFailed("never ran the model")
    if not all(training for training, _ in forwards):
        raise CheckFailed("ran the model in evaluation mode; the model came in evaluation mode, so call "
                          "model.train() at the start of train_one_epoch")
    if not all(grad_on for _, grad_on in forwards):
        raise CheckFailed("ran the model without gradient tracking (inside no_grad), so it cannot learn")
    steps = events.count("step")
    if steps != len(loader):
        raise CheckFailed(f"called optimizer.step() {steps} times for {len(loader)} batches; expected once per batch")
    since_step = []  # each step needs a zero_grad since the previous one (before its backward)
    for event in events:
        if event == "step" and "zero_grad" not in since_step:
            raise CheckFailed("a step ran without zeroing the gradients first, so gradients add up from batch "
                              "to batch: call optimizer.zero_grad() in every batch, before loss.backward()")
        since_step = [] if event == "step" else since_step + [event]
    if len(losses) != len(loader):
        raise CheckFailed(f"computed the loss {len(losses)} times for {len(loader)} batches")
    sizes = [len(labels) for _, labels in loader]
    loss_hints = [("this is the sum of the batch losses: divide by the number of batches", sum(losses)),
                  ("this is the last batch's loss: average over all batches", losses[-1]),
                  ("this is the mean weighted by batch size; the assignment asks for the plain mean of the "
                   "batch losses (sum / number of batches)", sum(l * n for l, n in zip(losses, sizes)) / sum(sizes))]
    _expect_close(mean_loss, sum(losses) / len(losses), "mean loss", loss_hints, 1e-4)
    want_accuracy = 100.0 * sum(correct) / sum(sizes)
    _expect_close(accuracy, want_accuracy, "training accuracy",
                  _accuracy_hints(sum(correct), sum(sizes), per_batch), 1e-3)


@_check("evaluate")
def _check_evaluate(evaluate):
    model = _tiny_model()
    loader = _tiny_loader(model, sizes=(8, 4, 4), seed=1)
    model.train()  # evaluate must switch it to evaluation mode
    forwards = _watch_forwards(model)
    got = _number(evaluate(model, loader), "the accuracy")
    if not forwards:
        raise CheckFailed("never ran the model")
    if any(training for training, _ in forwards):
        raise CheckFailed("ran the model in training mode; the model came in training mode, so call "
                          "model.eval() first")
    if any(grad_on for _, grad_on in forwards):
        raise CheckFailed("ran the model with gradient tracking on; wrap the loop in torch.no_grad()")
    with torch.no_grad():
        hits = [(model(images).argmax(1) == labels).sum().item() for images, labels in loader]
    total = sum(len(labels) for _, labels in loader)
    per_batch = [100.0 * h / len(labels) for h, (_, labels) in zip(hits, loader)]
    _expect_close(got, 100.0 * sum(hits) / total, "accuracy", _accuracy_hints(sum(hits), total, per_batch), 1e-3)


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
    torch.manual_seed(0)
    model, image = _LessonCNN(), _random(1, 28, 28)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    model.eval()
    got = feature_maps(model, image)
    if not isinstance(got, dict):
        raise CheckFailed(f"returned {type(got).__name__}, expected a dict")
    with torch.no_grad():
        raw1 = model.conv1(image[None])
        conv1 = torch.relu(raw1)
        pool1 = model.pool1(conv1)
        raw2 = model.conv2(pool1)
        conv2 = torch.relu(raw2)
        hints = {"conv1": [("the ReLU seems missing: relu(model.conv1(...))", raw1[0]),
                           ("the batch dimension seems kept: drop it with [0] or .squeeze(0)", conv1)],
                 "pool1": [("it seems pooled from conv1 without the ReLU", model.pool1(raw1)[0]),
                           ("the batch dimension seems kept: drop it with [0] or .squeeze(0)", pool1)],
                 "conv2": [("the ReLU seems missing: relu(model.conv2(...))", raw2[0]),
                           ("it seems computed from conv1 without pooling first", torch.relu(model.conv2(conv1))[0]),
                           ("the batch dimension seems kept: drop it with [0] or .squeeze(0)", conv2)]}
    for key, want in [("conv1", conv1[0]), ("pool1", pool1[0]), ("conv2", conv2[0])]:
        if key not in got:
            raise CheckFailed(f"the result has no key {key!r} (keys: {sorted(map(str, got))})")
        if isinstance(got[key], torch.Tensor) and got[key].requires_grad:
            raise CheckFailed(f"{key!r} tracks gradients; compute the maps under torch.no_grad()")
        _same(got[key], want, f"the {key!r} maps of one image (model in evaluation mode)", hints=hints[key])
    if model.training:
        raise CheckFailed("switched an eval-mode model to training mode; leave the mode unchanged")
    if any(not torch.equal(before[key], value) for key, value in model.state_dict().items()):
        raise CheckFailed("changed the model's weights")
