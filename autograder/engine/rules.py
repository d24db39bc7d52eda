"""The no-library-routine rule, read in the grader from the source a manual worker will load.

A manual function (a function a grader calls with ``watch=Watch.MANUAL``) must do its part's work by
hand. This module reads the syntax tree of each unit before it is loaded and
refuses two things: the library routines that do the work (by attribute or
imported name, unless the source defines that name itself), and every way to
reach code the reading cannot see — computed ``getattr``, ``__import__``,
``exec``, modules outside an allow-list, PyTorch's dispatcher and numpy's C
core, private and dunder attributes, frames. The worker's own defence
(``runtime/restrict.py``) disables the routines themselves; this check keeps
student code from reaching around it. Nothing here runs student code.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from .assignment import ForbiddenRoutines

# Modules honest manual code needs; everything else (os, sys, ctypes, importlib, threading…) is refused.
ALLOWED_MODULES = frozenset({
    "torch", "torch.nn", "torch.nn.functional", "torch.linalg", "torch.fft",
    "numpy", "numpy.lib", "numpy.lib.stride_tricks", "numpy.linalg",
    "math", "cmath", "itertools", "functools", "typing", "collections", "collections.abc", "numbers",
    "dataclasses", "__future__", "abc", "enum", "copy", "warnings", "random", "time", "statistics",
    "fractions", "decimal",
})
IMPORT_RULE = ("the manual functions may import only torch, torch.nn, torch.nn.functional, numpy, "
               "numpy.lib.stride_tricks, math, itertools, functools, typing, collections, dataclasses "
               "(and small standard helpers such as copy or random)")


# Attribute names that lead out of what the reading can follow, never excused by a same-named definition:
# the dispatcher and compilers, numpy's C core, modules re-exported by libraries (torch.sys, F.importlib),
# loaders that run code, and frames (whose globals hold the builtins).
INTERNALS = frozenset({
    "ops", "library", "jit", "fx", "compile", "export", "package", "hub", "utils", "classes", "overrides",
    "multiprocessing", "core", "ctypeslib", "f2py", "distutils", "load", "loads",
    "sys", "os", "builtins", "importlib", "ctypes", "inspect", "gc", "types", "pickle", "marshal", "signal",
    "operator", "subprocess", "threading", "io", "shutil", "socket", "runpy", "pkgutil", "pydoc", "code",
    "get_type_hints", "ForwardRef",
    "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "tb_frame", "tb_next",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "co_code", "co_consts",
})
# Private names of the libraries' internals, refused even on ``self`` (a method can be handed a module).
PRIVATE_INTERNALS = frozenset({
    "_C", "_core", "_ops", "_multiarray_umath", "_nn", "_VF", "_refs", "_prims", "_decomp", "_dynamo",
    "_library", "_thread", "_functorch", "_higher_order_ops", "_subclasses", "_jit_internal", "_tensor", "_utils",
    "_export", "_inductor", "_classes", "_jit", "_lib", "_destroy", "_impl", "_dispatch", "_python_dispatch",
})
HARMLESS_DUNDERS = frozenset({"__init__", "__name__", "__qualname__", "__doc__", "__module__"})
HARMLESS_DUNDER_NAMES = frozenset({"__name__", "__doc__", "__file__", "__debug__"})
NAME_LOOKUPS = frozenset({"getattr", "setattr", "hasattr", "delattr"})  # fine with a constant public name
CODE_RUNNERS = frozenset({"__import__", "exec", "eval", "compile", "globals", "locals", "vars", "open",
                          "breakpoint"})


def manual_rule_violations(source: str, forbidden: ForbiddenRoutines, no_pad: bool, known: Iterable[str] = (),
                           used: Iterable[str] | None = None) -> list[str]:
    """Teaching messages for each way ``source`` breaks the rule ([] = fine, or it does not parse).

    ``forbidden``: the assignment's routines (``Assignment.forbidden``), matched against names read.
    ``no_pad``: the function must pad by hand (``Watch.MANUAL_NO_PAD``), so padding routines are refused too.
    ``known``: attribute names other units loaded beside this one define (a helper class's methods).
    ``used``: every name the units loaded beside this one read (``dependencies.unit_names(...).needs``);
    given, an import whose name nothing reads is inert and not refused (a .py's `import os` at the top).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # the worker reports the syntax error itself
    reader = _Reader(_own_attributes(tree) | set(known), _patterns(forbidden, no_pad),
                     None if used is None else set(used) | _names_read(tree))
    try:
        reader.visit(tree)
    except RecursionError:
        return ["the code is nested too deeply for the grader to read it: simplify it"]
    return list(dict.fromkeys(reader.problems))


def _names_read(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store)}


def own_attributes(source: str) -> set[str]:
    """The attribute names ``source`` defines (for ``known`` when its helper class lives in another cell)."""
    try:
        return _own_attributes(ast.parse(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()


def _own_attributes(tree: ast.AST) -> set[str]:
    """Attribute names the source gives its own objects: methods, class-level names, ``x.name = …``.

    (A parameter or variable named ``pad`` says nothing about ``F.pad``.)
    """
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(statement.name)
                elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
                    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                    names |= {target.id for target in targets if isinstance(target, ast.Name)}
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return names


def _patterns(forbidden: ForbiddenRoutines, no_pad: bool) -> tuple:
    """The routine and padding name patterns (case-insensitive), None where nothing is forbidden."""
    routine = re.compile(forbidden.names, re.IGNORECASE) if forbidden.names else None
    padding = re.compile(forbidden.padding_names, re.IGNORECASE) if no_pad and forbidden.padding_names else None
    return routine, padding


def _text(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "…"


class _Reader(ast.NodeVisitor):
    def __init__(self, defined: set[str], patterns: tuple, used: set[str] | None):
        self.defined, self.used = defined, used
        self.routine, self.padding = patterns
        self.problems: list[str] = []
        self.checked_calls: set[int] = set()  # ids of getattr-family Name nodes already judged at their call

    def refuse(self, node: ast.AST, message: str) -> None:
        self.problems.append(f"{message} (line {getattr(node, 'lineno', '?')})")

    # ----- attribute names, wherever they appear -----------------------------------------------

    def attribute(self, node: ast.AST, name: str, shown: str, stored: bool = False, own: bool = False,
                  exempt: bool = True) -> None:
        """Judge the attribute ``name`` reached by ``shown`` (``x.name``, an import, a getattr string).

        ``own``: read on ``self``/``cls``, where a private name the source defines is the student's own.
        ``exempt``: a routine's name the source defines itself is the student's helper (not for imports).
        """
        if name.startswith("__") and name.endswith("__"):
            if name not in HARMLESS_DUNDERS:
                self.refuse(node, f"`{shown}` uses the special attribute `{name}`, a way into Python's internals "
                                  "that the manual functions may not use")
        elif name in INTERNALS:
            self.refuse(node, f"`{shown}` goes through `{name}`, which leads to library internals or to code the "
                              "grader cannot read; the manual functions may not use it")
        elif name.startswith("_"):
            if not stored and not (own and name in self.defined and name not in PRIVATE_INTERNALS):
                self.refuse(node, f"`{shown}` uses the private name `{name}`; use the public API "
                                  "(e.g. `torch.…`, `np.…`, tensor methods)")
        elif stored or (exempt and name in self.defined):
            return
        elif self.routine is not None and self.routine.search(name):
            self.refuse(node, f"`{shown}` is a library routine that does this part's work; write it yourself "
                              "with indexing, loops, einsum or matmul")
        elif self.padding is not None and self.padding.search(name):
            self.refuse(node, f"`{shown}` pads for you, and this function must place the zeros itself "
                              "(allocate zeros and copy the input into the middle)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        before = len(self.problems)
        self.generic_visit(node)
        if len(self.problems) == before:  # one message per chain, at its first wrong step (`torch.ops`)
            own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            self.attribute(node, node.attr, _text(node), stored=isinstance(node.ctx, ast.Store), own=own)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:  # `case object(__class__=c)` reads attributes
        for name in node.kwd_attrs:
            self.attribute(node, name, f"{_text(node.cls)}({name}=…)")
        self.generic_visit(node)

    # ----- names --------------------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if isinstance(node.ctx, ast.Load):  # no excuse by definition: `exec = exec` would launder it
            if name in CODE_RUNNERS:
                self.refuse(node, f"`{name}` runs or looks up code by name, which the manual functions may not do")
            elif name in NAME_LOOKUPS and id(node) not in self.checked_calls:
                self.refuse(node, f"`{name}` may only be called directly with a fixed attribute name "
                                  f"(e.g. `{name}(x, \"shape\")`)")
        if (name.startswith("__") and name not in HARMLESS_DUNDER_NAMES and name not in CODE_RUNNERS
                and not isinstance(node.ctx, ast.Store)):
            self.refuse(node, f"`{name}` is one of Python's internals, which the manual functions may not use")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in NAME_LOOKUPS:
            self.checked_calls.add(id(func))
            attribute = node.args[1] if len(node.args) >= 2 else None
            if isinstance(attribute, ast.Constant) and isinstance(attribute.value, str) and not node.keywords:
                self.attribute(node, attribute.value, _text(node), stored=func.id == "setattr")
            else:
                self.refuse(node, f"`{_text(node)}` computes the attribute name, which hides what it uses; "
                                  f"write the attribute directly (e.g. `x.shape`)")
        self.generic_visit(node)

    # ----- imports ------------------------------------------------------------------------------

    def inert(self, alias: ast.alias) -> bool:
        """An import whose bound name no loaded code reads (``globals``, ``vars`` and frames are refused)."""
        return self.used is not None and (alias.asname or alias.name.split(".")[0]) not in self.used

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES and not self.inert(alias):
                self.refuse(node, f"`import {alias.name}`: {IMPORT_RULE}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        shown = f"from {'.' * node.level}{module} import {', '.join(a.name for a in node.names)}"
        if all(alias.name != "*" and self.inert(alias) for alias in node.names):
            return
        if node.level or module not in ALLOWED_MODULES:
            self.refuse(node, f"`{shown}`: {IMPORT_RULE}")
            return
        for alias in node.names:
            if alias.name == "*":
                self.refuse(node, f"`{shown}`: import the names you use one by one, so the grader can see them")
            elif f"{module}.{alias.name}" not in ALLOWED_MODULES:
                self.attribute(node, alias.name, f"{module}.{alias.name}", exempt=False)
