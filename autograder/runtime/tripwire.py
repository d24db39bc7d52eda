"""Notice, while a student's function runs, every library routine the contract forbids.

A profile hook sees each call made under it, including calls through names
the student bound before grading started (``from torch.nn.functional import
conv2d as c``), which patching module attributes would miss. It only records:
the worker reports what it saw and the grader decides. Runs inside the sandbox.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager

# Groups of forbidden routines, by the names torch's C functions carry.
_CONV_WORDS = ("conv1d", "conv2d", "conv3d", "conv_transpose", "convolution", "conv_tbc", "_conv_depthwise")
_POOL_WORDS = ("pool",)  # max_pool*, avg_pool*, adaptive_*pool*, lp_pool, fractional_max_pool
_UNFOLD_WORDS = ("unfold", "im2col", "col2im")
_PAD_NAMES = {"pad", "constant_pad_nd", "_pad_circular", "_pad_enum"}
_PAD_PREFIXES = ("reflection_pad", "replication_pad")
# Python-level functions forbidden by (file fragment, function name); None: the whole file.
_NUMPY_FUNCTIONS = {("numeric.py", "convolve"), ("numeric.py", "correlate")}
_NUMPY_PAD = ("_arraypad_impl.py", "pad")
_SCIPY_FRAGMENTS = ("scipy/signal", "scipy/ndimage")


class Tripwire:
    """Records forbidden calls; ``forbid_pad`` adds the padding routines (for zero_pad)."""

    def __init__(self, forbid_pad: bool):
        self.forbid_pad = forbid_pad
        self.hits: list[str] = []

    def _note(self, name: str) -> None:
        if name not in self.hits and len(self.hits) < 20:
            self.hits.append(name)

    def __call__(self, frame, event, arg):
        if event == "c_call":
            self._check_builtin(arg)
        elif event == "call":
            self._check_python(frame.f_code)

    def _check_builtin(self, function) -> None:
        name = getattr(function, "__name__", "") or ""
        owner = getattr(function, "__self__", None)
        origin = getattr(function, "__module__", None) or type(owner).__module__ or ""
        if not (origin.startswith("torch") or "torch" in type(owner).__module__):
            return
        lowered = name.lower()
        if any(word in lowered for word in _CONV_WORDS + _POOL_WORDS + _UNFOLD_WORDS):
            self._note(f"torch {name}")
        elif self.forbid_pad and (lowered in _PAD_NAMES or lowered.startswith(_PAD_PREFIXES)):
            self._note(f"torch {name}")

    def _check_python(self, code) -> None:
        filename = code.co_filename.replace("\\", "/")
        if "numpy" in filename:
            for fragment, name in _NUMPY_FUNCTIONS:
                if code.co_name == name and filename.endswith(fragment):
                    self._note(f"numpy.{name}")
            if self.forbid_pad and code.co_name == _NUMPY_PAD[1] and filename.endswith(_NUMPY_PAD[0]):
                self._note("numpy.pad")
        elif any(fragment in filename for fragment in _SCIPY_FRAGMENTS):
            self._note(f"scipy {code.co_name}")


@contextmanager
def watching(forbid_pad: bool):
    """Yield a Tripwire active for the block; a student who removes it is recorded too."""
    wire = Tripwire(forbid_pad)
    previous = sys.getprofile()
    sys.setprofile(wire)
    try:
        yield wire
    finally:
        if sys.getprofile() is not wire:
            wire._note("sys.setprofile (the grader's call monitor was removed)")
        sys.setprofile(previous)
