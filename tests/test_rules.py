"""The grader's reading of a manual function's cells: honest styles pass, every escape is named."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from autograder.assignments.cnn_week1.contract import MANUAL_FUNCTIONS
from autograder.engine.extract import module_cells
from autograder.engine.rules import manual_rule_violations
from week1 import WEEK1


def manual_rule_violations_week1(source, **kwargs):
    return manual_rule_violations(source, WEEK1.forbidden, **kwargs)

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "cnn_week1.py"


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


HONEST = {
    "double loop": """
        def conv2d_single(image, kernel, stride=1, padding=0):
            kh, kw = kernel.shape
            out = torch.zeros((image.shape[0] - kh) // stride + 1, (image.shape[1] - kw) // stride + 1)
            for i in range(out.shape[0]):
                for j in range(out.shape[1]):
                    out[i, j] = (image[i * stride:i * stride + kh, j * stride:j * stride + kw] * kernel).sum()
            return out
    """,
    "einsum over as_strided windows": """
        import torch
        def conv2d_volume(volume, filters, bias=None, stride=1, padding=0):
            c, h, w = volume.shape
            f, _, kh, kw = filters.shape
            s = volume.stride()
            windows = volume.as_strided((c, (h - kh) // stride + 1, (w - kw) // stride + 1, kh, kw),
                                        (s[0], s[1] * stride, s[2] * stride, s[1], s[2]))
            out = torch.einsum("cijab,fcab->fij", windows, filters)
            return out if bias is None else out + bias.view(-1, 1, 1)
    """,
    "sliding_window_view and from_numpy": """
        import numpy as np
        from numpy.lib.stride_tricks import sliding_window_view
        def max_pool2d(x, size=2, stride=2):
            windows = sliding_window_view(x.numpy(), (size, size), axis=(-2, -1))[..., ::stride, ::stride, :, :]
            return torch.from_numpy(np.ascontiguousarray(windows.max(axis=(-2, -1))))
    """,
    "F.pad inside conv2d_single": """
        import torch.nn.functional as F
        def conv2d_single(image, kernel, stride=1, padding=0):
            image = F.pad(image, (padding,) * 4)
            return helper(image, kernel, stride)
    """,
    "list comprehension and torch.stack": """
        def avg_pool2d(x, size=2, stride=2):
            rows = range(0, x.shape[-2] - size + 1, stride)
            cols = range(0, x.shape[-1] - size + 1, stride)
            return torch.stack([torch.stack([x[..., i:i + size, j:j + size].mean(dim=(-2, -1)) for j in cols],
                                            dim=-1) for i in rows], dim=-2)
    """,
    "helper functions and a helper class": """
        from dataclasses import dataclass
        @dataclass
        class Window:
            size: int
            stride: int
            def positions(self, n):
                return range(0, n - self.size + 1, self.stride)
        class Accumulator:
            def __init__(self, shape):
                self._total = torch.zeros(shape)
            def add(self, value):
                self._total += value
                return self._total
        def _patch(x, i, j, size):
            return x[..., i:i + size, j:j + size]
        def max_pool2d(x, size=2, stride=2):
            w = Window(size, stride)
            return torch.stack([torch.stack([_patch(x, i, j, size).amax(dim=(-2, -1)) for j in w.positions(x.shape[-1])],
                                            -1) for i in w.positions(x.shape[-2])], -2)
    """,
    "new_zeros and slice assignment": """
        def zero_pad(x, pad):
            if pad < 0:
                raise ValueError("pad must be >= 0")
            out = x.new_zeros(*x.shape[:-2], x.shape[-2] + 2 * pad, x.shape[-1] + 2 * pad)
            out[..., pad:pad + x.shape[-2], pad:pad + x.shape[-1]] = x
            return out
    """,
    "torch.tensor, math.floor and isinstance": """
        import math
        def conv2d_single(image, kernel, stride=1, padding=0):
            if not isinstance(image, torch.Tensor):
                image = torch.tensor(image, dtype=torch.float32)
            out_h = math.floor((image.shape[0] + 2 * padding - kernel.shape[0]) / stride) + 1
            return torch.tensor([[0.0] * out_h] * out_h)
    """,
    "type hints and a docstring": """
        from typing import Optional
        from torch import Tensor
        def conv2d_volume(volume: Tensor, filters: Tensor, bias: Optional[Tensor] = None,
                          stride: int = 1, padding: int = 0) -> Tensor:
            '''Uses F.conv2d? No: einsum. (Words in a docstring never count.)'''
            out = torch.einsum("chw,fc->fhw", volume, filters[:, :, 0, 0])  # not nn.Conv2d
            return out
    """,
    "getattr with a constant public name": """
        def avg_pool2d(x, size=2, stride=2):
            shape = getattr(x, "shape")
            if hasattr(x, "numpy") and getattr(x, "dtype", None) is not None:
                pass
            return x[..., ::stride, ::stride][..., :shape[-2] // stride, :shape[-1] // stride]
    """,
    "a student helper named conv2d": """
        def conv2d(a, k):
            return (a * k).sum()
        def conv2d_single(image, kernel, stride=1, padding=0):
            return torch.stack([torch.stack([conv2d(image[i:i + 3, j:j + 3], kernel) for j in range(2)])
                                for i in range(2)])
    """,
    "a method named like a routine": """
        class Engine:
            def unfold(self, x, k):
                return [x[i:i + k] for i in range(len(x) - k + 1)]
        def conv2d_single(image, kernel, stride=1, padding=0):
            return torch.stack([torch.stack(Engine().unfold(row, 2)).sum(1) for row in image])
    """,
    "matmul, cat and torch.maximum": """
        def max_pool2d(x, size=2, stride=2):
            out = None
            for a in range(size):
                for b in range(size):
                    view = x[..., a::stride, b::stride]
                    out = view if out is None else torch.maximum(out, view)
            flat = torch.cat([out.reshape(-1), out.reshape(-1)])
            return out @ torch.eye(out.shape[-1]) if flat.numel() else out
    """,
    "functools, itertools, collections and super().__init__": """
        import functools
        import itertools
        from collections import namedtuple
        Pos = namedtuple("Pos", "i j")
        class Buffer(list):
            def __init__(self):
                super().__init__()
        @functools.lru_cache(maxsize=None)
        def offsets(size):
            return tuple(itertools.product(range(size), repeat=2))
        def avg_pool2d(x, size=2, stride=2):
            total = functools.reduce(lambda acc, ab: acc + x[..., ab[0]::stride, ab[1]::stride], offsets(size), 0)
            return total / size ** 2
    """,
    "__name__ guard, error message with type name, walrus": """
        def zero_pad(x, pad):
            if not isinstance(pad, int):
                raise TypeError(f"pad must be an int, not {type(pad).__name__}")
            if (n := pad) < 0:
                raise ValueError(f"negative pad {n}")
            out = torch.zeros(*x.shape[:-2], x.shape[-2] + 2 * n, x.shape[-1] + 2 * n, dtype=x.dtype)
            out[..., n:n + x.shape[-2], n:n + x.shape[-1]] = x
            return out
        if __name__ == "__main__":
            print(zero_pad(torch.ones(2, 2), 1))
    """,
    "numpy loops inside, tensor out": """
        import numpy as np
        def conv2d_single(image, kernel, stride=1, padding=0):
            img, ker = image.numpy(), kernel.numpy()
            out = np.zeros(((img.shape[0] - ker.shape[0]) // stride + 1, (img.shape[1] - ker.shape[1]) // stride + 1))
            for i in range(out.shape[0]):
                for j in range(out.shape[1]):
                    out[i, j] = np.sum(img[i * stride:i * stride + ker.shape[0], j * stride:j * stride + ker.shape[1]] * ker)
            return torch.from_numpy(out).float()
    """,
}

# (source, no_pad, words the message must contain)
HOSTILE = {
    "F.conv2d": ("out = F.conv2d(x[None, None], k[None, None])", False, "`F.conv2d`"),
    "from-import renamed": ("from torch.nn.functional import conv2d as c", False, "torch.nn.functional.conv2d"),
    "nn.MaxPool2d": ("pool = torch.nn.MaxPool2d(2)", False, "`torch.nn.MaxPool2d`"),
    "Tensor.unfold": ("windows = x.unfold(0, 2, 1)", False, "`x.unfold`"),
    "np.correlate": ("np.correlate(a, b)", False, "`np.correlate`"),
    "torch.ops aten": ("torch.ops.aten.convolution.default(x, w)", False, "`torch.ops`"),
    "computed getattr": ('getattr(F, "con" + "v2d")(x, w)', False, "computes the attribute name"),
    "getattr passed around": ("g = getattr\ng(F, name)", False, "`getattr` may only be called directly"),
    "np.core": ("np.core.multiarray.correlate2(a, b, 0)", False, "`np.core`"),
    "numpy._core import": ("import numpy._core.multiarray as m", False, "`import numpy._core.multiarray`"),
    "numpy._core attribute": ("np._core.multiarray", False, "`np._core`"),
    "__import__": ('__import__("os").system("true")', False, "`__import__`"),
    "vars(torch)": ('vars(torch)["nn"]', False, "`vars`"),
    "exec of a string": ('exec("y = F.conv2d(x, w)")', False, "`exec`"),
    "eval": ('eval("1")', False, "`eval`"),
    "compile": ('compile("1", "s", "eval")', False, "`compile`"),
    "globals": ('globals()["F"]', False, "`globals`"),
    "open": ('open("/etc/passwd")', False, "`open`"),
    "laundered exec": ("run = exec\nrun('x')", False, "`exec`"),
    "import os": ("import os", False, "`import os`: the manual functions may import only"),
    "import sys": ("import sys", False, "`import sys`"),
    "import ctypes": ("import ctypes", False, "`import ctypes`"),
    "importlib": ('import importlib\nimportlib.import_module("os")', False, "`import importlib`"),
    "threading": ("import threading\nthreading.Thread(target=f).start()", False, "`import threading`"),
    "operator.attrgetter": ('from operator import attrgetter\nattrgetter("conv2d")(F)', False,
                            "`from operator import attrgetter`"),
    "scipy.signal": ("from scipy.signal import correlate2d", False, "`from scipy.signal import correlate2d`"),
    "relative import": ("from . import helpers", False, "`from . import helpers`"),
    "star import": ("from torch.nn.functional import *", False, "import the names you use one by one"),
    "F.pad in zero_pad": ("def zero_pad(x, pad):\n    return F.pad(x, (pad,) * 4)", True, "`F.pad` pads for you"),
    "np.pad in zero_pad": ("np.pad(a, 1)", True, "`np.pad`"),
    "nn.ZeroPad2d in zero_pad": ("torch.nn.ZeroPad2d(1)(x)", True, "`torch.nn.ZeroPad2d`"),
    "type(x).__mro__": ("type(x).__mro__[-1]", False, "`__mro__`"),
    "subclasses walk": ("().__class__.__base__.__subclasses__()", False, "`__class__`"),
    "__builtins__": ('__builtins__["eval"]', False, "`__builtins__`"),
    "torch.sys": ("torch.sys.modules", False, "`torch.sys`"),
    "F.importlib": ('F.importlib.import_module("os")', False, "`F.importlib`"),
    "torch._C": ("torch._C._nn.im2col(x, (2, 2), (1, 1), (0, 0), (1, 1))", False, "`torch._C`"),
    "private on self is not an excuse for _C": ("class A:\n    def f(self):\n        self._C = 1\n        return self._C",
                                                False, "`self._C`"),
    "torch.library": ('torch.library.Library("aten", "IMPL")', False, "`torch.library`"),
    "torch.compile": ("torch.compile(f)", False, "`torch.compile`"),
    "torch.jit": ("torch.jit.script(f)", False, "`torch.jit`"),
    "frame globals": ("g = (i for i in ())\ng.gi_frame.f_globals", False, "`g.gi_frame`"),
    "match class attribute": ("match x:\n    case object(__class__=c):\n        pass", False, "`__class__`"),
    "getattr of a dunder": ('getattr(x, "__class__")', False, "`__class__`"),
    "getattr of a routine": ('getattr(F, "max_pool2d")(x, 2)', False, "library routine"),
    "setattr computed": ("setattr(F, name, f)", False, "computes the attribute name"),
    "breakpoint": ("breakpoint()", False, "`breakpoint`"),
}


@pytest.mark.parametrize("name", HONEST)
def test_honest_code_passes(name):
    assert manual_rule_violations_week1(code(HONEST[name]), no_pad=name.startswith("new_zeros")) == []


def test_honest_zero_pad_passes_with_no_pad():
    assert manual_rule_violations_week1(code(HONEST["new_zeros and slice assignment"]), no_pad=True) == []
    assert manual_rule_violations_week1(code(HONEST["__name__ guard, error message with type name, walrus"]),
                                  no_pad=True) == []


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_code_is_named(name):
    source, no_pad, words = HOSTILE[name]
    problems = manual_rule_violations_week1(code(source), no_pad=no_pad)
    assert problems, f"{name} passed the check"
    assert any(words in problem for problem in problems), problems
    assert all(re.search(r"\(line \d+\)$", problem) for problem in problems)


def test_pad_is_refused_only_for_zero_pad():
    source = code("def conv2d_single(x, k, stride=1, padding=0):\n    return F.pad(x, (padding,) * 4)")
    assert manual_rule_violations_week1(source, no_pad=False) == []
    assert manual_rule_violations_week1(source, no_pad=True)


def test_the_line_is_the_offending_one():
    problems = manual_rule_violations_week1("import torch\n\n\nimport os\n", no_pad=False)
    assert problems == [problems[0]] and problems[0].endswith("(line 4)")


def test_unparseable_source_is_left_to_the_worker():
    assert manual_rule_violations_week1("def broken(:\n", no_pad=False) == []


def test_names_defined_in_other_cells_can_be_passed_in():
    source = "def conv2d_single(image, kernel, stride=1, padding=0):\n    return Engine().conv(image, kernel)\n"
    assert manual_rule_violations_week1(source, no_pad=False)
    assert manual_rule_violations_week1(source, no_pad=False, known={"conv"}) == []


@pytest.mark.parametrize("name", MANUAL_FUNCTIONS)
def test_reference_solution_passes(name):
    cells = module_cells(SOLUTION.read_text())
    assert manual_rule_violations_week1(cells[name], no_pad=name == "zero_pad") == []
    assert manual_rule_violations_week1(cells["imports"], no_pad=name == "zero_pad") == []


def test_an_import_nothing_reads_is_inert_when_the_session_says_what_is_read():
    top_of_a_py = "import os\nimport matplotlib.pyplot as plt\nimport torch\nfrom scipy.signal import correlate2d\n"
    assert len(manual_rule_violations_week1(top_of_a_py, no_pad=False)) == 3
    assert manual_rule_violations_week1(top_of_a_py, no_pad=False, used={"torch", "range"}) == []
    problems = manual_rule_violations_week1(top_of_a_py, no_pad=False, used={"torch", "os", "correlate2d"})
    assert len(problems) == 2 and "`import os`" in problems[0] and "correlate2d" in problems[1]
