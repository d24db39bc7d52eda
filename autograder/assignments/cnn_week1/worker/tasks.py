"""Worker-side routines that need more than one call of the student's code.

Each task is ``function(namespace, payload, options) -> plain data`` (tensors,
numbers, strings, lists, dicts with str keys). A task only *observes*: it
builds models and instrumented loaders/optimizers, runs the student's code on
them and reports what happened (values, an event log, final weights). Every
comparison and every score is computed in the grader, which never trusts
these reports further than data.

Runs inside the sandbox: imports only torch, numpy and this folder's modules.
"""
from __future__ import annotations

import os
import time

import numpy as np
import torch
from torch import nn

from reference_model import LAYER_NAMES, ReferenceCNN, make_optimizer, normalise

MAX_CURVE_POINTS = 300

# Settings reported per layer type (whatever the class, only attributes that exist are read).
_SETTINGS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
             "in_features", "out_features", "ceil_mode", "padding_mode")


# ----- small helpers ------------------------------------------------------------------------

def _plain(value):
    """A module setting as wire-safe data (ints, strings, lists)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return repr(value)[:80]


def _type_names(module) -> list[str]:
    """The module's class and its bases as ``module.qualname`` (so a subclass of Conv2d shows it)."""
    return [f"{kind.__module__}.{kind.__qualname__}" for kind in type(module).__mro__
            if kind not in (object, nn.Module)]


def _mro_modules(model) -> list[str]:
    """Where the classes of the model, its submodules and its forward were defined (the grader
    refuses the kit's own classes); a subclass of the kit's model counts by identity too."""
    kinds = [kind for module in ([model] + list(model.modules() if isinstance(model, nn.Module) else []))
             for kind in type(module).__mro__]
    names = [getattr(kind, "__module__", "?") for kind in kinds]
    if isinstance(model, ReferenceCNN):
        names.append(ReferenceCNN.__module__)
    forward = getattr(type(model), "forward", None)
    names.append(str(getattr(forward, "__module__", "?")))
    return sorted({str(name) for name in names})


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _reference(weights: dict | None) -> ReferenceCNN:
    model = ReferenceCNN()
    if weights is not None:
        model.load_state_dict(weights)
    return model


class Batches:
    """The one loader every task hands to student code: the probes' few batches and the gate's hundreds.

    Like a DataLoader without drop_last: ``dataset`` (with len and indexing), ``batch_size``,
    ``len()`` and (images, labels) batches, pass k in the order ``orders[k-1]`` (the last order
    repeats; none: in sequence). Probe and gate differ only in data, never in kind, so student code
    cannot tell them apart; each pass and batch is counted in ``log``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, log: list, orders=None):
        self.dataset = _Samples(images, labels)
        self.batch_size = int(batch_size)
        self.log = log
        self.passes = 0
        self._orders = list(orders) if orders is not None else []

    def __len__(self):
        return (len(self.dataset) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        self.passes += 1
        self.log.append(["pass", self.passes])
        order = (self._orders[min(self.passes, len(self._orders)) - 1] if self._orders
                 else torch.arange(len(self.dataset)))
        for start in range(0, len(order), self.batch_size):
            index = order[start:start + self.batch_size]
            self.log.append(["batch"])
            yield self.dataset.x[index], self.dataset.y[index]  # indexing copies: the student may modify it


class _Samples:
    def __init__(self, images, labels):
        self.x, self.y = images, labels

    def __len__(self):
        return len(self.y)

    def __getitem__(self, index):
        return self.x[index], self.y[index]


def _probe_loader(payload, log: list) -> Batches:
    """payload: images (N, 1, 28, 28), labels (N,), batch_size; batches in sequence."""
    return Batches(payload["images"], payload["labels"], int(payload["batch_size"]), log)


def _log_forwards(model, log: list):
    def before_forward(module, inputs):
        log.append(["forward", bool(module.training), bool(torch.is_grad_enabled()),
                    bool(torch.is_inference_mode_enabled())])
    return model.register_forward_pre_hook(before_forward)


def _count_calls(owner, method_name: str, log: list, event: str) -> None:
    """Replace the bound method ``owner.method_name`` by one that logs ``event`` first."""
    original = getattr(owner, method_name)

    def counted(*args, **kwargs):
        log.append([event])
        return original(*args, **kwargs)

    object.__setattr__(owner, method_name, counted)


def _student(namespace, name):
    if name not in namespace:
        raise NameError(f"{name} is not defined")
    return namespace[name]


# ----- many calls of one function -----------------------------------------------------------

def call_table(namespace, payload, options):
    """Call one student function on many argument lists in one round trip (a table of cases).

    payload: name, calls [[args, kwargs]]. Reports per call ["value", value] or
    ["raised", exception type name, message]; the grader decides what each should have been.
    """
    function = _student(namespace, str(payload["name"]))
    results = []
    for args, kwargs in payload["calls"]:
        try:
            results.append(["value", function(*args, **kwargs)])
        except Exception as error:  # data for the grader; BaseException (exit, interrupt) ends the call
            results.append(["raised", type(error).__name__, str(error)[:200]])
    return results


# ----- SimpleCNN ----------------------------------------------------------------------------

def inspect_simple_cnn(namespace, payload, options):
    """Construct the student's SimpleCNN and describe it; optionally run it and run it with given weights.

    payload: seed; optional input (N, 1, 28, 28); optional weights {name: tensor} of the reference.
    """
    torch.manual_seed(int(payload.get("seed", 0)))
    model = _student(namespace, "SimpleCNN")()
    report = {"type": _type_names(model)[:1], "is_module": isinstance(model, nn.Module),
              "mro_modules": _mro_modules(model)}
    if not isinstance(model, nn.Module):
        return report
    layers = {}
    for name in LAYER_NAMES:
        module = getattr(model, name, None)
        if not isinstance(module, nn.Module):
            layers[name] = None
            continue
        layers[name] = {
            "types": _type_names(module),
            "settings": {key: _plain(getattr(module, key)) for key in _SETTINGS if hasattr(module, key)},
            "has_bias": getattr(module, "bias", None) is not None,
            "trainable": sum(p.numel() for p in module.parameters() if p.requires_grad),
        }
    report["layers"] = layers
    report["children"] = [[name, _type_names(child)[0]] for name, child in model.named_children()]
    report["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    report["state_shapes"] = {name: list(t.shape) for name, t in model.state_dict().items()}

    x = payload.get("input")
    if x is None:
        return report
    model.eval()  # contract forward has no dropout, but a student's extra dropout must not add noise
    trace = []
    entered = []  # [name, input shape] as each submodule starts: where a forward that raised stopped
    hooks = []
    for name, module in model.named_modules():
        if module is model:
            continue

        def enter(module, inputs, name=name):
            first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            entered.append([name, list(first.shape) if first is not None else None])
        hooks.append(module.register_forward_pre_hook(enter))

        def record(module, inputs, output, name=name):
            first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            trace.append({
                "name": name, "type": type(module).__name__,
                "input_shape": list(first.shape) if first is not None else None,
                "input_min": float(first.min()) if first is not None and first.numel() else None,
                "output_shape": list(output.shape) if isinstance(output, torch.Tensor) else None,
            })
        hooks.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            output = model(x.clone())
    except Exception as error:  # reported with the trace so far, which shows where the shapes went wrong
        output = None
        report["forward_error"] = f"{type(error).__name__}: {str(error)[:300]}"
    finally:
        for hook in hooks:
            hook.remove()
    report["trace"] = trace
    report["entered"] = entered[-50:]
    report["output_shape"] = list(output.shape) if isinstance(output, torch.Tensor) else None
    report["output_type"] = type(output).__name__
    if "forward_error" in report:
        return report

    weights = payload.get("weights")
    if weights is None:
        return report
    own = model.state_dict()
    missing = [name for name in weights if name not in own]
    mismatched = [[name, list(own[name].shape), list(t.shape)] for name, t in weights.items()
                  if name in own and own[name].shape != t.shape]
    report["load"] = {"missing": missing, "mismatched": mismatched,
                      "unexpected": [name for name in own if name not in weights]}
    if missing or mismatched:
        return report
    model.load_state_dict(weights, strict=False)
    with torch.no_grad():
        report["loaded_output"] = model(x.clone())
    return report


# ----- the training loop and evaluation -----------------------------------------------------

def train_probe(namespace, payload, options):
    """Run the student's train_one_epoch once on a reference model with every step observed.

    payload: weights, images, labels, batch_size, lr, momentum, seed (for the stale gradients).
    The model starts in eval mode with stale gradients, so that a loop that forgets
    model.train() or zeroes the gradients only after step shows it.
    """
    train_one_epoch = _student(namespace, "train_one_epoch")
    model = _reference(payload["weights"])
    model.eval()
    generator = torch.Generator().manual_seed(int(payload.get("seed", 0)))
    for parameter in model.parameters():
        parameter.grad = torch.randn(parameter.shape, generator=generator)
    log: list = []
    loader = _probe_loader(payload, log)
    lr, momentum = float(payload["lr"]), float(payload["momentum"])
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    _count_calls(optimizer, "zero_grad", log, "zero_grad")
    _count_calls(optimizer, "step", log, "step")
    _count_calls(model, "zero_grad", log, "zero_grad")
    _log_forwards(model, log)
    model.fc3.bias.register_hook(lambda grad: log.append(["backward"]))
    criterion = nn.CrossEntropyLoss()

    returned = train_one_epoch(model, loader, criterion, optimizer)

    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    return {
        "returned": returned,
        "events": log,
        "passes": loader.passes,
        "optimizer": {"lr": group.get("lr"), "momentum": group.get("momentum"),
                      "groups": len(optimizer.param_groups),
                      "parameters": sum(len(g["params"]) for g in optimizer.param_groups)},
        "weights": _snapshot(model),
        "training_after": bool(model.training),
    }


def evaluate_probe(namespace, payload, options):
    """Run the student's evaluate once on a reference model, observing mode, gradients and passes.

    payload: weights, images, labels, batch_size, start_mode "train" or "eval".
    """
    evaluate = _student(namespace, "evaluate")
    model = _reference(payload["weights"])
    model.train(payload.get("start_mode", "train") == "train")
    log: list = []
    loader = _probe_loader(payload, log)
    _log_forwards(model, log)

    returned = evaluate(model, loader)

    return {"returned": returned, "events": log, "passes": loader.passes,
            "weights_after": _snapshot(model), "training_after": bool(model.training)}


def feature_maps_probe(namespace, payload, options):
    """Call the student's feature_maps on a reference model in the given mode.

    payload: weights, image (1, 28, 28), mode "train" or "eval".
    """
    feature_maps = _student(namespace, "feature_maps")
    model = _reference(payload["weights"])
    model.train(payload.get("mode", "eval") == "train")

    returned = feature_maps(model, payload["image"].clone())

    report = {"weights_after": _snapshot(model), "training_after": bool(model.training),
              "is_dict": isinstance(returned, dict)}
    if not isinstance(returned, dict):
        report["returned_type"] = type(returned).__name__
        return report
    report["keys"] = [key if isinstance(key, str) else repr(key) for key in returned]
    report["maps"] = {key: returned[key] for key in ("conv1", "pool1", "conv2") if key in returned}
    report["requires_grad"] = {key: bool(getattr(value, "requires_grad", False))
                               for key, value in report["maps"].items()}
    return report


# ----- the accuracy gate --------------------------------------------------------------------

class RecordingLoss(nn.CrossEntropyLoss):
    """Cross-entropy that remembers each value it computed (for the loss curve)."""

    def __init__(self):
        super().__init__()
        self.values: list[float] = []

    def forward(self, input, target):
        loss = super().forward(input, target)
        self.values.append(float(loss.detach()))
        return loss


def load_training_set(data_dir: str, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``samples`` training images, normalised, as (N, 1, 28, 28) float32 and (N,) int64."""
    images = np.load(os.path.join(data_dir, "train-images.npy"), allow_pickle=False)[:samples]
    labels = np.load(os.path.join(data_dir, "train-labels.npy"), allow_pickle=False)[:samples]
    return normalise(torch.from_numpy(np.ascontiguousarray(images))), torch.from_numpy(labels.astype(np.int64))


def _downsample(values: list[float], points: int) -> list[float]:
    """Bucket means, so the curve keeps its shape with at most ``points`` values."""
    if len(values) <= points:
        return list(values)
    edges = np.linspace(0, len(values), points + 1).astype(int)
    array = np.asarray(values, dtype=np.float64)
    return [float(array[a:b].mean()) for a, b in zip(edges[:-1], edges[1:])]


def train_budget(namespace, payload, options):
    """Train a reference-architecture model with the student's train_one_epoch under the budget.

    payload: weights (the start), orders (epochs, train_samples) int64 (the batch order of each pass),
    batch_size, train_samples, optimizer, learning_rate, momentum, threads. The grader draws the start
    and the orders from a secret seed and replays the contract's loop on them; it compares the weights
    returned here with its replay and measures test accuracy itself (the worker never sees the test set).
    """
    train_one_epoch = _student(namespace, "train_one_epoch")
    images, labels = load_training_set(options.data_dir, int(payload["train_samples"]))
    orders = payload["orders"]
    loader = Batches(images, labels, int(payload["batch_size"]), [], orders=list(orders))
    model = _reference(payload["weights"])
    optimizer = make_optimizer(model, str(payload["optimizer"]), float(payload["learning_rate"]),
                               float(payload["momentum"]))
    steps = [0]
    original_step = optimizer.step

    def counted_step(*args, **kwargs):
        steps[0] += 1
        return original_step(*args, **kwargs)

    optimizer.step = counted_step
    criterion = RecordingLoss()
    returned, seconds = [], []
    # The replay's thread count: floating-point sums, hence the weights, depend on it.
    threads = torch.get_num_threads()
    torch.set_num_threads(int(payload.get("threads", threads)))
    try:
        for _ in range(len(orders)):
            started = time.perf_counter()
            returned.append(train_one_epoch(model, loader, criterion, optimizer))
            seconds.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    return {
        "weights": _snapshot(model),
        "returned": returned,
        "losses": _downsample(criterion.values, MAX_CURVE_POINTS),
        "batches_seen": len(criterion.values),
        "steps": steps[0],
        "passes": loader.passes,
        "batches_per_epoch": len(loader),
        "seconds": seconds,
    }


def _warm_up() -> None:
    """Build one optimizer now: the first one costs seconds (torch imports its compiler stack),
    which belongs in the worker's start-up, not in the time limit of the first student call."""
    parameter = nn.Parameter(torch.zeros(1))
    torch.optim.SGD([parameter], lr=0.1, momentum=0.9)
    torch.optim.Adam([parameter], lr=0.1)


_warm_up()

TASKS = {
    "call_table": call_table,
    "inspect_simple_cnn": inspect_simple_cnn,
    "train_probe": train_probe,
    "evaluate_probe": evaluate_probe,
    "feature_maps_probe": feature_maps_probe,
    "train_budget": train_budget,
}
