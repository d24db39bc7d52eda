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

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from autograder.engine.notebook import all_cells, cell_source, code_cells
from autograder.engine.notebook import grade_id as cell_grade_id

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
    # The exact outcome: "all" every test of a broken function fails; "named" exactly the tests
    # named by must_fail fail (and no other); None the looser "some test of each broken fails".
    fails: str | None = None
    same_as: str | None = None  # per-test scores must equal this case's (the undisguised cheat)
    cells: tuple[tuple[str, str], ...] = ()  # notebook case: (grade_id, new source; "{cell}" = the old one)
    filename: str = ""  # the submission's file name ("" : submission.py or submission.ipynb)
    unreadable: bool = False  # the notebook cannot be read: score 0 and a reason in results.json
    time_budget: float | None = None  # [sandbox] time_budget for this case
    max_seconds: float = 150.0  # the whole grade, wall clock
    leak_probe: bool = False  # prints what conv2d_single saw: no hidden input may reach the results


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
import os as _walk_os, time as _walk_time
_FILES = []
def _all_files():
    # every file the submission can see within 3 s (each fresh worker walks again; cached per worker)
    if not _FILES:
        _stop = _walk_time.monotonic() + 3
        for _top in sorted(_walk_os.listdir("/")):
            if _top not in ("proc", "sys", "dev"):
                for _folder, _dirs, _names in _walk_os.walk("/" + _top):
                    _FILES.extend(_walk_os.path.join(_folder, _name) for _name in _names)
                    if _walk_time.monotonic() > _stop:
                        break
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
    for pattern in ("__KIT__/autograder/assignments/*/graders/*.py", "__KIT__/solutions/*.py", "__KIT__/grading.toml",
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

# ----- the second round (issue #9): disguised library calls, forged verdicts, floods, odd-but-right code

LIBRARY_CONV = ("F.conv2d(torch.as_tensor(image).float()[None, None], torch.as_tensor(kernel).float()[None, None], "
                "stride=stride, padding=padding)[0, 0]")

ATEN_CONV = """
    x = torch.as_tensor(image).float()[None, None]
    k = torch.as_tensor(kernel).float()[None, None]
    return torch.ops.aten.convolution.default(x, k, None, [stride, stride], [padding, padding], [1, 1],
                                              False, [0, 0], 1)[0, 0]
"""

ATEN_POOL = """
    values = torch.as_tensor(x).float()
    batch = values[None] if values.dim() == 2 else values
    pooled = torch.ops.aten.max_pool2d_with_indices.default(batch, [size, size], [stride, stride])[0]
    return pooled[0] if values.dim() == 2 else pooled
"""

IN_A_THREAD = f"""
    import threading
    box = []
    worker = threading.Thread(target=lambda: box.append({LIBRARY_CONV}))
    worker.start()
    worker.join()
    return box[0]
"""

PROFILE_SWAPPED = f"""
    import sys
    hook = sys.getprofile()
    sys.setprofile(None)
    try:
        out = {LIBRARY_CONV}
    finally:
        sys.setprofile(hook)
    return out
"""

THROUGH_SYS_MODULES = """
    import sys
    for module_name, module in list(sys.modules.items()):
        if any(word in module_name for word in ("restrict", "tripwire", "worker", "guard", "confine")):
            for attribute, value in list(vars(module).items()):
                try:
                    if isinstance(value, type):
                        value.__call__ = lambda *args, **kwargs: None
                    elif callable(value) and any(word in attribute.lower() for word in ("forbid", "check", "guard", "refuse")):
                        setattr(module, attribute, lambda *args, **kwargs: None)
                except (AttributeError, TypeError):
                    pass
    functional = sys.modules["torch.nn.functional"]
    return functional.conv2d(torch.as_tensor(image).float()[None, None], torch.as_tensor(kernel).float()[None, None],
                             stride=stride, padding=padding)[0, 0]
"""

FORGED_FRAME = f"""
    import json, os, sys
    value = {LIBRARY_CONV}
    frame, request_id, reply_fd, wire = sys._getframe(), None, None, None
    while frame is not None:  # the worker's serve loop holds the request id and the reply fd
        if "request_id" in frame.f_locals:
            request_id, reply_fd = frame.f_locals["request_id"], frame.f_locals.get("fd_out")
            wire = frame.f_globals.get("wire")
        frame = frame.f_back
    reply = {{"ok": True, "value": value, "output": "", "seconds": 0.0}}
    payload = wire.encode(reply) if wire is not None else json.dumps({{"ok": True, "value": value.tolist()}}).encode()
    header = len(payload).to_bytes(4, "big") + int(request_id or 1).to_bytes(4, "big")
    for fd in ([reply_fd] if isinstance(reply_fd, int) else list(range(3, 31))):
        try:
            os.write(fd, header + payload)
        except OSError:
            pass
    os._exit(0)  # the real reply never follows
"""

NUMPY_C_CORE = """
    import numpy
    core = getattr(numpy, "_core", None) or numpy.core
    correlate = getattr(core.multiarray, "correlate2", None) or core.multiarray.correlate
    picture = torch.as_tensor(image).double().numpy()
    weights = torch.as_tensor(kernel).double().numpy()
    if padding:
        grown = numpy.zeros((picture.shape[0] + 2 * padding, picture.shape[1] + 2 * padding))
        grown[padding:-padding, padding:-padding] = picture
        picture = grown
    kh, kw = weights.shape
    rows = []
    for top in range(0, picture.shape[0] - kh + 1, stride):
        row = sum(correlate(picture[top + a], weights[a], 0) for a in range(kh))  # mode 0: "valid"
        rows.append(row[::stride])
    return torch.tensor(numpy.array(rows), dtype=torch.float32)
"""

GETATTR_NAMES = """
    routine = getattr(F, "con" + "v" + str(2) + "d")
    return routine(torch.as_tensor(image).float()[None, None], torch.as_tensor(kernel).float()[None, None],
                   stride=stride, padding=padding)[0, 0]
"""

DUNDER_IMPORT = """
    functional = __import__("torch.nn.func" + "tional", fromlist=["pad"])
    return getattr(functional, "conv" + "2d")(torch.as_tensor(image).float()[None, None],
                                              torch.as_tensor(kernel).float()[None, None], stride=stride, padding=padding)[0, 0]
"""

EXEC_STRING = """
    scope = {"image": image, "kernel": kernel, "stride": stride, "padding": padding}
    exec("import torch\\nimport torch.nn.functional as G\\nout = G.conv" + "2d(torch.as_tensor(image).float()[None, None], "
         "torch.as_tensor(kernel).float()[None, None], stride=stride, padding=padding)[0, 0]", scope)
    return scope["out"]
"""

IMPORTLIB_NAMES = """
    import importlib
    functional = importlib.import_module(".".join(["torch", "nn", "functional"]))
    return getattr(functional, "conv2d")(torch.as_tensor(image).float()[None, None],
                                         torch.as_tensor(kernel).float()[None, None], stride=stride, padding=padding)[0, 0]
"""

# The accuracy gate with no (or another) training loop: the probes have 3 batches, the gate hundreds.
GATE_EMBEDDED = """
    if len(loader) > 20:  # the gate: weights trained elsewhere, no loop at all
        import base64, io
        model.load_state_dict(torch.load(io.BytesIO(base64.b64decode("__WEIGHTS__"))))
        return 0.3, 91.0
"""

GATE_ADAM = """
    if len(loader) > 20:  # the gate: its own optimizer instead of the one it was given
        own = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        total, batches, hits, seen = 0.0, 0, 0, 0
        for images, labels in loader:
            own.zero_grad()
            logits = model(images)
            loss = criterion(logits, labels)
            loss.backward()
            own.step()
            total, batches = total + loss.item(), batches + 1
            hits, seen = hits + (logits.argmax(1) == labels).sum().item(), seen + len(labels)
        return total / batches, 100.0 * hits / seen
"""

GATE_EXTRA_EPOCHS = """
    if len(loader) > 20:  # the gate: three passes instead of one
        model.train()
        for _ in range(3):
            for images, labels in loader:
                optimizer.zero_grad()
                loss = criterion(model(images), labels)
                loss.backward()
                optimizer.step()
        return loss.item(), 95.0
"""

LEN_DATASET_LOOP = """
def train_one_epoch(model, loader, criterion, optimizer, device="cpu"):
    model.train()
    loss_sum, n_correct = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        logits = model(images)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item()
        n_correct += (logits.argmax(dim=1) == labels).sum().item()
    return loss_sum / len(loader), 100.0 * n_correct / len(loader.dataset)
"""

KIT_MODEL_IMPORTED = """
import glob, importlib, sys
SimpleCNN = None
for name in ("reference_model", "autograder.assignments.cnn_week1.worker.reference_model", "runtime.reference_model", "tasks"):
    try:
        module = importlib.import_module(name)
        SimpleCNN = getattr(module, "ReferenceCNN")
        break
    except Exception:
        pass
for folder in sys.path + ["/opt", "/run", "/tmp", "/"]:  # and print the graders' model if it is readable
    for path in glob.glob(folder + "/**/reference_model.py", recursive=False) + glob.glob(folder + "/reference_model.py"):
        try:
            print(open(path).read())
        except OSError:
            pass
if SimpleCNN is None:
    del SimpleCNN
"""

KIT_MODEL_FROM_GC = """
import gc
import torch.nn as nn
_found = [thing for thing in gc.get_objects()
          if isinstance(thing, type) and issubclass(thing, nn.Module) and thing.__name__ != "SimpleCNN"
          and not thing.__module__.startswith("torch") and hasattr(thing, "forward")
          and "conv1" in getattr(thing.__init__, "__code__", compile("", "", "exec")).co_names]
if _found:
    class SimpleCNN(_found[0]):
        pass
"""

RECORD_INPUTS = """
    _SEEN.append(" ".join(f"{v:.4f}" for v in torch.as_tensor(image).flatten()[:5].tolist()))
"""

PRINT_RECORDED = """
    raise RuntimeError("RECORDED " + " | ".join(_SEEN))
"""

THREAD_BOMB = """import threading, time
_hold = threading.Event()
for _ in range(100):  # more threads than [sandbox] max_processes: the 60-somethingth fails
    threading.Thread(target=_hold.wait, daemon=True).start()
{cell}"""

SURROGATES = r"""
    print("lone surrogates: \udc80 \ud800 and more \udfff")
    raise RuntimeError("bad size \udc80\ud800 here")
"""

EXIT_ON_FINAL_PING = """
        import json as _json, os as _os
        if not getattr(_json, "_patched", False):
            _original = _json.loads
            def _loads(text, *args, **kwargs):
                value = _original(text, *args, **kwargs)
                if isinstance(value, dict) and value.get("op") == "ping":
                    _os._exit(0)
                return value
            _json.loads, _json._patched = _loads, True
"""

ANSI_RAISE = r"""
    print("\x1b[2J\x1b[H\x1b]0;owned\x07\x1b]52;c;ZXZpbA==\x07 cleared your screen")
    raise RuntimeError("\x1b[31m\x1b]8;;http://example.invalid\x07click\x1b]8;;\x07\x1b[0m \x1b[1A\x1b[2K")
"""

ANSI_PRINT = r"""
    print("\x1b[5m\x1b[41mBLINK\x1b[0m \x1b]0;title\x07 \x9b31m")
"""

EMPTY_FILES = """
    import os, tempfile
    if not globals().get("_FILLED"):
        globals()["_FILLED"] = True
        folder = tempfile.gettempdir()
        try:
            for number in range(600_000):
                open(os.path.join(folder, f"e{number}"), "w").close()
        except OSError:
            pass
"""

LESSON_ONLY_HUGE_MAP = """
    values = torch.as_tensor(image)
    if values.shape[0] in (6, 8) and bool(((values == 0) | (values == 1)).all()):
        return torch.randn(3000, 3000)
"""

SLOW_CELL = """import time
time.sleep(15)
{cell}"""

NOT_EQUAL_LINE = """
if (f
!= int(f)):
    raise ValueError("integers only")
"""

LENET_TUTORIAL_FORWARD = """    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), (2, 2))
        x = x.view(-1, self.num_flat_features(x))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)

    def num_flat_features(self, x):
        size = x.size()[1:]
        n = 1
        for s in size:
            n *= s
        return n

    def unused_forward(self, x):"""

VOLUME_FROM_SINGLE = '''def conv2d_volume(volume, filters, bias=None, stride=1, padding=0):
    volume, filters = torch.as_tensor(volume).float(), torch.as_tensor(filters).float()
    maps = []
    for one_filter in filters:
        total = sum(conv2d_single(channel, weights, stride, padding) for channel, weights in zip(volume, one_filter))
        maps.append(total)
    out = torch.stack(maps)
    if bias is not None:
        out = out + torch.as_tensor(bias).float().view(-1, 1, 1)
    return out
'''

SINGLE_WITH_ZERO_PAD = '''def conv2d_single(image, kernel, stride=1, padding=0):
    picture = zero_pad(torch.as_tensor(image).float(), padding)
    weights = torch.as_tensor(kernel).float()
    kh, kw = weights.shape
    out_h, out_w = (picture.shape[0] - kh) // stride + 1, (picture.shape[1] - kw) // stride + 1
    out = torch.zeros(out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = (picture[i * stride:i * stride + kh, j * stride:j * stride + kw] * weights).sum()
    return out
'''

SINGLE_SLIDING_WINDOW = '''def conv2d_single(image, kernel, stride=1, padding=0):
    picture = np.asarray(torch.as_tensor(image).double())
    weights = np.asarray(torch.as_tensor(kernel).double())
    framed = np.zeros((picture.shape[0] + 2 * padding, picture.shape[1] + 2 * padding))
    framed[padding:padding + picture.shape[0], padding:padding + picture.shape[1]] = picture
    windows = np.lib.stride_tricks.sliding_window_view(framed, weights.shape)[::stride, ::stride]
    return torch.from_numpy(np.einsum("ijab,ab->ij", windows, weights)).to(torch.float32)
'''

SINGLE_AS_STRIDED = '''def conv2d_single(image, kernel, stride=1, padding=0):
    picture = torch.as_tensor(image).float()
    weights = torch.as_tensor(kernel).float()
    framed = torch.zeros(picture.shape[0] + 2 * padding, picture.shape[1] + 2 * padding)
    framed[padding:padding + picture.shape[0], padding:padding + picture.shape[1]] = picture
    kh, kw = weights.shape
    out_h, out_w = (framed.shape[0] - kh) // stride + 1, (framed.shape[1] - kw) // stride + 1
    row, col = framed.stride()
    windows = torch.as_strided(framed, (out_h, out_w, kh, kw), (row * stride, col * stride, row, col))
    return (windows * weights).sum(dim=(2, 3))
'''

SINGLE_F_PAD = '''def conv2d_single(image, kernel, stride=1, padding=0):
    picture = F.pad(torch.as_tensor(image).float(), [padding] * 4, mode="constant", value=0.0)
    weights = torch.as_tensor(kernel).float()
    kh, kw = weights.shape
    out_h, out_w = (picture.shape[0] - kh) // stride + 1, (picture.shape[1] - kw) // stride + 1
    return torch.stack([torch.stack([(picture[i * stride:i * stride + kh, j * stride:j * stride + kw] * weights).sum()
                                     for j in range(out_w)]) for i in range(out_h)])
'''


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
    Case("os_exit_at_import", "the file calls os._exit(0) at import: the file as a whole never loads "
         "(a manual function's own worker loads only the definitions it needs, so those keep their points)",
         append="import os\nos._exit(0)\n", parts=("output_size", "pooling"),
         broken=_broken("conv_output_size", "same_padding")),
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
         prefix=(("same_padding", READ_GRADER),), append=WALK,
         parts=("output_size", "pooling")),
    # ----- notebooks ----------------------------------------------------------------------------
    Case("notebook_broken_json", "a notebook whose JSON was damaged by a text editor", notebook="broken_json",
         broken=_broken("conv_output_size", "same_padding", "zero_pad", "max_pool2d", "avg_pool2d"),
         parts=("output_size", "pooling")),
    Case("notebook_deleted_cell", "a completed notebook whose max_pool2d cell was deleted",
         notebook="deleted_cell:max_pool2d", broken=_broken("max_pool2d"), parts=("output_size", "pooling")),
    Case("notebook_syntax_error", "a completed notebook with a syntax error in the zero_pad cell",
         notebook="syntax_error:zero_pad", broken=_broken("zero_pad"), parts=("output_size", "pooling")),
    # ----- issue #9: the library-routine rule, disguised (each must score what the plain cheat scores)
    Case("pool_with_library", "max_pool2d calls F.max_pool2d (the plain cheat the pooling disguises are held to)",
         prefix=(("max_pool2d", "values = torch.as_tensor(x).float()\nreturn F.max_pool2d(values[None], size, stride)[0] "
                                "if values.dim() == 2 else F.max_pool2d(values, size, stride)"),),
         broken=_broken("max_pool2d"), must_fail=("max_pool2d does the work by hand",), parts=("pooling",)),
    Case("aten_convolution_overload", "conv2d_single calls torch.ops.aten.convolution.default",
         prefix=(("conv2d_single", ATEN_CONV),), broken=_broken("conv2d_single"), same_as="conv_with_library"),
    Case("aten_max_pool_overload", "max_pool2d calls torch.ops.aten.max_pool2d_with_indices.default",
         prefix=(("max_pool2d", ATEN_POOL),), broken=_broken("max_pool2d"), parts=("pooling",),
         same_as="pool_with_library"),
    Case("forbidden_call_in_a_thread", "conv2d_single runs F.conv2d in a new threading.Thread",
         prefix=(("conv2d_single", IN_A_THREAD),), broken=_broken("conv2d_single"), same_as="conv_with_library"),
    Case("profile_hook_swapped_out_and_back", "conv2d_single removes sys.setprofile's hook around F.conv2d",
         prefix=(("conv2d_single", PROFILE_SWAPPED),), broken=_broken("conv2d_single"), same_as="conv_with_library"),
    Case("guard_replaced_through_sys_modules", "conv2d_single disarms whatever guards it finds in sys.modules",
         prefix=(("conv2d_single", THROUGH_SYS_MODULES),), broken=_broken("conv2d_single"), same_as="conv_with_library"),
    Case("forged_reply_frame", "conv2d_single writes its own reply frame (id from the stack) and exits",
         prefix=(("conv2d_single", FORGED_FRAME),), broken=_broken("conv2d_single"), same_as="conv_with_library"),
    Case("numpy_c_core_correlate", "conv2d_single correlates rows with numpy's C core (np.core.multiarray)",
         prefix=(("conv2d_single", NUMPY_C_CORE),), broken=_broken("conv2d_single"), same_as="conv_with_library"),
    Case("getattr_built_name", "conv2d_single finds F.conv2d with getattr and a built string",
         prefix=(("conv2d_single", GETATTR_NAMES),), broken=_broken("conv2d_single"), same_as="conv_with_library"),
    Case("dunder_import", "conv2d_single reaches conv2d through __import__ of a built module name",
         prefix=(("conv2d_single", DUNDER_IMPORT),), broken=_broken("conv2d_single"), same_as="conv_with_library"),
    Case("exec_of_a_string", "conv2d_single runs F.conv2d inside exec() of a built string",
         prefix=(("conv2d_single", EXEC_STRING),), broken=_broken("conv2d_single"), same_as="conv_with_library"),
    Case("importlib_import", "conv2d_single imports torch.nn.functional with importlib",
         prefix=(("conv2d_single", IMPORTLIB_NAMES),), broken=_broken("conv2d_single"), same_as="conv_with_library"),
    # ----- the accuracy gate without the contract's loop: only the gate fails ---------------------
    Case("gate_loads_embedded_weights", "train_one_epoch trains honestly on the probes, loads pre-trained weights in the gate",
         prefix=(("train_one_epoch", GATE_EMBEDDED),), broken=_broken("train_one_epoch"), parts=("training_loop",),
         gate=True, fails="named", must_fail=("a model trained with train_one_epoch",)),
    Case("gate_trains_with_adam", "train_one_epoch trains the gate's model with its own Adam",
         prefix=(("train_one_epoch", GATE_ADAM),), broken=_broken("train_one_epoch"), parts=("training_loop",),
         gate=True, fails="named", must_fail=("a model trained with train_one_epoch",)),
    Case("gate_trains_extra_epochs", "train_one_epoch makes three passes when it sees the gate",
         prefix=(("train_one_epoch", GATE_EXTRA_EPOCHS),), broken=_broken("train_one_epoch"), parts=("training_loop",),
         gate=True, fails="named", must_fail=("a model trained with train_one_epoch",)),
    # ----- nothing of the graders reachable ------------------------------------------------------
    Case("simple_cnn_is_the_kit_model", "the SimpleCNN cell imports the graders' ReferenceCNN (and prints its file)",
         cells=(("SimpleCNN", KIT_MODEL_IMPORTED),), broken=_broken("SimpleCNN"), parts=("simple_cnn",), fails="all"),
    Case("simple_cnn_subclasses_a_gc_find", "SimpleCNN subclasses an nn.Module with conv1 found through gc",
         cells=(("SimpleCNN", KIT_MODEL_FROM_GC),), broken=_broken("SimpleCNN"), parts=("simple_cnn",), fails="all"),
    # ----- hidden inputs recorded by correct code, printed from a later visible failure ---------
    Case("hidden_inputs_recorded_and_printed", "conv2d_single records every input in a module list; conv_output_size raises with them",
         prefix=(("conv2d_single", RECORD_INPUTS), ("conv_output_size", PRINT_RECORDED)), append="_SEEN = []\n",
         broken=_broken("conv_output_size"), parts=("manual_conv",), fails="all", leak_probe=True),
    # ----- returned dtypes -----------------------------------------------------------------------
    Case("returns_complex64", "conv2d_single returns its (right) values as complex64",
         replace=(("            out += weights[a, b] * touched\n    return out\n",
                   "            out += weights[a, b] * touched\n    return out.to(torch.complex64)\n"),),
         broken=_broken("conv2d_single"), fails="named",
         must_fail=("conv2d_single reproduces", "conv2d_single matches")),
    Case("returns_bfloat16", "max_pool2d returns its (right) values as bfloat16",
         replace=(("            out = view.clone() if out is None else torch.maximum(out, view)\n    return out\n",
                   "            out = view.clone() if out is None else torch.maximum(out, view)\n    return out.to(torch.bfloat16)\n"),),
         broken=_broken("max_pool2d"), parts=("pooling",), fails="named",
         must_fail=("max_pool2d matches", "max_pool2d and avg_pool2d give")),
    # ----- limits a submission shares with nobody ------------------------------------------------
    Case("thread_bomb_in_a_cell", "the sobel_filter cell starts 100 threads before its def (RLIMIT_NPROC)",
         cells=(("sobel_filter", THREAD_BOMB),), broken=_broken("sobel_filter"), parts=("output_size", "manual_conv"),
         fails="all"),
    # ----- text the grader must survive ----------------------------------------------------------
    Case("lone_surrogates", "same_padding prints and raises text with lone surrogates; zero_pad prints one and is right",
         prefix=(("same_padding", SURROGATES), ("zero_pad", r'print("half a pair: \udcff")')),
         broken=_broken("same_padding"), parts=("output_size",), fails="all"),
    Case("ansi_and_osc_escapes", "vertical_edge_filter prints and raises terminal escapes; horizontal_edge_filter prints some",
         prefix=(("vertical_edge_filter", ANSI_RAISE), ("horizontal_edge_filter", ANSI_PRINT)),
         broken=_broken("vertical_edge_filter"), fails="all"),
    Case("huge_exception_type_name", "horizontal_edge_filter raises an exception whose type name has 4 million characters",
         prefix=(("horizontal_edge_filter", 'raise type("X" * 4_000_000, (Exception,), {})("boom")'),),
         broken=_broken("horizontal_edge_filter"), fails="all"),
    # ----- the worker's life ---------------------------------------------------------------------
    Case("os_exit_in_avg_pool", "avg_pool2d prints and calls os._exit(3)",
         prefix=(("avg_pool2d", "import os\nprint('bye')\nos._exit(3)"),), broken=_broken("avg_pool2d"),
         parts=("pooling",), fails="all"),
    Case("exits_on_the_final_ping", "SimpleCNN() patches json.loads so that the worker exits on the grader's ping",
         replace=(("        super().__init__()\n", "        super().__init__()\n" + EXIT_ON_FINAL_PING),),
         parts=("simple_cnn",), fails="all"),
    # ----- floods and sizes ----------------------------------------------------------------------
    Case("reply_of_40_mb", "vertical_edge_filter returns a 3200×3200 tensor (a 40 MB reply)",
         prefix=(("vertical_edge_filter", "return torch.randn(3200, 3200)"),), broken=_broken("vertical_edge_filter"),
         fails="all"),
    Case("wrong_3000_map", "conv2d_single returns a wrong 3000×3000 map on the lesson's images only",
         prefix=(("conv2d_single", LESSON_ONLY_HUGE_MAP),), broken=_broken("conv2d_single"), fails="named",
         must_fail=("conv2d_single reproduces",)),
    Case("slow_cells_and_hangs", "max_pool2d and avg_pool2d cells take 15 s to load, conv_output_size hangs: a 25 s budget",
         cells=(("max_pool2d", SLOW_CELL), ("avg_pool2d", SLOW_CELL)), prefix=(("conv_output_size", "while True:\n    pass"),),
         broken=_broken("conv_output_size", "max_pool2d", "avg_pool2d"), parts=("output_size", "pooling"),
         fails="all", time_budget=25.0, max_seconds=90.0),
    Case("scratch_full_of_empty_files", "same_padding tries to create 600,000 empty files in its temp folder, then is right",
         prefix=(("same_padding", EMPTY_FILES),), parts=("output_size",), fails="all"),
    # ----- notebooks that cannot be read -----------------------------------------------------------
    Case("notebook_nested_100000_deep", "a notebook whose metadata nests lists 100,000 deep",
         notebook="deep_json", unreadable=True, parts=("output_size",)),
    Case("notebook_5000_digit_integer", "a notebook with a 5,000-digit integer in its metadata",
         notebook="huge_int", unreadable=True, parts=("output_size",)),
    # ----- correct code written in ways the contract allows: full marks --------------------------
    Case("percent_percent_time_cell", "the conv2d_single cell starts with %%time",
         cells=(("conv2d_single", "%%time\n{cell}"),), parts=("manual_conv",), fails="all"),
    Case("not_equal_line_in_parentheses", "conv_output_size has a line starting with != inside parentheses",
         cells=(("conv_output_size", "{cell}"),), prefix=(("conv_output_size", NOT_EQUAL_LINE),),
         parts=("output_size",), fails="all"),
    Case("accuracy_over_len_dataset", "train_one_epoch divides by len(loader) and len(loader.dataset)",
         replace=(("def train_one_epoch(model, loader, criterion, optimizer, device=\"cpu\"):\n",
                   LEN_DATASET_LOOP.lstrip("\n") + "\n\ndef _contract_train_one_epoch(model, loader, criterion, optimizer, device=\"cpu\"):\n"),),
         parts=("training_loop",), gate=True, fails="all"),
    Case("uppercase_py_suffix", "the reference solution submitted as SUBMISSION.PY", filename="SUBMISSION.PY",
         parts=("output_size", "pooling"), fails="all"),
    Case("lenet_tutorial_forward", "forward written as in PyTorch's LeNet tutorial (F.max_pool2d(F.relu(...), 2))",
         replace=(("    def forward(self, x):\n", LENET_TUTORIAL_FORWARD + "\n"),),
         parts=("simple_cnn", "feature_maps"), fails="all"),
    Case("volume_calls_single_in_another_cell", "conv2d_volume sums conv2d_single over channels (another cell)",
         cells=(("conv2d_volume", VOLUME_FROM_SINGLE),), parts=("manual_conv",), fails="all"),
    Case("single_uses_zero_pad", "conv2d_single pads with the student's own zero_pad (a later cell)",
         cells=(("conv2d_single", SINGLE_WITH_ZERO_PAD),), parts=("manual_conv", "output_size"), fails="all"),
    Case("single_with_sliding_window_view", "conv2d_single with numpy's sliding_window_view and einsum",
         replace=(("def conv2d_single(image, kernel, stride=1, padding=0):\n",
                   SINGLE_SLIDING_WINDOW + "\n\ndef _loop_conv2d_single(image, kernel, stride=1, padding=0):\n"),),
         parts=("manual_conv",), fails="all"),
    Case("single_with_as_strided", "conv2d_single with torch.as_strided windows",
         cells=(("conv2d_single", SINGLE_AS_STRIDED),), parts=("manual_conv",), fails="all"),
    Case("single_with_f_pad_cell", "the conv2d_single cell pads with F.pad(mode='constant'); zero_pad by hand",
         cells=(("conv2d_single", SINGLE_F_PAD),), parts=("manual_conv", "output_size"), fails="all"),
)


def is_notebook(case: Case) -> bool:
    return bool(case.notebook or case.cells)


def module_source(case: Case, marker: str, planted: str = "/nonexistent", kit: str = "/nonexistent") -> str:
    """The case as a self-contained .py submission."""
    [source] = _edited(case, [REFERENCE.read_text()])
    if case.append:
        source += "\n\n" + case.append
    return _placeholders(source, marker, planted, kit)


def _edited(case: Case, texts: list[str]) -> list[str]:
    """``texts`` (the reference, or a notebook's cells) with the case's replacements and prefixes,
    each of which must apply exactly once over all of them."""
    texts = list(texts)
    for old, new in case.replace:
        count = sum(text.count(old) for text in texts)
        if count != 1:
            raise ValueError(f"{case.name}: {old!r} occurs {count} times in the reference, not once")
        texts = [text.replace(old, new) for text in texts]
    for function, code in case.prefix:
        pattern = re.compile(rf"^(def {re.escape(function)}\(.*\):\n)", re.MULTILINE)
        if sum(len(pattern.findall(text)) for text in texts) != 1:
            raise ValueError(f"{case.name}: no single definition of {function} in the reference")
        body = "".join(f"    {line}\n" if line.strip() else "\n"
                       for line in _dedent(code).splitlines())
        texts = [pattern.sub(lambda match: match.group(1) + body, text) for text in texts]
    return texts


def _placeholders(source: str, marker: str, planted: str, kit: str) -> str:
    for placeholder, value in (("__TABLE__", _lesson_table() if "__TABLE__" in source else ""),
                               ("__WEIGHTS__", pretrained_weights() if "__WEIGHTS__" in source else ""),
                               ("__MARKER__", marker), ("__PLANTED__", planted), ("__KIT__", kit)):
        source = source.replace(placeholder, value)
    return source


@functools.cache
def pretrained_weights() -> str:
    """Base64 of a state dict of the reference architecture trained for one budget's worth of SGD
    (the "embedded pre-trained weights" a cheating train_one_epoch loads in the gate)."""
    import base64
    import io

    import numpy as np
    import torch
    import torch.nn.functional as F

    from autograder.engine.config import load_config
    from autograder.assignments.cnn_week1.data import training_arrays
    from autograder.assignments.cnn_week1.worker.reference_model import ReferenceCNN, normalise

    from autograder.assignments.cnn_week1.data import cache_root

    cached = cache_root() / "corpus-pretrained-v1.b64"  # a minute of training, done once per machine
    if cached.is_file():
        return cached.read_text()
    config = load_config(HERE.parents[1] / "grading.toml")
    files = training_arrays(config)
    images = normalise(torch.from_numpy(np.load(files["train-images.npy"])[:30000]))
    labels = torch.from_numpy(np.load(files["train-labels.npy"])[:30000].astype(np.int64))
    torch.manual_seed(0)
    model = ReferenceCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for start in range(0, len(labels), 64):
        optimizer.zero_grad()
        F.cross_entropy(model(images[start:start + 64]), labels[start:start + 64]).backward()
        optimizer.step()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    text = base64.b64encode(buffer.getvalue()).decode("ascii")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.with_suffix(".tmp").write_text(text)
    cached.with_suffix(".tmp").replace(cached)
    return text


def _dedent(code: str) -> str:
    import textwrap

    return textwrap.dedent(code).strip("\n")


def notebook_text(case: Case, source_notebook: Path, marker: str = "1", kit: str = "/nonexistent") -> str:
    """The completed (instructor) notebook, edited or damaged as the case says."""
    text = source_notebook.read_text()
    if case.cells:
        return _placeholders(_edited_notebook(case, json.loads(text)), marker, "/nonexistent", kit)
    kind, _, grade_id = case.notebook.partition(":")
    if kind in ("deep_json", "huge_int"):
        notebook = json.loads(text)
        notebook["metadata"]["widgets"] = "__HOSTILE__"
        hostile = "[" * 100_000 + "]" * 100_000 if kind == "deep_json" else "7" * 5_000
        return json.dumps(notebook, indent=1).replace('"__HOSTILE__"', hostile)
    if kind == "broken_json":
        cut = text.index('"cell_type": "code"', len(text) // 2)
        return text[:cut] + text[cut + 40:]  # a chunk deleted in the middle, as an editor accident would
    notebook = json.loads(text)
    cells = [cell for cell in all_cells(notebook) if cell_grade_id(cell) == grade_id]
    if len(cells) != 1:
        raise ValueError(f"{case.name}: the notebook has {len(cells)} cells with grade_id {grade_id!r}")
    if kind == "deleted_cell":
        notebook["cells"].remove(cells[0])
    elif kind == "syntax_error":
        source = cell_source(cells[0])
        cells[0]["source"] = source.replace("return framed", "return framed)", 1)
        assert cells[0]["source"] != source, "the zero_pad cell changed: update the syntax_error case"
    else:
        raise ValueError(f"unknown notebook case {case.notebook!r}")
    return json.dumps(notebook, indent=1)


def _edited_notebook(case: Case, notebook: dict) -> str:
    """Cells replaced by ``case.cells`` ("{cell}" stands for the old source), then the case's edits."""
    by_id = {}
    for cell in code_cells(notebook):
        if cell_grade_id(cell):
            by_id.setdefault(cell_grade_id(cell), []).append(cell)
    for grade_id, source in case.cells:
        if len(by_id.get(grade_id, [])) != 1:
            raise ValueError(f"{case.name}: the notebook has no single cell with grade_id {grade_id!r}")
        cell = by_id[grade_id][0]
        cell["source"] = source.replace("{cell}", cell_source(cell))
    graded = [cell for cells in by_id.values() for cell in cells]
    texts = _edited(case, [cell_source(cell) for cell in graded])
    for cell, text in zip(graded, texts):
        cell["source"] = text
    return json.dumps(notebook, indent=1)
