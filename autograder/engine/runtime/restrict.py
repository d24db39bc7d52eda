"""Disable, inside a manual function's worker, the library routines the assignment forbids.

``plan(forbidden)`` reads the assignment's patterns (``Assignment.forbidden``; week 1:
convolution, pooling, unfold, correlate, and padding for ``zero_pad``) once, in the warm
fork-server. ``install(plan, forbid_pad)`` runs in a fresh worker before any student code
loads: it registers raising kernels at PyTorch's dispatcher for every operator the patterns
name, in every namespace and at every dispatch key that holds a kernel, so each entry point
(``F.conv2d``, ``nn.Conv2d``, ``torch.ops.aten.convolution.default``, ``Tensor.unfold``…)
raises with autograd on, under ``no_grad`` and under ``inference_mode``; it replaces the
matching numpy functions in every module that holds them, and makes the forbidden modules
(``scipy.signal``…) unimportable. The grader's static reading (``rules.py``) keeps student
code away from the internals that could undo this. ``install`` only registers (a few
milliseconds). Runs in the sandbox: standard library, torch and numpy only.
"""
from __future__ import annotations

import re
import sys

import numpy
import torch

NAMESPACES = ("aten", "quantized", "_quantized", "mkldnn", "mkldnn_prepacked", "onednn")
KEYS = ("CompositeImplicitAutograd", "CompositeExplicitAutograd", "CompositeExplicitAutogradNonFunctional",
        "CPU", "MkldnnCPU", "QuantizedCPU", "SparseCPU", "SparseCsrCPU", "NestedTensorCPU",
        "CompositeImplicitAutogradNestedTensor")
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


def _operator_plan(routine, padding) -> tuple[list, list]:
    """(namespace, overload name, dispatch key, message) for the routines, and for the padding operators."""
    routines, pads = [], []
    for qualified in torch._C._dispatch_get_all_op_names():
        namespace, name = qualified.split("::", 1)
        op = name.split(".", 1)[0]
        target = routines if routine and routine.search(op) else pads if padding and padding.match(op) else None
        if namespace not in NAMESPACES or target is None:
            continue
        message = (f"`{_python_name(namespace, op)}` ({namespace}::{op}) is one of the library routines "
                   "this part asks you to write yourself")
        for key in KEYS:
            if torch._C._dispatch_has_kernel_for_dispatch_key(qualified, key):
                target.append((namespace, name, key, message))
    return routines, pads


def _numpy_plan(routine, padding) -> tuple[list, list]:
    """(module, attribute, message) for every numpy module that holds a forbidden function (by identity:
    ``np.convolve`` is also ``np.core.numeric.convolve``), and for the padding functions."""
    import numpy._core._multiarray_umath as core

    def named(pattern, search: bool) -> dict:
        if pattern is None:
            return {}
        found = {}
        for module in (numpy, core):  # the C core's versions (correlate2) under their public name
            for attribute, value in vars(module).items():
                if callable(value) and (pattern.search(attribute) if search else pattern.match(attribute)):
                    public = attribute if hasattr(numpy, attribute) else attribute.rstrip("0123456789")
                    found.setdefault(id(value), f"numpy.{public}")
        return found

    tables = (named(routine, True), []), (named(padding, False), [])
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "numpy" or name.startswith("numpy.")):
            continue
        for attribute, value in list(vars(module).items()):
            for table, target in tables:
                if id(value) in table:
                    target.append((module, attribute, f"`{table[id(value)]}` is one of the library routines "
                                                       "this part asks you to write yourself"))
    return tables[0][1], tables[1][1]


class Plan:
    """What ``install`` disables, worked out once in the fork-server from the assignment's patterns."""

    def __init__(self, forbidden: dict):
        routine = re.compile(forbidden["names"], re.IGNORECASE) if forbidden.get("names") else None
        padding = re.compile(forbidden["padding_ops"]) if forbidden.get("padding_ops") else None
        self.operators = _operator_plan(routine, padding)
        self.numpy = _numpy_plan(routine, padding)
        self.modules = tuple(forbidden.get("modules", ()))


def plan(forbidden: dict) -> Plan:
    return Plan(forbidden)


def _raiser(message: str):
    def forbidden(*args, **kwargs):
        raise ForbiddenRoutine(message)
    return forbidden


class _ForbiddenModules:
    """A meta-path finder that refuses the assignment's forbidden modules with the rule's words."""

    def __init__(self, modules: tuple[str, ...]):
        self.modules = modules

    def find_spec(self, name, path=None, target=None):
        if name in self.modules or name.startswith(tuple(f"{module}." for module in self.modules)):
            raise ForbiddenRoutine(f"`{name}` holds library routines this part asks you to write yourself")
        return None


def install(planned: Plan, forbid_pad: bool) -> None:
    """Make the forbidden routines raise ``ForbiddenRoutine`` in this process, for good."""
    if _installed:
        raise RuntimeError("restrict.install runs once per worker")
    operators = planned.operators[0] + (planned.operators[1] if forbid_pad else [])
    libraries = {}
    stubs = {}
    for namespace, name, key, message in operators:  # torch.library.Library's own handle, minus its bookkeeping
        if namespace not in libraries:
            libraries[namespace] = torch._C._dispatch_library("IMPL", namespace, "", __file__, 0)
        stub = stubs.get(message) or stubs.setdefault(message, _raiser(message))
        libraries[namespace].impl(name, key, stub, False)  # prints nothing (no "Overriding…" warning)
    _installed.append(libraries)
    for module, attribute, message in planned.numpy[0] + (planned.numpy[1] if forbid_pad else []):
        setattr(module, attribute, _raiser(message))
    if planned.modules:
        for name in [name for name in sys.modules if name.startswith(planned.modules)]:  # loaded: emptied, forgotten
            vars(sys.modules.pop(name)).clear()
        sys.meta_path.insert(0, _ForbiddenModules(planned.modules))
