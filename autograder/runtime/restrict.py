"""Disable, inside a manual function's worker, the library routines the assignment forbids.

``install(forbid_pad)`` runs in a fresh worker before any student code loads.
It registers raising kernels at PyTorch's dispatcher for every convolution,
pooling and unfold operator (and every padding operator with ``forbid_pad``),
in every namespace and at every dispatch key that holds a kernel, so each entry
point (``F.conv2d``, ``nn.Conv2d``, ``torch.ops.aten.convolution.default``,
``Tensor.unfold``…) raises with autograd on, under ``no_grad`` and under
``inference_mode``; it replaces numpy's convolve/correlate (and ``np.pad``) in
every module that holds them, and makes ``scipy.signal``/``scipy.ndimage``
unimportable. The grader's static reading (``rules.py``) keeps student code
away from the internals that could undo this.

What to disable is worked out once, when the warm fork-server imports this
module; ``install`` only registers (a few milliseconds). Runs in the sandbox:
standard library, torch and numpy only.
"""
from __future__ import annotations

import re
import sys

import numpy
import torch

ROUTINE = re.compile(r"conv(?!ert)|pool|unfold|im2col|correlat", re.IGNORECASE)
PAD = re.compile(r"^(pad|_pad_\w+|constant_pad_nd|reflection_pad\w*|replication_pad\w*|pad_sequence)$")
NAMESPACES = ("aten", "quantized", "_quantized", "mkldnn", "mkldnn_prepacked", "onednn")
KEYS = ("CompositeImplicitAutograd", "CompositeExplicitAutograd", "CompositeExplicitAutogradNonFunctional",
        "CPU", "MkldnnCPU", "QuantizedCPU", "SparseCPU", "SparseCsrCPU", "NestedTensorCPU",
        "CompositeImplicitAutogradNestedTensor")
SCIPY_MODULES = ("scipy.signal", "scipy.ndimage")
FRIENDLY = {"im2col": "torch.nn.functional.unfold", "unfold": "Tensor.unfold",
            "convolution_backward": "torch.nn.grad.conv2d_input/conv2d_weight"}


class ForbiddenRoutine(Exception):
    """A library routine this part of the assignment asks the student to write by hand."""


_installed: list = []  # the dispatcher libraries; dropping them would restore the kernels


def _python_name(namespace: str, op: str) -> str:
    if namespace != "aten":
        return f"torch.ops.{namespace}.{op}"
    if op in FRIENDLY:
        return FRIENDLY[op]
    if hasattr(torch.nn.functional, op):
        return f"torch.nn.functional.{op}"
    return f"torch.{op}" if hasattr(torch, op) else f"torch.ops.aten.{op}"


def _operator_plan() -> tuple[list, list]:
    """(namespace, overload name, dispatch key, message) for the routines, and for the padding operators."""
    routines, pads = [], []
    for qualified in torch._C._dispatch_get_all_op_names():
        namespace, name = qualified.split("::", 1)
        op = name.split(".", 1)[0]
        target = routines if ROUTINE.search(op) else pads if PAD.match(op) else None
        if namespace not in NAMESPACES or target is None:
            continue
        message = (f"`{_python_name(namespace, op)}` ({namespace}::{op}) is one of the library routines "
                   "this part asks you to write yourself")
        for key in KEYS:
            if torch._C._dispatch_has_kernel_for_dispatch_key(qualified, key):
                target.append((namespace, name, key, message))
    return routines, pads


def _numpy_plan() -> tuple[list, list]:
    """(module, attribute, message) for every numpy module that holds convolve/correlate, and pad."""
    import numpy._core._multiarray_umath as core

    originals = {id(numpy.convolve): "numpy.convolve", id(numpy.correlate): "numpy.correlate",
                 id(core.correlate): "numpy.correlate", id(getattr(core, "correlate2", None)): "numpy.correlate"}
    pad = {id(numpy.pad): "numpy.pad"}
    routines, pads = [], []
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "numpy" or name.startswith("numpy.")):
            continue
        for attribute, value in list(vars(module).items()):
            for table, target in ((originals, routines), (pad, pads)):
                if id(value) in table:
                    target.append((module, attribute, f"`{table[id(value)]}` is one of the library routines "
                                                       "this part asks you to write yourself"))
    return routines, pads


_OPERATORS = _operator_plan()
_NUMPY = _numpy_plan()


def _raiser(message: str):
    def forbidden(*args, **kwargs):
        raise ForbiddenRoutine(message)
    return forbidden


class _NoScipyRoutines:
    """A meta-path finder that refuses scipy's convolution modules with the rule's words."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in SCIPY_MODULES or name.startswith(tuple(f"{module}." for module in SCIPY_MODULES)):
            raise ForbiddenRoutine(f"`{name}` holds library routines this part asks you to write yourself")
        return None


def install(forbid_pad: bool) -> None:
    """Make the forbidden routines raise ``ForbiddenRoutine`` in this process, for good."""
    if _installed:
        raise RuntimeError("restrict.install runs once per worker")
    operators = _OPERATORS[0] + (_OPERATORS[1] if forbid_pad else [])
    libraries = {}
    stubs = {}
    for namespace, name, key, message in operators:  # torch.library.Library's own handle, minus its bookkeeping
        if namespace not in libraries:
            libraries[namespace] = torch._C._dispatch_library("IMPL", namespace, "", __file__, 0)
        stub = stubs.get(message) or stubs.setdefault(message, _raiser(message))
        libraries[namespace].impl(name, key, stub, False)  # prints nothing (no "Overriding…" warning)
    _installed.append(libraries)
    for module, attribute, message in _NUMPY[0] + (_NUMPY[1] if forbid_pad else []):
        setattr(module, attribute, _raiser(message))
    for name in [name for name in sys.modules if name.startswith(SCIPY_MODULES)]:  # loaded: emptied, forgotten
        vars(sys.modules.pop(name)).clear()
    sys.meta_path.insert(0, _NoScipyRoutines)
