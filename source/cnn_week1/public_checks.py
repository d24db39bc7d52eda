"""Public checks for the CNN week-1 notebook: quick tests you can run as often as you like.

In the notebook, after each part::

    run_checks("manual_conv", globals())

prints one line per function of the part: ``✅ name: passed``, ``❌ name: <what is wrong>`` or
``⏳ name: not implemented yet``. It never raises, and returns True when every function passed.
The graders run more tests than these, so passing here is necessary, not sufficient.

From a terminal, ``pytest test_public_checks.py`` runs the same checks on the notebook beside it.

PyTorch's own functions serve as the reference ("oracle") here; they are never used to fill in your
answers. Each check is one function registered for one contract name in ``CHECKS``.
"""
from __future__ import annotations

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

# Library routines that would do the work of a "by hand" function (the assignment's rules).
_BANNED = ("conv", "unfold", "pool")
_BANNED_IN_ZERO_PAD = _BANNED + ("pad",)


class CheckFailed(AssertionError):
    """A check found a wrong result; the message says what, in plain words."""


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


def run_checks(part: str, namespace: dict) -> bool:
    """Check every function of ``part`` found in ``namespace`` (pass ``globals()``); print one line each."""
    names = PARTS.get(part)
    if names is None:
        print(f"❌ unknown part {part!r}; the parts are: {', '.join(PARTS)}")
        return False
    results = [_run_one(name, namespace) for name in names]
    return all(results)


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
        return False
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # the student's own error: show it, never stop the notebook
        where = traceback.extract_tb(error.__traceback__)[-1]
        print(f"❌ {name}: raised {type(error).__name__}: {error} (line {where.lineno}, in {where.name})")
        return False
    print(f"✅ {name}: passed")
    return True


@contextmanager
def not_done_yet_is_ok():
    """For demo cells: a stub's NotImplementedError prints one ⏳ line; any other error still shows."""
    try:
        yield
    except NotImplementedError as error:
        name = _unfinished_name(error)
        print(f"⏳ {name} is not implemented yet — fill in its cell above, then re-run this cell.")


def _unfinished_name(error: BaseException) -> str:
    """The contract name whose stub raised: the innermost frame that is a contract function or method."""
    for frame, _ in reversed(list(traceback.walk_tb(error.__traceback__))):
        function = frame.f_code.co_name
        if function in ALL_NAMES:
            return function
        owner = frame.f_locals.get("self")
        if owner is not None and type(owner).__name__ in ALL_NAMES:
            return type(owner).__name__
    return "a function this cell uses"


# --- comparing -------------------------------------------------------------------------------

def _as_tensor(got, what: str) -> torch.Tensor:
    if isinstance(got, np.ndarray):
        raise CheckFailed(f"returned a numpy array for {what}; return a torch tensor "
                          "(torch.from_numpy(array) converts one)")
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"returned {type(got).__name__} for {what}, expected a torch tensor")
    return got.detach()


def _same(got, want: torch.Tensor, what: str, dtype: torch.dtype = torch.float32) -> None:
    """Fail unless ``got`` is a tensor of want's shape and ``dtype`` with (nearly) want's values."""
    got = _as_tensor(got, what)
    if tuple(got.shape) != tuple(want.shape):
        raise CheckFailed(f"returned shape {tuple(got.shape)}, expected {tuple(want.shape)} for {what}")
    if got.dtype != dtype:
        raise CheckFailed(f"returned dtype {got.dtype}, expected {dtype} for {what}")
    close = torch.isclose(got.double(), want.double(), rtol=1e-4, atol=1e-4)
    if not bool(close.all()):
        position = tuple(int(i) for i in torch.nonzero(~close)[0])
        raise CheckFailed(f"wrong value at position {position} for {what}: "
                          f"got {got[position].item():.6g}, expected {want[position].item():.6g}")


def _raises_value_error(function: Callable, args: tuple, what: str) -> None:
    try:
        result = function(*args)
    except ValueError:
        return
    raise CheckFailed(f"expected ValueError for {what}, but it returned {result!r}")


def _forbid_library_routines(name: str, function: Callable, *args, **kwargs):
    """Call ``function`` and fail if it used a routine that does the work for it."""
    banned = _BANNED_IN_ZERO_PAD if name == "zero_pad" else _BANNED
    used = _record_torch_calls(function, *args, **kwargs)[1]
    for call in used:
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


def _two_squares(n: int) -> torch.Tensor:
    half = n // 2
    picture = torch.zeros(n, n)
    picture[:half, :half] = 1.0
    picture[half:, half:] = 1.0
    return picture


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- part manual_conv ------------------------------------------------------------------------

@_check("vertical_edge_filter")
def _check_vertical(vertical_edge_filter):
    _same(vertical_edge_filter(), torch.tensor([[1.0, 0, -1]] * 3), "the vertical edge filter")


@_check("horizontal_edge_filter")
def _check_horizontal(horizontal_edge_filter):
    want = torch.tensor([[1.0, 1, 1], [0, 0, 0], [-1, -1, -1]])
    _same(horizontal_edge_filter(), want, "the horizontal edge filter")


@_check("sobel_filter")
def _check_sobel(sobel_filter):
    horizontal = torch.tensor([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]])
    _same(sobel_filter(), horizontal, "sobel_filter() (default direction)")
    _same(sobel_filter("horizontal"), horizontal, 'sobel_filter("horizontal")')
    _same(sobel_filter("vertical"), horizontal.t(), 'sobel_filter("vertical")')
    _raises_value_error(sobel_filter, ("diagonal",), 'sobel_filter("diagonal")')


@_check("conv2d_single")
def _check_conv2d_single(conv2d_single):
    kernel = torch.tensor([[1.0, 0, -1]] * 3)
    cases = [(_two_squares(6), kernel, 1, 0), (_two_squares(6), kernel, 1, 1), (_two_squares(6), kernel, 2, 0),
             (_random(7, 5), _random(2, 3, seed=1), 2, 1), (_random(9, 8), _random(4, 4, seed=2), 3, 2)]
    for image, weights, stride, padding in cases:
        what = (f"a {image.shape[0]}×{image.shape[1]} image, a {weights.shape[0]}×{weights.shape[1]} kernel, "
                f"stride {stride}, padding {padding}")
        want = F.conv2d(image[None, None], weights[None, None], stride=stride, padding=padding)[0, 0]
        _same(conv2d_single(image, weights, stride=stride, padding=padding), want, what)
    _forbid_library_routines("conv2d_single", conv2d_single, _two_squares(6), kernel, stride=1, padding=1)


@_check("conv2d_volume")
def _check_conv2d_volume(conv2d_volume):
    volume, filters, bias = _random(3, 6, 6), _random(2, 3, 3, 3, seed=1), _random(2, seed=2)
    want = F.conv2d(volume[None], filters)[0]
    _same(conv2d_volume(volume, filters), want, "a 6×6×3 volume and two 3×3×3 filters, no bias")
    for stride, padding in [(1, 1), (2, 1), (3, 2)]:
        want = F.conv2d(volume[None], filters, bias, stride=stride, padding=padding)[0]
        got = conv2d_volume(volume, filters, bias, stride=stride, padding=padding)
        _same(got, want, f"a 6×6×3 volume, two 3×3×3 filters with bias, stride {stride}, padding {padding}")
    rectangular = _random(4, 2, 2, 3, seed=3)
    want = F.conv2d(volume[None, :2], rectangular)[0]
    _same(conv2d_volume(volume[:2], rectangular), want, "a 6×6×2 volume and four 2×3 filters")
    _forbid_library_routines("conv2d_volume", conv2d_volume, volume, filters, bias, stride=1, padding=1)


# --- part output_size ------------------------------------------------------------------------

@_check("conv_output_size")
def _check_conv_output_size(conv_output_size):
    for n, f, padding, stride in [(6, 3, 0, 1), (6, 3, 1, 1), (6, 3, 0, 2), (7, 3, 0, 2), (28, 5, 2, 1),
                                  (14, 5, 0, 1), (5, 5, 0, 1), (10, 3, 1, 3)]:
        want = (n + 2 * padding - f) // stride + 1
        got = conv_output_size(n, f, padding, stride)
        if not isinstance(got, int) or got != want:
            raise CheckFailed(f"conv_output_size(n={n}, f={f}, padding={padding}, stride={stride}) "
                              f"returned {got!r}, expected the int {want}")
    for args, what in [((5, 7, 0, 1), "a 7-wide filter on a 5-wide input"), ((6, 0, 0, 1), "f = 0"),
                       ((6, 3, 0, 0), "stride 0"), ((6, 3, -1, 1), "padding -1")]:
        _raises_value_error(conv_output_size, args, what)


@_check("same_padding")
def _check_same_padding(same_padding):
    for f in (1, 3, 5, 7):
        if same_padding(f) != (f - 1) // 2:
            raise CheckFailed(f"same_padding({f}) returned {same_padding(f)!r}, expected {(f - 1) // 2}")
    for f in (2, 4, 0, -3):
        _raises_value_error(same_padding, (f,), f"f = {f}")


@_check("zero_pad")
def _check_zero_pad(zero_pad):
    image = torch.arange(1.0, 7.0).view(2, 3)
    _same(zero_pad(image, 1), F.pad(image, (1, 1, 1, 1)), "a 2×3 image padded by 1")
    batch = torch.arange(120, dtype=torch.int64).view(2, 3, 4, 5)
    _same(zero_pad(batch, 2), F.pad(batch, (2, 2, 2, 2)), "an int64 (2, 3, 4, 5) batch padded by 2",
          dtype=torch.int64)
    _same(zero_pad(image, 0), image, "pad = 0")
    _raises_value_error(zero_pad, (image, -1), "pad = -1")
    _forbid_library_routines("zero_pad", zero_pad, image, 1)


# --- part pooling ----------------------------------------------------------------------------

def _check_pooling(name: str, mine: Callable, oracle: Callable, counting_result: list):
    counting = torch.arange(1.0, 17.0).view(4, 4)
    _same(mine(counting), torch.tensor(counting_result), "the 4×4 map 1..16 with size 2, stride 2")
    volume = _random(3, 7, 7)
    for size, stride in [(2, 2), (3, 2), (2, 1)]:
        _same(mine(volume, size, stride), oracle(volume, size, stride),
              f"a (3, 7, 7) volume with size {size}, stride {stride}")
    _forbid_library_routines(name, mine, volume, 2, 2)


@_check("max_pool2d")
def _check_max_pool2d(max_pool2d):
    _check_pooling("max_pool2d", max_pool2d, F.max_pool2d, [[6.0, 8.0], [14.0, 16.0]])


@_check("avg_pool2d")
def _check_avg_pool2d(avg_pool2d):
    _check_pooling("avg_pool2d", avg_pool2d, F.avg_pool2d, [[3.5, 5.5], [11.5, 13.5]])


# --- part simple_cnn -------------------------------------------------------------------------

_LAYER_PARAMETERS = {"conv1": 156, "conv2": 2416, "fc1": 48120, "fc2": 10164, "fc3": 850}


@_check("SimpleCNN")
def _check_simple_cnn(SimpleCNN):
    torch.manual_seed(0)
    model = SimpleCNN()
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
    logits = model(_random(2, 1, 28, 28))
    _as_tensor(logits, "a batch of 2 images")
    if tuple(logits.shape) != (2, 10):
        raise CheckFailed(f"forward returned shape {tuple(logits.shape)} for a (2, 1, 28, 28) batch, "
                          "expected (2, 10)")


# --- part training_loop ----------------------------------------------------------------------

def _tiny_loader(n_batches: int = 4, batch_size: int = 8, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch_size, 1, 28, 28, generator=generator),
             torch.randint(0, 10, (batch_size,), generator=generator)) for _ in range(n_batches)]


def _tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))


@_check("train_one_epoch")
def _check_train_one_epoch(train_one_epoch):
    model, loader = _tiny_model(), _tiny_loader()
    model.eval()  # train_one_epoch must switch it to training mode
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    counts = {"step": 0, "zero_grad": 0}
    losses, correct = [], []
    real_step, real_zero_grad = optimizer.step, optimizer.zero_grad

    def counted_step(*args, **kwargs):
        counts["step"] += 1
        return real_step(*args, **kwargs)

    def counted_zero_grad(*args, **kwargs):
        counts["zero_grad"] += 1
        return real_zero_grad(*args, **kwargs)

    def recording_criterion(logits, labels):
        loss = F.cross_entropy(logits, labels)
        losses.append(loss.item())
        correct.append((logits.argmax(1) == labels).sum().item())
        return loss

    optimizer.step, optimizer.zero_grad = counted_step, counted_zero_grad
    model.zero_grad = counted_zero_grad  # model.zero_grad() is allowed too
    result = train_one_epoch(model, loader, recording_criterion, optimizer)
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailed(f"returned {result!r}, expected a tuple (mean loss, accuracy)")
    mean_loss, accuracy = (float(value) for value in result)
    if not model.training:
        raise CheckFailed("left the model in evaluation mode; call model.train() at the start")
    if counts["step"] != len(loader):
        raise CheckFailed(f"called optimizer.step() {counts['step']} times for {len(loader)} batches; "
                          "expected once per batch")
    if counts["zero_grad"] < len(loader):
        raise CheckFailed(f"zeroed the gradients {counts['zero_grad']} times for {len(loader)} batches; "
                          "call optimizer.zero_grad() once per batch, before backward()")
    if len(losses) != len(loader):
        raise CheckFailed(f"computed the loss {len(losses)} times for {len(loader)} batches")
    want_loss = sum(losses) / len(losses)
    if abs(mean_loss - want_loss) > 1e-4:
        raise CheckFailed(f"returned mean loss {mean_loss:.6f}, expected {want_loss:.6f} "
                          "(sum of the batch losses / number of batches)")
    want_accuracy = 100.0 * sum(correct) / sum(len(labels) for _, labels in loader)
    if abs(accuracy - want_accuracy) > 1e-3:
        raise CheckFailed(f"returned accuracy {accuracy:.4f}, expected {want_accuracy:.4f} "
                          "(in percent, 0-100, over all training images)")


@_check("evaluate")
def _check_evaluate(evaluate):
    model, loader = _tiny_model(), _tiny_loader(seed=1)
    grad_modes = []
    model.register_forward_hook(lambda module, inputs, output: grad_modes.append(torch.is_grad_enabled()))
    model.train()  # evaluate must switch it to evaluation mode
    got = evaluate(model, loader)
    if isinstance(got, torch.Tensor) and got.dim() == 0:
        got = got.item()
    if not isinstance(got, (int, float)):
        raise CheckFailed(f"returned {type(got).__name__}, expected a Python float")
    if model.training:
        raise CheckFailed("left the model in training mode; call model.eval() first")
    if not grad_modes or any(grad_modes):
        raise CheckFailed("ran the model with gradient tracking on; wrap the loop in torch.no_grad()")
    with torch.no_grad():
        n_correct = sum((model(images).argmax(1) == labels).sum().item() for images, labels in loader)
    want = 100.0 * n_correct / sum(len(labels) for _, labels in loader)
    if abs(got - want) > 1e-3:
        raise CheckFailed(f"returned {got:.4f}, expected {want:.4f} (accuracy in percent, 0-100)")


# --- part feature_maps -----------------------------------------------------------------------

def _probe_model() -> nn.Module:
    """Just the layers feature_maps uses, with the contract's shapes (not a full SimpleCNN)."""
    torch.manual_seed(0)
    probe = nn.Module()
    probe.conv1, probe.pool1 = nn.Conv2d(1, 6, 5, padding=2), nn.MaxPool2d(2, 2)
    probe.conv2 = nn.Conv2d(6, 16, 5)
    return probe


@_check("feature_maps")
def _check_feature_maps(feature_maps):
    model, image = _probe_model(), _random(1, 28, 28)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    model.eval()
    got = feature_maps(model, image)
    if not isinstance(got, dict):
        raise CheckFailed(f"returned {type(got).__name__}, expected a dict")
    with torch.no_grad():
        conv1 = torch.relu(model.conv1(image[None]))
        pool1 = model.pool1(conv1)
        conv2 = torch.relu(model.conv2(pool1))
    for key, want in [("conv1", conv1[0]), ("pool1", pool1[0]), ("conv2", conv2[0])]:
        if key not in got:
            raise CheckFailed(f"the result has no key {key!r} (keys: {sorted(got)})")
        if isinstance(got[key], torch.Tensor) and got[key].requires_grad:
            raise CheckFailed(f"{key!r} tracks gradients; compute the maps under torch.no_grad()")
        _same(got[key], want, f"the {key!r} maps of one image")
    if model.training:
        raise CheckFailed("switched an eval-mode model to training mode; leave the mode unchanged")
    if any(not torch.equal(before[key], value) for key, value in model.state_dict().items()):
        raise CheckFailed("changed the model's weights")
