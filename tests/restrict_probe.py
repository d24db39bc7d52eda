"""Run in a fresh interpreter by test_restrict.py: ``python restrict_probe.py FORBID_PAD`` prints JSON.

Every case runs before ``restrict.install`` (to prove it works then, and to take
PyTorch's answer as the oracle) and after it; the JSON says what happened.
"""
from __future__ import annotations

import gc
import importlib.util
import json
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder" / "engine" / "runtime"))
sys.path.insert(0, str(ROOT))
import restrict  # noqa: E402

from autograder.assignments.cnn_week1.assignment import ASSIGNMENT  # noqa: E402

g = torch.Generator().manual_seed(0)
X4 = torch.randn(1, 2, 7, 7, generator=g)
W4 = torch.randn(3, 2, 3, 3, generator=g)
X3 = torch.randn(2, 6, 6, generator=g)
X5 = torch.randn(1, 1, 4, 5, 5, generator=g)


def core(name):
    with warnings.catch_warnings():  # numpy.core is the deprecated alias of numpy._core
        warnings.simplefilter("ignore")
        return __import__(name, fromlist=["_"])


def in_thread(fn):
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as error:  # handed back to the caller's thread
            box["error"] = error
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


ROUTINES = {
    "F.conv1d": lambda: F.conv1d(X3, torch.ones(1, 6, 3)),
    "F.conv2d": lambda: F.conv2d(X4, W4),
    "F.conv3d": lambda: F.conv3d(X5, torch.ones(1, 1, 2, 2, 2)),
    "F.conv_transpose1d": lambda: F.conv_transpose1d(X3, torch.ones(6, 1, 3)),
    "F.conv_transpose2d": lambda: F.conv_transpose2d(X4, torch.ones(2, 1, 3, 3)),
    "F.conv_transpose3d": lambda: F.conv_transpose3d(X5, torch.ones(1, 1, 2, 2, 2)),
    "torch.conv2d": lambda: torch.conv2d(X4, W4, padding=1),
    "torch.convolution": lambda: torch.convolution(X4, W4, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
    "torch._convolution": lambda: torch._convolution(X4, W4, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                                                     False, False, True, True),
    "nn.Conv2d": lambda: torch.nn.Conv2d(2, 3, 3)(X4),
    "nn.ConvTranspose2d": lambda: torch.nn.ConvTranspose2d(2, 1, 3)(X4),
    "nn.grad.conv2d_input": lambda: torch.nn.grad.conv2d_input(X4.shape, W4, torch.ones(1, 3, 5, 5)),
    "nn.grad.conv2d_weight": lambda: torch.nn.grad.conv2d_weight(X4, W4.shape, torch.ones(1, 3, 5, 5)),
    "aten.convolution.default": lambda: torch.ops.aten.convolution.default(
        X4, W4, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
    "aten.conv2d.default": lambda: torch.ops.aten.conv2d.default(X4, W4),
    "aten.thnn_conv2d": lambda: torch._C._nn.thnn_conv2d(X4, W4, [3, 3]),
    "torch.mkldnn_convolution": lambda: torch.mkldnn_convolution(X4, W4, None, [0, 0], [1, 1], [1, 1], 1),
    "F.conv2d in a thread": lambda: in_thread(lambda: F.conv2d(X4, W4)),
    "F.max_pool1d": lambda: F.max_pool1d(X3, 2),
    "F.max_pool2d": lambda: F.max_pool2d(X3, 2),
    "F.max_pool2d indices": lambda: F.max_pool2d(X3, 2, return_indices=True)[0],
    "F.max_pool3d": lambda: F.max_pool3d(X5, 2),
    "F.avg_pool1d": lambda: F.avg_pool1d(X3, 2),
    "F.avg_pool2d": lambda: F.avg_pool2d(X3, 2),
    "F.avg_pool3d": lambda: F.avg_pool3d(X5, 2),
    "F.adaptive_avg_pool2d": lambda: F.adaptive_avg_pool2d(X3, 3),
    "F.adaptive_max_pool2d": lambda: F.adaptive_max_pool2d(X3, 3),
    "F.lp_pool2d": lambda: F.lp_pool2d(X3.abs(), 2, 2),
    "F.fractional_max_pool2d": lambda: F.fractional_max_pool2d(X3.unsqueeze(0), 2, output_size=3,
                                                               _random_samples=torch.full((1, 2, 2), 0.5)),
    "nn.MaxPool2d": lambda: torch.nn.MaxPool2d(2)(X3),
    "nn.AvgPool2d": lambda: torch.nn.AvgPool2d(2)(X3),
    "aten.max_pool2d_with_indices.default": lambda: torch.ops.aten.max_pool2d_with_indices.default(X3, [2, 2])[0],
    "aten.avg_pool2d.default": lambda: torch.ops.aten.avg_pool2d.default(X3, [2, 2]),
    "F.unfold": lambda: F.unfold(X4, 3),
    "nn.Unfold": lambda: torch.nn.Unfold(3)(X4),
    "Tensor.unfold": lambda: X3.unfold(1, 2, 1),
    "torch._C._nn.im2col": lambda: torch._C._nn.im2col(X4, [3, 3], [1, 1], [0, 0], [1, 1]),
    "np.convolve": lambda: torch.from_numpy(np.convolve(np.arange(5.0), np.ones(3))),
    "np.correlate": lambda: torch.from_numpy(np.correlate(np.arange(5.0), np.ones(3))),
    "numpy._core.numeric.correlate": lambda: torch.from_numpy(
        core("numpy._core.numeric").correlate(np.arange(5.0), np.ones(3))),
    "numpy._core.multiarray.correlate2": lambda: torch.from_numpy(
        core("numpy._core.multiarray").correlate2(np.arange(5.0), np.ones(3), 0)),
    "numpy._core._multiarray_umath.correlate": lambda: torch.from_numpy(
        core("numpy._core._multiarray_umath").correlate(np.arange(5.0), np.ones(3), 0)),
    "numpy.core.multiarray.correlate2": lambda: torch.from_numpy(
        core("numpy.core.multiarray").correlate2(np.arange(5.0), np.ones(3), 0)),
}

PADS = {
    "F.pad": lambda: F.pad(X3, (1, 1, 1, 1)),
    "F.pad reflect": lambda: F.pad(X3, (1, 1, 1, 1), mode="reflect"),
    "F.pad replicate": lambda: F.pad(X3, (1, 1, 1, 1), mode="replicate"),
    "F.pad circular": lambda: F.pad(X3.unsqueeze(0), (1, 1, 1, 1), mode="circular"),
    "torch.constant_pad_nd": lambda: torch.constant_pad_nd(X3, [2, 2, 2, 2]),
    "nn.ZeroPad2d": lambda: torch.nn.ZeroPad2d(2)(X3),
    "nn.ReflectionPad2d": lambda: torch.nn.ReflectionPad2d(1)(X3),
    "nn.ReplicationPad2d": lambda: torch.nn.ReplicationPad2d(1)(X3),
    "np.pad": lambda: torch.from_numpy(np.pad(X3.numpy(), 1)),
    "numpy.lib._arraypad_impl.pad": lambda: torch.from_numpy(
        core("numpy.lib._arraypad_impl").pad(X3.numpy(), 1)),
}


def strided_windows(x, size):
    h, w = x.shape[-2] - size + 1, x.shape[-1] - size + 1
    s = x.stride()
    return x.as_strided((x.shape[0], h, w, size, size), (s[0], s[1], s[2], s[1], s[2]))


def autograd_through_windows():
    x = X3.clone().requires_grad_(True)
    out = torch.einsum("chwab,ab->chw", strided_windows(x, 3), torch.arange(9.0).view(3, 3))
    (out ** 2).sum().backward()
    return x.grad


ALLOWED = {
    "indexing and slicing": lambda: X3[1, 1:5:2, 2:].clone(),
    "a double loop": lambda: torch.stack([torch.stack([X3[0, i:i + 2, j:j + 2].sum() for j in range(5)])
                                          for i in range(5)]),
    "as_strided + einsum": lambda: torch.einsum("chwab,ab->chw", strided_windows(X3, 3), torch.ones(3, 3)),
    "sliding_window_view": lambda: torch.from_numpy(sliding_window_view(X3.numpy(), (2, 2), axis=(1, 2))
                                                    .max(axis=(-1, -2)).copy()),
    "matmul": lambda: X3[0] @ X3[1],
    "sum mean max amax": lambda: torch.stack([X3.sum(), X3.mean(), X3.max(), X3.amax(dim=(1, 2)).sum(),
                                              X3.max(dim=1).values.sum()]),
    "cat and stack": lambda: torch.cat([torch.stack([X3[0], X3[1]]), X3]),
    "zeros and copy": lambda: _framed(X3, 2),
    "torch.maximum": lambda: torch.maximum(X3[0], X3[1]),
    "from_numpy": lambda: torch.from_numpy(X3.numpy() * 2),
    "autograd through as_strided and einsum": autograd_through_windows,
}


def _framed(x, pad):
    out = x.new_zeros(x.shape[0], x.shape[1] + 2 * pad, x.shape[2] + 2 * pad)
    out[:, pad:-pad, pad:-pad] = x
    return out


def reference_module():
    spec = importlib.util.spec_from_file_location("reference_solution", ROOT / "solutions" / "cnn_week1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_cases(ref, forbid_pad: bool) -> dict:
    """(student call, PyTorch oracle) per manual function: zero_pad only under forbid_pad, the others without."""
    image, kernel = torch.randn(9, 8, generator=g), torch.randn(3, 3, generator=g)
    volume, bias = torch.randn(2, 9, 8, generator=g), torch.randn(3, generator=g)
    if forbid_pad:
        return {"zero_pad": (lambda: ref.zero_pad(X3, 2), lambda: F.pad(X3, (2, 2, 2, 2)))}
    return {
        "conv2d_single": (lambda: ref.conv2d_single(image, kernel, 2, 1),
                          lambda: F.conv2d(image[None, None], kernel[None, None], stride=2, padding=1)[0, 0]),
        "conv2d_volume": (lambda: ref.conv2d_volume(volume, W4, bias, 1, 1),
                          lambda: F.conv2d(volume[None], W4, bias, padding=1)[0]),
        "max_pool2d": (lambda: ref.max_pool2d(X3, 3, 2), lambda: F.max_pool2d(X3, 3, 2)),
        "avg_pool2d": (lambda: ref.avg_pool2d(X3, 2, 1), lambda: F.avg_pool2d(X3, 2, 1)),
    }


def outcome(fn, expected=None, mode=torch.enable_grad) -> str:
    try:
        with mode():
            value = fn()
    except restrict.ForbiddenRoutine as error:
        return f"forbidden: {error}"
    except Exception as error:  # reported, the test decides
        return f"error: {type(error).__name__}: {error}"
    if expected is None:
        return "ran"
    return "equal" if torch.allclose(value, expected, atol=1e-5) else "different"


def main(forbid_pad: bool) -> dict:
    ref = reference_module()
    guarded = {**ROUTINES, **PADS} if forbid_pad else ROUTINES
    free = ALLOWED if forbid_pad else {**ALLOWED, **PADS}
    references = reference_cases(ref, forbid_pad)
    before = {name: outcome(fn) for name, fn in guarded.items()}
    expected = {name: fn() for name, fn in free.items()}
    oracle = {name: pair[1]() for name, pair in references.items()}
    gc.collect()  # as timeit does: a collection of the probe's own garbage is not install's cost
    started = time.perf_counter()
    restrict.install(restrict.plan(ASSIGNMENT.forbidden.as_plan()), forbid_pad=forbid_pad)
    seconds = time.perf_counter() - started
    modes = {"grad": torch.enable_grad, "no_grad": torch.no_grad, "inference_mode": torch.inference_mode}
    return {
        "install_seconds": seconds,
        "before": before,
        "forbidden": {f"{name} [{label}]": outcome(fn, mode=mode)
                      for name, fn in guarded.items() for label, mode in modes.items()},
        "allowed": {name: outcome(fn, expected[name]) for name, fn in free.items()},
        "reference": {name: outcome(pair[0], oracle[name]) for name, pair in references.items()},
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] == "1")))
