"""The classic mistakes of CNN week 1, each defined once: its key, its words, and what it computes.

The notebook's check cells and ``pytest test_public_checks.py`` (through ``public_checks.py``) and the
hidden graders use this one file, so one mistake gets one diagnosis and the same words wherever it is
caught. A mistake's *key* ("flipped kernel") names it; with the function it was made in it is the
grader's diagnosis, ``diagnosis("conv2d_single", "flipped kernel")`` = "conv2d_single: flipped kernel",
which lets the grader charge one mistake once. ``WORDS[key]`` is the hint a student reads.

The ``*_mistakes`` functions return ``(key, words, result)`` triples: what each mistake would have
returned on the same input, computed with PyTorch's own functions. A wrong answer equal to one of those
results gets that mistake's words. Nothing here is an answer to the exercises: each result is a
*wrong* one. Runs on Python 3.10+ and torch 2.2+.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# key -> the words a student reads (``str.format`` fields filled by ``words(key, ...)``).
WORDS: dict[str, str] = {
    # edge filters
    "rows and columns swapped": "rows and columns seem swapped (that is the other direction's filter)",
    "signs reversed": "the signs seem reversed",
    # convolution (conv2d_single, conv2d_volume)
    "flipped kernel": ("your kernel seems flipped (rotated 180°) — deep learning's convolution is "
                       "cross-correlation, as in F.conv2d: do not flip"),
    "bias not added": "the bias seems ignored: add bias[f] to every value of map f",
    "stride ignored": "the stride seems ignored (this is the stride-1 result)",
    "windows move by 1 pixel": "the windows move by 1 pixel instead of by the stride",
    "padding ignored": "the padding seems ignored",
    "padding on the bottom and right only": ("the zeros seem added on the bottom and right only; pad all four "
                                             "sides equally"),
    "padding on the top and left only": "the zeros seem added on the top and left only; pad all four sides equally",
    "padding one too many": "the padding seems to be {wrong} instead of {padding}",
    "missing +1": "the output is one row and one column short: the size formula ends with + 1",
    "first channel only": "only the first channel seems used: a filter spans all input channels",
    # shapes of a sliding window
    "columns from the height": ("the number of columns seems computed from the height: on a non-square input "
                                "use the width W for the columns"),
    "rows from the width": ("the number of rows seems computed from the width: on a non-square input use the "
                            "height H for the rows"),
    "square kernel (kh)": ("the {what} seems taken as square (kh used for both sides): use kh for the rows and "
                           "kw for the columns"),
    "square kernel (kw)": ("the {what} seems taken as square (kw used for both sides): use kh for the rows and "
                           "kw for the columns"),
    "rounded up": "the output size seems rounded up: the formula rounds down, (n + 2p - f) // s + 1",
    # conv_output_size
    "size missing +1": "the +1 seems missing: the first window also counts, (n + 2p - f) // s + 1",
    "true division": "this is true division (/): the formula rounds down, use //",
    "padding counted once": "the padding seems counted once; it is added on both sides: n + 2p",
    # zero_pad
    "zeros on the bottom and right only": ("the zeros seem added on the bottom and right only: the contract adds "
                                           "`pad` rings on all four sides, so each side grows by 2·pad"),
    "zeros on the top and left only": ("the zeros seem added on the top and left only: the contract adds `pad` "
                                       "rings on all four sides, so each side grows by 2·pad"),
    "leading dimensions padded": "the leading dimensions seem padded too; pad only the last two (height and width)",
    # pooling
    "mean instead of max": "this is the other pooling (mean of each window)",
    "max instead of mean": "this is the other pooling (max of each window)",
    "sum instead of mean": "each window seems summed instead of averaged: divide by size * size",
    "pool stride ignored": "the stride seems ignored: the windows move by 1 pixel",
    "stride taken equal to the size": "the stride seems taken equal to the window size",
    # SimpleCNN
    "fc1 in_features": "fc1 takes what pool2 gives, flattened: 16 × 5 × 5 = 400 values (sides 28 → 28 → 14 → 10 → 5)",
    # train_one_epoch
    "no optimizer.step()": "the weights did not change at all: call optimizer.step() after loss.backward() in every batch",
    "no zero_grad": ("the gradients seem never zeroed, so they add up from batch to batch: call "
                     "optimizer.zero_grad() before loss.backward()"),
    "zero_grad after the step": ("the gradients are zeroed only after the step, so the first batch used gradients "
                                 "left over from before: zero them before each backward"),
    # evaluate
    "no eval()": "call model.eval() first (the model came in training mode)",
    "no no_grad": "wrap the loop in `with torch.no_grad():` (or torch.inference_mode())",
    # feature_maps
    "no ReLU after conv1": "the ReLU seems missing: relu(model.conv1(...))",
    "pooled without ReLU": "it seems pooled from conv1 without the ReLU",
    "no ReLU after conv2": "the ReLU seems missing: relu(model.conv2(...))",
    "conv2 without pooling first": "it seems computed from conv1 without pooling first",
    "batch dimension kept": "the batch dimension seems kept: drop it with [0] or .squeeze(0)",
    "model.eval() inside feature_maps": ("{switch} inside feature_maps changes the caller's model: torch.no_grad() "
                                         "is all this needs; if you switch modes, remember "
                                         "`was_training = model.training` and restore it with "
                                         "`model.train(was_training)`"),
}


def words(key: str, **fields) -> str:
    """The words of mistake ``key`` (its fields filled in)."""
    return WORDS[key].format(**fields) if fields else WORDS[key]


def diagnosis(function: str, key: str) -> str:
    """The grader's diagnosis of mistake ``key`` made in ``function``: "conv2d_single: flipped kernel"."""
    return f"{function}: {key}"


def _attempt(compute):
    """A mistake's result, or None where that mistake cannot even run (a kernel larger than the image)."""
    try:
        return compute()
    except RuntimeError:
        return None


def _found(candidates) -> list:
    """(key, words, result) of the candidates ``(key, words, compute)`` whose mistake can run here."""
    found = []
    for key, text, compute in candidates:
        result = _attempt(compute)
        if result is not None:
            found.append((key, text, result))
    return found


# --- edge filters ----------------------------------------------------------------------------------

def filter_mistakes(want: torch.Tensor) -> list:
    """(key, words, result) of an edge filter's mistakes."""
    return [("rows and columns swapped", words("rows and columns swapped"), want.t()),
            ("signs reversed", words("signs reversed"), -want)]


# --- convolution -----------------------------------------------------------------------------------

def conv(x: torch.Tensor, w: torch.Tensor, bias=None, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """The oracle on (C, H, W) input and (F, C, kh, kw) filters."""
    return F.conv2d(x[None], w, bias, stride=stride, padding=padding)[0]


def conv_mistakes(x: torch.Tensor, w: torch.Tensor, bias, stride: int, padding: int) -> list:
    """(key, words, result) of the classic convolution mistakes on (C, H, W) input and (F, C, kh, kw)
    filters; for one channel and one filter take ``result[0]``."""
    want = conv(x, w, bias, stride, padding)
    two = 2 * padding
    return _found([
        ("flipped kernel", words("flipped kernel"), lambda: conv(x, w.flip(-2, -1), bias, stride, padding)),
        ("bias not added", words("bias not added"),
         lambda: conv(x, w, None, stride, padding) if bias is not None else None),
        ("stride ignored", words("stride ignored"), lambda: conv(x, w, bias, 1, padding) if stride > 1 else None),
        ("windows move by 1 pixel", words("windows move by 1 pixel"),
         lambda: conv(x, w, bias, 1, padding)[:, :want.shape[1], :want.shape[2]] if stride > 1 else None),
        ("padding ignored", words("padding ignored"), lambda: conv(x, w, bias, stride, 0) if padding else None),
        ("padding on the bottom and right only", words("padding on the bottom and right only"),
         lambda: conv(F.pad(x, (0, two, 0, two)), w, bias, stride) if padding else None),
        ("padding on the top and left only", words("padding on the top and left only"),
         lambda: conv(F.pad(x, (two, 0, two, 0)), w, bias, stride) if padding else None),
        ("missing +1", words("missing +1"),
         lambda: want[:, :-1, :-1] if want.shape[1] > 1 and want.shape[2] > 1 else None),
        ("first channel only", words("first channel only"),
         lambda: conv(x[:1], w[:, :1], bias, stride, padding) if x.shape[0] > 1 else None),
        ("padding one too many", words("padding one too many", wrong=padding + 1, padding=padding),
         lambda: conv(x, w, bias, stride, padding + 1)),
    ])


def output_size(n: int, f: int, padding: int = 0, stride: int = 1) -> int:
    """The contract's output size along one axis: (n + 2p - f) // s + 1."""
    return (n + 2 * padding - f) // stride + 1


def window_shape_mistakes(x_shape, kernel, stride: int, padding: int, what: str = "kernel") -> list:
    """(key, words, output shape) of the shape mistakes of a sliding window over the last two axes of
    ``x_shape``: a square-only formula (one side used for both), a square kernel or window, rounding up."""
    *leading, h, w = x_shape
    kh, kw = kernel
    want = (output_size(h, kh, padding, stride), output_size(w, kw, padding, stride))
    ceil = (-(-(h + 2 * padding - kh) // stride) + 1, -(-(w + 2 * padding - kw) // stride) + 1)
    candidates = [
        ("padding ignored", words("padding ignored"),
         (output_size(h, kh, 0, stride), output_size(w, kw, 0, stride))) if padding else None,
        ("padding one too few", f"the padding seems to be 1 instead of {padding}: add {padding} rings of zeros on "
         "each side", (output_size(h, kh, 1, stride), output_size(w, kw, 1, stride))) if padding > 1 else None,
        ("columns from the height", words("columns from the height"), (want[0], output_size(h, kw, padding, stride))),
        ("rows from the width", words("rows from the width"), (output_size(w, kh, padding, stride), want[1])),
        ("square kernel (kh)", words("square kernel (kh)", what=what), (want[0], output_size(w, kh, padding, stride))),
        ("square kernel (kw)", words("square kernel (kw)", what=what), (output_size(h, kw, padding, stride), want[1])),
        ("rounded up", words("rounded up"), ceil),
    ]
    return [(key, text, (*leading, *shape)) for key, text, shape in filter(None, candidates) if shape != want]


# --- conv_output_size ------------------------------------------------------------------------------

def size_mistakes(n: int, f: int, padding: int = 0, stride: int = 1) -> list:
    """(key, words, result) of conv_output_size's classic mistakes."""
    return [("missing +1", words("size missing +1"), (n + 2 * padding - f) // stride),
            ("true division", words("true division"), (n + 2 * padding - f) / stride + 1),
            ("padding counted once", words("padding counted once"), (n + padding - f) // stride + 1),
            ("padding ignored", words("padding ignored"), (n - f) // stride + 1 if n >= f else None)]


# --- zero_pad --------------------------------------------------------------------------------------

def pad_mistakes(x: torch.Tensor, pad: int) -> list:
    """(key, words, result) of zero_pad's classic mistakes: zeros on two sides only (2·pad or pad of
    them), the leading dimensions padded too."""
    two = 2 * pad
    return [("zeros on the bottom and right only", words("zeros on the bottom and right only"),
             F.pad(x, (0, two, 0, two))),
            ("zeros on the top and left only", words("zeros on the top and left only"), F.pad(x, (two, 0, two, 0))),
            ("zeros on the bottom and right only", words("zeros on the bottom and right only"),
             F.pad(x, (0, pad, 0, pad))),
            ("zeros on the top and left only", words("zeros on the top and left only"), F.pad(x, (pad, 0, pad, 0))),
            *([("leading dimensions padded", words("leading dimensions padded"), F.pad(x, (pad, pad) * x.dim()))]
              if x.dim() > 2 else [])]


# --- pooling ---------------------------------------------------------------------------------------

def pool(name: str, x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """The oracle of ``name`` ("max_pool2d" or "avg_pool2d") on (H, W) or (C, H, W) input."""
    oracle = F.max_pool2d if name == "max_pool2d" else F.avg_pool2d
    return oracle(x[None], size, stride)[0] if x.dim() == 2 else oracle(x, size, stride)


def pool_mistakes(name: str, x: torch.Tensor, size: int, stride: int) -> list:
    """(key, words, result) of the classic mistakes of pooling function ``name``."""
    want = pool(name, x, size, stride)
    other = "avg_pool2d" if name == "max_pool2d" else "max_pool2d"
    other_key = "mean instead of max" if name == "max_pool2d" else "max instead of mean"
    found = [(other_key, words(other_key), pool(other, x, size, stride))]
    if name == "avg_pool2d":
        found.append(("sum instead of mean", words("sum instead of mean"), want * size * size))
    if stride != 1:
        moved = pool(name, x, size, 1)
        found += [("windows move by 1 pixel", words("pool stride ignored"), moved),
                  ("windows move by 1 pixel", words("windows move by 1 pixel"),
                   moved[..., :want.shape[-2], :want.shape[-1]])]
    if stride != size:
        found.append(("stride taken equal to the size", words("stride taken equal to the size"),
                      pool(name, x, size, size)))
    if want.shape[-1] > 1 and want.shape[-2] > 1:
        found.append(("missing +1", words("missing +1"), want[..., :-1, :-1]))
    return found


# --- SimpleCNN -------------------------------------------------------------------------------------

FC1_IN_FEATURES = 16 * 5 * 5  # what reaches fc1 in the contract's network


def fc1_mistake(in_features: int) -> str | None:
    """The words for an fc1 whose in_features is not 400 (the classic 16·4·4 = 256 of 32×32 inputs too)."""
    return words("fc1 in_features") if in_features != FC1_IN_FEATURES else None


# --- train_one_epoch -------------------------------------------------------------------------------

# The loop variants a training check replays, in the order it tries them: (key, variant of the replay).
LOOP_MISTAKES = (("no optimizer.step()", "no_step"), ("no zero_grad", "no_zero_grad"),
                 ("zero_grad after the step", "zero_after_step"))
