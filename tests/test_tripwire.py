"""The tripwire sees forbidden routines however they are reached, and allows the rest."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.functional import conv2d as aliased_conv2d

from autograder.runtime.tripwire import watching

x = torch.randn(1, 1, 6, 6)
k = torch.randn(1, 1, 3, 3)

FORBIDDEN = {
    "F.conv2d": lambda: F.conv2d(x, k),
    "an alias bound before grading": lambda: aliased_conv2d(x, k),
    "torch.conv2d": lambda: torch.conv2d(x, k),
    "nn.Conv2d": lambda: nn.Conv2d(1, 1, 3)(x),
    "Tensor.unfold": lambda: x.unfold(2, 3, 1),
    "F.unfold": lambda: F.unfold(x, 3),
    "F.max_pool2d": lambda: F.max_pool2d(x, 2),
    "nn.AvgPool2d": lambda: nn.AvgPool2d(2)(x),
    "F.adaptive_avg_pool2d": lambda: F.adaptive_avg_pool2d(x, 2),
    "numpy.convolve": lambda: np.convolve([1.0, 2.0], [1.0]),
    "numpy.correlate": lambda: np.correlate([1.0, 2.0], [1.0]),
}
ALLOWED = {
    "einsum": lambda: torch.einsum("ij,ij->", x[0, 0, :3, :3], k[0, 0]),
    "as_strided": lambda: x.as_strided((4, 4, 3, 3), (6, 1, 6, 1)).sum(),
    "sliding_window_view": lambda: np.lib.stride_tricks.sliding_window_view(x.numpy()[0, 0], (3, 3)).sum(),
    "slicing into zeros": lambda: torch.zeros(8, 8).__setitem__((slice(1, 7), slice(1, 7)), x[0, 0]),
    "amax and mean": lambda: (x.amax(dim=(2, 3)), x.mean()),
    "matmul": lambda: x[0, 0] @ x[0, 0],
}


@pytest.mark.parametrize("name", FORBIDDEN)
def test_forbidden_routines_are_seen(name):
    with watching(forbid_pad=False) as wire:
        FORBIDDEN[name]()
    assert wire.hits, name


@pytest.mark.parametrize("name", ALLOWED)
def test_allowed_operations_pass(name):
    with watching(forbid_pad=True) as wire:
        ALLOWED[name]()
    assert wire.hits == []


def test_padding_routines_only_forbidden_when_asked():
    for forbid, expected in ((False, []), (True, ["torch pad", "numpy.pad"])):
        with watching(forbid_pad=forbid) as wire:
            F.pad(x, (1, 1, 1, 1))
            np.pad(x.numpy(), 1)
        assert wire.hits == expected


def test_removing_the_monitor_is_itself_recorded():
    import sys

    with watching(forbid_pad=False) as wire:
        sys.setprofile(None)
    assert any("setprofile" in hit for hit in wire.hits)
