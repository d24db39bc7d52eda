"""Part simple_cnn: the student's SimpleCNN inspected in the worker, judged here.

Weights: all four tests 1 (3.75 points each). One wrong layer size fails all four (settings, parameter
count, the forward raises, the weights do not load); when it is fc1's in_features alone it is diagnosed
and costs 3.75 points once instead of the whole part.

The structure (names, layer types, settings, parameter counts) is the contract's; the forward
is judged by its outputs only, so any forward that computes the same logits (functional pooling,
one pool module used twice) is accepted, and which submodules it called is only a hint.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from autograder.assignments.cnn_week1.hints import shared_hints
from autograder.engine.checks import expect_tensor, shape_text, with_hint
from autograder.engine.failures import GradingFailure
from autograder.assignments.cnn_week1.worker import reference_model
from autograder.assignments.cnn_week1.worker.reference_model import LAYER_NAMES, ReferenceCNN, seeded_weights

pytestmark = pytest.mark.part("simple_cnn")

BATCH = 4
CONV, POOL, LINEAR = "torch.nn.modules.conv.Conv2d", "torch.nn.modules.pooling.MaxPool2d", "torch.nn.modules.linear.Linear"
# name -> (class, its spelling in the contract, settings that must hold)
EXPECTED = {
    "conv1": (CONV, "Conv2d(1, 6, 5, padding=2)",
              {"in_channels": 1, "out_channels": 6, "kernel_size": [5, 5], "stride": [1, 1], "padding": [2, 2],
               "dilation": [1, 1], "groups": 1}),
    "pool1": (POOL, "MaxPool2d(2, 2)", {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0], "dilation": [1, 1]}),
    "conv2": (CONV, "Conv2d(6, 16, 5)",
              {"in_channels": 6, "out_channels": 16, "kernel_size": [5, 5], "stride": [1, 1], "padding": [0, 0],
               "dilation": [1, 1], "groups": 1}),
    "pool2": (POOL, "MaxPool2d(2, 2)", {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0], "dilation": [1, 1]}),
    "fc1": (LINEAR, "Linear(400, 120)", {"in_features": 400, "out_features": 120}),
    "fc2": (LINEAR, "Linear(120, 84)", {"in_features": 120, "out_features": 84}),
    "fc3": (LINEAR, "Linear(84, 10)", {"in_features": 84, "out_features": 10}),
}
PARAMETERS = {"conv1": 156, "conv2": 2416, "fc1": 48120, "fc2": 10164, "fc3": 850}
TOTAL_PARAMETERS = 61706
SHAPES = {"conv1": [6, 28, 28], "pool1": [6, 14, 14], "conv2": [16, 10, 10], "pool2": [16, 5, 5],
          "fc1": [120], "fc2": [84], "fc3": [10]}  # per image, after each layer
# The kit's own modules as the worker names them (its runtime folder is on the worker's path).
KIT_MODULES = frozenset(path.stem for path in Path(reference_model.__file__).parent.glob("*.py")) | {"autograder", "runtime"}
# A ReLU after a layer shows as a non-negative input of the layer that follows it.
RELU_SEEN_AT = {"conv1": "pool1", "conv2": "pool2", "fc1": "fc2", "fc2": "fc3"}


FC1_IN_FEATURES = "SimpleCNN: fc1 in_features"


def wrong_only_in_fc1_in_features(report: dict) -> bool:
    """Whether the network is the contract's in every layer, setting and parameter count except
    fc1's in_features (the classic slip: 16·4·4 or 16·6·6 instead of 16·5·5 flattened features)."""
    layers = report.get("layers") or {}
    fc1 = None
    for name, (kind, _, settings) in EXPECTED.items():
        layer = layers.get(name)
        if layer is None or kind not in layer["types"] or (kind != POOL and not layer["has_bias"]):
            return False
        got = _normalise(name, layer["settings"])
        wrong = {key for key, value in settings.items() if got.get(key) != value}
        if wrong != ({"in_features"} if name == "fc1" else set()):
            return False
        fc1 = layer if name == "fc1" else fc1
    return report.get("trainable") == TOTAL_PARAMETERS - PARAMETERS["fc1"] + fc1["trainable"]


def stopped_in_fc1_with_400_features(report: dict, batch: int) -> bool:
    """Whether the forward raised inside fc1, which it entered with the contract's (N, 400) features."""
    entered = report.get("entered") or []
    return bool(entered) and entered[-1] == ["fc1", [batch, 400]] and \
        not any(entry["name"] == "fc1" for entry in report.get("trace", []))


def inspect(student, **payload) -> dict:
    report = student.task("inspect_simple_cnn", {"seed": 0, **payload}, needs=("SimpleCNN",))
    if not isinstance(report, dict) or not report.get("is_module"):
        kind = (report or {}).get("type", ["?"])[0] if isinstance(report, dict) else "?"
        raise GradingFailure(f"`SimpleCNN()` built a {kind}, which is not a torch.nn.Module: "
                             "SimpleCNN must subclass nn.Module.")
    kit = sorted(name for name in report.get("mro_modules", []) if str(name).split(".")[0] in KIT_MODULES)
    if kit:
        raise GradingFailure("SimpleCNN is, or is built from, the grader's own classes (defined in "
                             f"{', '.join(kit)}), not your own: write the class yourself, subclassing nn.Module.")
    if report.get("forward_error"):
        batch = len(payload["input"])
        fc1 = wrong_only_in_fc1_in_features(report) and stopped_in_fc1_with_400_features(report, batch)
        summary = (f"SimpleCNN's forward raised {report['forward_error']} on a batch of shape "
                   f"{shape_text((batch, 1, 28, 28))}")
        if fc1:
            summary += f". Hint: {shared_hints().words('fc1 in_features')}"
        raise GradingFailure(summary + ".", layer_hint(report, batch), diagnosis=FC1_IN_FEATURES if fc1 else None)
    return report


def _pair(value):
    """2 and [2, 2] mean the same window or stride; 'same' padding of a 5×5 kernel means 2."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value, value]
    return value


def _normalise(name: str, settings: dict) -> dict:
    settings = {key: _pair(value) if key in ("kernel_size", "stride", "padding", "dilation") else value
                for key, value in settings.items()}
    if settings.get("padding") == "same" and settings.get("kernel_size") == [5, 5] and settings.get("stride") == [1, 1]:
        settings["padding"] = [2, 2]
    return settings


def _input(seed: int = 5, batch: int = BATCH) -> torch.Tensor:
    return torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def unused_layers(report: dict) -> list[str]:
    return [name for name in SHAPES if not any(entry["name"] == name for entry in report.get("trace", []))]


def layer_hint(report: dict, batch: int) -> str | None:
    """Where a wrong forward goes wrong, from the trace of the contract's submodules it called: the first
    layer whose output has the wrong shape, else the submodule a forward that raised stopped in."""
    for entry in report.get("trace", []):
        want = [batch, *SHAPES[entry["name"]]] if entry["name"] in SHAPES else None
        if want is not None and entry["output_shape"] != want:
            return (f"`self.{entry['name']}` gave shape {shape_text(entry['output_shape'] or [])} from an input of "
                    f"shape {shape_text(entry['input_shape'] or [])}; in the contract's network it gives "
                    f"{shape_text(want)}")
    open_calls = Counter(name for name, _ in report.get("entered") or [])
    open_calls.subtract(entry["name"] for entry in report.get("trace", []))
    stopped = next((entry for entry in reversed(report.get("entered") or []) if open_calls[entry[0]] > 0), None)
    if report.get("forward_error") and stopped is not None:  # it raised inside that submodule, not for lack of it
        return f"the forward stopped inside `self.{stopped[0]}`, which got an input of shape {shape_text(stopped[1] or [])}"
    unused = unused_layers(report)
    return f"the forward never uses {', '.join('self.' + name for name in unused)}" if unused else None


@pytest.mark.weight(1)
def test_simple_cnn_layers(student):
    """SimpleCNN has conv1, pool1, conv2, pool2, fc1, fc2 and fc3 with the contract's types and settings

    Each submodule's type and settings (channels, kernel size, stride, padding, features, bias) as
    the contract spells them.
    """
    report = inspect(student)
    layers = report["layers"]
    for name, (kind, spelled, settings) in EXPECTED.items():
        layer = layers.get(name)
        if layer is None:
            raise GradingFailure(f"SimpleCNN has no submodule named `{name}`; the contract asks for "
                                 f"`self.{name} = nn.{spelled}`.")
        if kind not in layer["types"]:
            raise GradingFailure(f"SimpleCNN's `{name}` is a {layer['types'][0].rsplit('.', 1)[-1]}, "
                                 f"expected nn.{spelled}.")
        got = _normalise(name, layer["settings"])
        wrong = [f"its {key} is {got.get(key)!r}, expected {value!r}" for key, value in settings.items()
                 if got.get(key) != value]
        if kind != POOL and not layer["has_bias"]:
            wrong.append("it has no bias (bias=False), which the contract keeps")
        if wrong:
            only_fc1 = wrong_only_in_fc1_in_features(report)
            hint = shared_hints().fc1_mistake(got.get("in_features")) if only_fc1 else None
            raise GradingFailure(with_hint(f"SimpleCNN's `{name}` should be nn.{spelled}, but " + "; ".join(wrong), hint),
                                 diagnosis=FC1_IN_FEATURES if only_fc1 else None)


@pytest.mark.weight(1)
def test_simple_cnn_parameters(student):
    """SimpleCNN has 156, 2,416, 48,120, 10,164 and 850 trainable parameters per layer, 61,706 in all

    Trainable parameters per layer and in all: a layer of the wrong size, or an extra one, shows
    here.
    """
    report = inspect(student)
    for name, expected in PARAMETERS.items():
        layer = report["layers"].get(name)
        if layer is None:
            raise GradingFailure(f"SimpleCNN has no submodule named `{name}`.")
        if layer["trainable"] != expected:
            raise GradingFailure(f"SimpleCNN's `{name}` has {layer['trainable']:,} trainable parameters, "
                                 f"expected {expected:,}.",
                                 diagnosis=FC1_IN_FEATURES if wrong_only_in_fc1_in_features(report) else None)
    if report["trainable"] != TOTAL_PARAMETERS:
        extra = [f"{name} ({kind.rsplit('.', 1)[-1]})" for name, kind in report["children"] if name not in LAYER_NAMES]
        raise GradingFailure(
            f"SimpleCNN has {report['trainable']:,} trainable parameters in all, expected {TOTAL_PARAMETERS:,}"
            + (f"; it also has the submodules {', '.join(extra)}" if extra else "") + ".")


@pytest.mark.weight(1)
def test_simple_cnn_shapes(student):
    """SimpleCNN's forward maps batches of shape (N, 1, 28, 28) to (N, 10) logits, for N = 4 and N = 1

    A forward pass on random batches of 4 images and of 1 image.
    """
    for batch in (BATCH, 1):
        report = inspect(student, input=_input(batch=batch))
        if report["output_shape"] == [batch, 10]:
            continue
        got = shape_text(report["output_shape"]) if report["output_shape"] is not None else f"a {report['output_type']}"
        raise GradingFailure(f"SimpleCNN's forward returned {got} for a batch of shape "
                             f"{shape_text((batch, 1, 28, 28))}, expected {shape_text((batch, 10))}.",
                             layer_hint(report, batch))


@pytest.mark.weight(1)
def test_simple_cnn_forward(student):
    """SimpleCNN gives the same logits as the reference model when both have the same weights

    With the contract's weights loaded, the logits on a random batch equal the reference model's.
    """
    weights = seeded_weights(1234)
    x = _input(6)
    report = inspect(student, input=x, weights=weights)
    load = report["load"]
    if load["missing"] or load["mismatched"]:
        problems = [f"it has no parameter `{name}`" for name in load["missing"][:3]]
        problems += [f"its `{name}` has shape {shape_text(got)}, the contract's has {shape_text(want)}"
                     for name, got, want in load["mismatched"][:3]]
        only_fc1 = not load["missing"] and [name for name, *_ in load["mismatched"]] == ["fc1.weight"] \
            and wrong_only_in_fc1_in_features(report)
        raise GradingFailure("The contract's weights cannot be loaded into SimpleCNN: " + "; ".join(problems) + ".",
                             diagnosis=FC1_IN_FEATURES if only_fc1 else None)
    reference = ReferenceCNN()
    reference.load_state_dict(weights)
    with torch.no_grad():
        expected = reference(x)
    hints = []
    logits = report.get("loaded_output")
    if isinstance(logits, torch.Tensor) and logits.shape == expected.shape:
        hints = [("the outputs look like probabilities: return the logits, without softmax", expected.softmax(1)),
                 ("the outputs look like log-probabilities: return the logits, without log_softmax",
                  expected.log_softmax(1)),
                 ("the logits are never negative: is there a ReLU after fc3?", expected.clamp(min=0))]
        for layer, seen_at in RELU_SEEN_AT.items():
            entry = next((e for e in report["trace"] if e["name"] == seen_at), None)
            if entry is not None and entry["input_min"] is not None and entry["input_min"] < 0:
                hints.append((f"the input of {seen_at} has negative values: is there a ReLU after {layer}?", logits))
                break
        unused = unused_layers(report)
        if unused:  # a forward may do a layer's work another way; said only once the logits are wrong
            hints.append((f"the forward never uses {', '.join('self.' + name for name in unused)}: does it do "
                          "their work some other way, and the same way?", logits))
    expect_tensor(logits, expected, f"SimpleCNN with the reference weights on a random batch of shape "
                                    f"{shape_text(x.shape)}", hints=hints)
