"""The corpus of wrong and hostile submissions, each a change to the reference solution.

A case names the contract functions it breaks (``broken``): grading it must cost points in
the tests of those functions only, and every other test keeps full marks. Attacks break
nothing, so they must score exactly what the honest reference scores. ``parts`` says which
parts' graders run (None: a full grade, accuracy gate included); the parts of ``broken`` are
always graded. ``build`` turns a case into a submission file; each replacement must match the
reference exactly once, so a drifting reference fails loudly instead of hiding a bug.

``__MARKER__`` in a case's code becomes a number unique to the test run (used to find
processes and files the case leaves behind), ``__PLANTED__`` the folder of a planted copy of
the MNIST test set, ``__KIT__`` the repository's root.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The reference solution, generated from the source notebook (its single source of truth).
REFERENCE = HERE.parents[1] / "solutions" / "cnn_week1.py"


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    replace: tuple[tuple[str, str], ...] = ()  # (old, new): old occurs exactly once in the reference
    prefix: tuple[tuple[str, str], ...] = ()  # (function, code): code runs first in that function
    append: str = ""  # module-level code after everything (attacks at import)
    broken: frozenset[str] = frozenset()  # contract names whose tests must lose points
    must_fail: tuple[str, ...] = ()  # fragments of test names that must fail
    parts: tuple[str, ...] | None = ("output_size",)  # graded besides broken's parts; None: everything
    notebook: str | None = None  # "broken_json", "deleted_cell:<grade_id>", "syntax_error:<grade_id>"
    leaves_marker: bool = False  # spawns processes or writes files named with __MARKER__
    needs_planted: bool = False
    gate: bool = False  # run the accuracy gate too (always run in a full grade)


def _broken(*names: str) -> frozenset[str]:
    return frozenset(names)


def _lesson_table() -> str:
    """Literal outputs of the lesson's two-squares examples, for the hard-coding cheat."""
    import torch
    import torch.nn.functional as F

    kernels = {"vertical": [[1.0, 0.0, -1.0]] * 3, "horizontal": [[1.0] * 3, [0.0] * 3, [-1.0] * 3]}
    table = {}
    for n in (6, 8):
        image = torch.zeros(n, n)
        image[: n // 2, : n // 2] = 1.0
        image[n // 2:, n // 2:] = 1.0
        for name, kernel in kernels.items():
            for stride, padding in ((1, 0), (1, 1), (2, 0)):
                out = F.conv2d(image[None, None], torch.tensor(kernel)[None, None], stride=stride, padding=padding)
                table[f"{n}-{name}-{stride}-{padding}"] = out[0, 0].tolist()
    return json.dumps(table)


HARD_CODED = """
    import json as _json
    _TABLE = _json.loads('''__TABLE__''')
    _squares = lambda n: [[1.0 if (r < n // 2) == (c < n // 2) else 0.0 for c in range(n)] for r in range(n)]
    _KERNELS = {"vertical": [[1.0, 0.0, -1.0]] * 3, "horizontal": [[1.0] * 3, [0.0] * 3, [-1.0] * 3]}
    _image, _kernel = torch.as_tensor(image).tolist(), torch.as_tensor(kernel).tolist()
    for _name, _k in _KERNELS.items():
        _key = f"{len(_image)}-{_name}-{stride}-{padding}"
        if _kernel == _k and _image == _squares(len(_image)) and _key in _TABLE:
            return torch.tensor(_TABLE[_key])
    return torch.zeros(max((len(_image) + 2 * padding - len(_kernel)) // stride + 1, 1),
                       max((len(_image[0]) + 2 * padding - len(_kernel[0])) // stride + 1, 1))
"""

FAKE_RESULTS = """
import json as _json, os as _os
_FAKE = _json.dumps({"score": 100.0, "max_score": 100.0, "output": "FAKE-__MARKER__",
                     "tests": [{"name": "everything", "score": 100.0, "max_score": 100.0, "status": "passed"}]})
print(_FAKE)
for _path in ["/autograder/results/results.json", "/autograder/results.json", "results.json",
              "/tmp/results.json", "/scratch/results.json", _os.path.expanduser("~/results.json"),
              "../results.json", "/out/results.json", "/results/results.json", "__KIT__/results.json",
              "/tmp/out/results.json", "/tmp/corpus-__MARKER__.json"]:
    try:
        _os.makedirs(_os.path.dirname(_os.path.abspath(_path)), exist_ok=True)
        with open(_path, "w") as _handle:
            _handle.write(_FAKE)
    except OSError:
        pass
"""

PATCH_EVERYTHING = """
import builtins as _builtins, numpy as _np, numpy.testing as _npt, torch as _torch
_yes = lambda *args, **kwargs: True
_none = lambda *args, **kwargs: None
_torch.allclose = _torch.equal = _torch.Tensor.allclose = _torch.Tensor.equal = _yes
_torch.isclose = lambda a, b, *args, **kwargs: _torch.ones_like(_torch.as_tensor(a), dtype=_torch.bool)
_torch.testing.assert_close = _npt.assert_allclose = _npt.assert_array_equal = _npt.assert_equal = _none
_np.allclose = _np.array_equal = _yes
_builtins.AssertionError = type("NeverFails", (Exception,), {})
"""

LIAR_TENSOR = """
    class _Liar(torch.Tensor):
        def __eq__(self, other):
            return True
        def allclose(self, *args, **kwargs):
            return True
        def equal(self, *args, **kwargs):
            return True
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") in ("allclose", "equal", "isclose", "eq", "__eq__"):
                return True
            return super().__torch_function__(func, types, args, kwargs or {})
    return torch.zeros(3, 3).as_subclass(_Liar)
"""

CHILDREN = """
import os as _os, subprocess as _subprocess, time as _time
def _spawn():
    if _os.fork() == 0:
        while True:
            _time.sleep(0.2)
    _subprocess.Popen(["sleep", "1000.__MARKER__"], start_new_session=True)
    if _os.fork() == 0:
        _os.setsid()
        _os.execvp("sleep", ["sleep", "1001.__MARKER__"])
    for _folder in ("/tmp", "/scratch", _os.getcwd(), _os.path.expanduser("~")):
        try:
            open(_os.path.join(_folder, "corpus-__MARKER__"), "w").write("left behind")
        except OSError:
            pass
_spawn()
"""

WALK = """
import os as _walk_os
_FILES = []
def _all_files():
    # every file the submission can see (cached: the first call pays for the walk)
    if not _FILES:
        for _top in sorted(_walk_os.listdir("/")):
            if _top not in ("proc", "sys", "dev"):
                for _folder, _dirs, _names in _walk_os.walk("/" + _top):
                    _FILES.extend(_walk_os.path.join(_folder, _name) for _name in _names)
        _FILES.append("")
    return _FILES
"""

FIND_TEST_SET = """
    import glob, os
    seen = [path for path in _all_files() if "t10k" in path or "idx3-ubyte" in path or "MNIST/raw" in path]
    seen += glob.glob("__PLANTED__/*") + glob.glob("/tmp/**/t10k*", recursive=True)
    seen += glob.glob(os.path.expanduser("~/.cache/pip/**/t10k*"), recursive=True)
    if seen:
        raise RuntimeError(f"found the test set: {seen[:3]}")  # a found file would show as a failure
"""

READ_GRADER = """
    import glob
    found = []
    candidates = [path for path in _all_files() if "/graders/" in path or path.endswith(("cnn_week1.py", "grading.toml"))]
    for pattern in ("__KIT__/autograder/graders/*.py", "__KIT__/solutions/*.py", "__KIT__/grading.toml",
                    "/opt/grader-runtime/../graders/*.py", "/opt/graders/*.py"):
        candidates += glob.glob(pattern)
    for path in candidates:
        try:
            print(open(path).read()[:200])
            found.append(path)
        except OSError:
            pass
    if found:
        raise RuntimeError(f"read the grader's files: {found[:3]}")
"""

CASES: tuple[Case, ...] = (
    # ----- one bug per part ---------------------------------------------------------------------
    Case("flipped_kernel", "conv2d_single flips the kernel (true convolution)",
         replace=(("out += weights[a, b] * touched", "out += weights[kh - 1 - a, kw - 1 - b] * touched"),),
         broken=_broken("conv2d_single")),
    Case("one_sided_pad", "conv2d_single pads only the bottom and right",
         replace=(("F.pad(picture, (padding, padding, padding, padding))", "F.pad(picture, (0, 2 * padding, 0, 2 * padding))"),),
         broken=_broken("conv2d_single")),
    Case("ignored_stride", "conv2d_volume ignores the stride",
         prefix=(("conv2d_volume", "stride = 1"),), broken=_broken("conv2d_volume")),
    Case("ignored_bias", "conv2d_volume never adds the bias",
         replace=(("out += torch.as_tensor(bias).to(torch.float32).view(-1, 1, 1)", "pass"),),
         broken=_broken("conv2d_volume")),
    Case("avg_pool_sums", "avg_pool2d sums the window instead of averaging it",
         replace=(("out = total / (size * size)", "out = total"),), broken=_broken("avg_pool2d")),
    Case("output_size_without_plus_one", "conv_output_size forgets the + 1",
         replace=(("size = (n + 2 * padding - f) // stride + 1", "size = (n + 2 * padding - f) // stride"),),
         broken=_broken("conv_output_size"), parts=("pooling",)),
    Case("same_padding_accepts_even", "same_padding returns a value for an even f instead of raising",
         replace=(("if f < 1 or f % 2 == 0:", "if f < 1:"),), broken=_broken("same_padding"), parts=("pooling",),
         must_fail=("same_padding raises",)),
    Case("zero_pad_loses_dtype", "zero_pad always returns float32",
         replace=(("framed = x.new_zeros(*leading, height + 2 * pad, width + 2 * pad)",
                   "framed = torch.zeros(*leading, height + 2 * pad, width + 2 * pad)"),),
         broken=_broken("zero_pad"), parts=("pooling",), must_fail=("zero_pad keeps the input's dtype",)),
    Case("simple_cnn_conv2_padding", "SimpleCNN builds conv2 with padding=2",
         replace=(("self.conv2 = nn.Conv2d(6, 16, kernel_size=5)", "self.conv2 = nn.Conv2d(6, 16, kernel_size=5, padding=2)"),),
         broken=_broken("SimpleCNN"), parts=("output_size", "feature_maps")),
    Case("train_without_step", "train_one_epoch never calls optimizer.step()",
         replace=(("        optimizer.step()\n", ""),), broken=_broken("train_one_epoch"), parts=None,
         must_fail=("a model trained with train_one_epoch",)),
    Case("train_without_zero_grad", "train_one_epoch never zeroes the gradients",
         replace=(("        optimizer.zero_grad()\n", ""),), broken=_broken("train_one_epoch")),
    Case("train_in_eval_mode", "train_one_epoch puts the model in evaluation mode",
         replace=(("    model.train()\n", "    model.eval()\n"),), broken=_broken("train_one_epoch")),
    Case("evaluate_without_eval_or_no_grad", "evaluate neither calls eval() nor turns off gradients",
         replace=(("    model.eval()\n    n_correct, n_seen = 0, 0\n    with torch.no_grad():\n",
                   "    n_correct, n_seen = 0, 0\n    if True:\n"),), broken=_broken("evaluate")),
    Case("feature_maps_without_relu", "feature_maps returns conv1 before the ReLU",
         replace=(("after_conv1 = torch.relu(model.conv1(batch))", "after_conv1 = model.conv1(batch)"),),
         broken=_broken("feature_maps")),
    # ----- cheats -------------------------------------------------------------------------------
    Case("conv_with_library", "conv2d_single calls F.conv2d",
         prefix=(("conv2d_single", "return F.conv2d(torch.as_tensor(image).float()[None, None], "
                                    "torch.as_tensor(kernel).float()[None, None], stride=stride, padding=padding)[0, 0]"),),
         broken=_broken("conv2d_single"), must_fail=("conv2d_single does the work by hand",)),
    Case("zero_pad_with_f_pad", "zero_pad calls F.pad",
         prefix=(("zero_pad", "return F.pad(torch.as_tensor(x), (pad, pad, pad, pad)) if pad >= 0 else 1 / 0"),),
         broken=_broken("zero_pad"), must_fail=("zero_pad does the work by hand",), parts=("pooling",)),
    Case("hard_coded_lesson_examples", "conv2d_single returns the lesson's 6×6 and 8×8 answers as literals",
         prefix=(("conv2d_single", HARD_CODED),), broken=_broken("conv2d_single"),
         must_fail=("conv2d_single matches PyTorch on random",)),
    Case("train_on_the_test_set", "train_one_epoch hunts for the MNIST test set on disk to train on it",
         prefix=(("train_one_epoch", FIND_TEST_SET),), append=WALK, parts=("training_loop",), gate=True,
         needs_planted=True),
    # ----- attacks ------------------------------------------------------------------------------
    Case("sys_exit_at_import", "the file calls sys.exit(0) after defining everything",
         append="import sys\nsys.exit(0)\n", parts=("output_size", "pooling")),
    Case("os_exit_at_import", "the file calls os._exit(0) at import: nothing can be loaded",
         append="import os\nos._exit(0)\n", parts=("output_size", "pooling"),
         broken=_broken("conv_output_size", "same_padding", "zero_pad", "max_pool2d", "avg_pool2d")),
    Case("patch_checks_at_import", "monkeypatches torch.allclose/equal, numpy.testing and builtins, with an avg_pool2d bug",
         replace=(("out = total / (size * size)", "out = total"),), append=PATCH_EVERYTHING,
         broken=_broken("avg_pool2d"), parts=None),
    Case("tensor_subclass_always_equal", "conv2d_single returns a tensor subclass whose comparisons always succeed",
         prefix=(("conv2d_single", LIAR_TENSOR),), broken=_broken("conv2d_single")),
    Case("fake_results_json", "prints a fake Gradescope results.json and writes it everywhere it can guess",
         append=FAKE_RESULTS, prefix=(("conv_output_size", FAKE_RESULTS),),
         parts=("output_size", "simple_cnn"), leaves_marker=True),
    Case("infinite_loop_in_one_function", "max_pool2d never returns",
         prefix=(("max_pool2d", "while True:\n    pass"),), broken=_broken("max_pool2d"), parts=None),
    Case("memory_hog_in_one_function", "sobel_filter allocates 20 GB",
         prefix=(("sobel_filter", "hog = bytearray(20 * 1024 ** 3)"),), broken=_broken("sobel_filter")),
    Case("forked_children_left_running", "forks and starts processes at import and leaves files behind",
         append=CHILDREN, prefix=(("horizontal_edge_filter", "_spawn()"),), leaves_marker=True,
         parts=("output_size", "manual_conv")),
    Case("huge_output", "horizontal_edge_filter prints 100 MB",
         prefix=(("horizontal_edge_filter", 'print("x" * 100_000_000)'),), broken=_broken("horizontal_edge_filter")),
    Case("recursion_bomb", "same_padding recurses until the C stack overflows; conv_output_size until RecursionError",
         prefix=(("same_padding", "import json, sys\nsys.setrecursionlimit(10 ** 7)\njson.loads('[' * 1_000_000 + ']' * 1_000_000)"),
                 ("conv_output_size", "return conv_output_size(n, f, padding, stride)")),
         broken=_broken("same_padding", "conv_output_size"), parts=("pooling",)),
    Case("os_exit_in_one_function", "zero_pad calls os._exit(0)",
         prefix=(("zero_pad", "import os\nos._exit(0)"),), broken=_broken("zero_pad"), parts=("pooling",)),
    Case("reads_grader_files", "looks for the graders and the solution and prints them",
         prefix=(("conv_output_size", READ_GRADER), ("max_pool2d", READ_GRADER)), append=WALK,
         parts=("output_size", "pooling")),
    # ----- notebooks ----------------------------------------------------------------------------
    Case("notebook_broken_json", "a notebook whose JSON was damaged by a text editor", notebook="broken_json",
         broken=_broken("conv_output_size", "same_padding", "zero_pad", "max_pool2d", "avg_pool2d"),
         parts=("output_size", "pooling")),
    Case("notebook_deleted_cell", "a completed notebook whose max_pool2d cell was deleted",
         notebook="deleted_cell:max_pool2d", broken=_broken("max_pool2d"), parts=("output_size", "pooling")),
    Case("notebook_syntax_error", "a completed notebook with a syntax error in the zero_pad cell",
         notebook="syntax_error:zero_pad", broken=_broken("zero_pad"), parts=("output_size", "pooling")),
)


def module_source(case: Case, marker: str, planted: str = "/nonexistent", kit: str = "/nonexistent") -> str:
    """The case as a self-contained .py submission."""
    source = REFERENCE.read_text()
    for old, new in case.replace:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"{case.name}: {old!r} occurs {count} times in the reference, not once")
        source = source.replace(old, new)
    for function, code in case.prefix:
        pattern = re.compile(rf"^(def {re.escape(function)}\(.*\):\n)", re.MULTILINE)
        if len(pattern.findall(source)) != 1:
            raise ValueError(f"{case.name}: no single definition of {function} in the reference")
        body = "".join(f"    {line}\n" if line.strip() else "\n"
                       for line in _dedent(code).splitlines())
        source = pattern.sub(lambda match: match.group(1) + body, source)
    if case.append:
        source += "\n\n" + case.append
    for placeholder, value in (("__TABLE__", _lesson_table() if "__TABLE__" in source else ""),
                               ("__MARKER__", marker), ("__PLANTED__", planted), ("__KIT__", kit)):
        source = source.replace(placeholder, value)
    return source


def _dedent(code: str) -> str:
    import textwrap

    return textwrap.dedent(code).strip("\n")


def notebook_text(case: Case, source_notebook: Path) -> str:
    """The completed (instructor) notebook, damaged as the case says."""
    text = source_notebook.read_text()
    kind, _, grade_id = case.notebook.partition(":")
    if kind == "broken_json":
        cut = text.index('"cell_type": "code"', len(text) // 2)
        return text[:cut] + text[cut + 40:]  # a chunk deleted in the middle, as an editor accident would
    notebook = json.loads(text)
    cells = [cell for cell in notebook["cells"]
             if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id]
    if len(cells) != 1:
        raise ValueError(f"{case.name}: the notebook has {len(cells)} cells with grade_id {grade_id!r}")
    if kind == "deleted_cell":
        notebook["cells"].remove(cells[0])
    elif kind == "syntax_error":
        source = "".join(cells[0]["source"])
        cells[0]["source"] = source.replace("return framed", "return framed)", 1)
        assert cells[0]["source"] != source, "the zero_pad cell changed: update the syntax_error case"
    else:
        raise ValueError(f"unknown notebook case {case.notebook!r}")
    return json.dumps(notebook, indent=1)
