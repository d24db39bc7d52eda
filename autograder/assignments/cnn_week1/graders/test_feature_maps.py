"""Part feature_maps: the student's feature_maps on a reference model, compared with its layers here.

Weights: the three tests 1 each (3.33 points), so a missing ReLU (values) costs what a model left in
evaluation mode (unchanged) costs."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autograder.assignments.cnn_week1.hints import shared_hints
from autograder.engine.checks import (as_tensor, changed_weights, checking, diagnosed_cases, expect_map,
                                     expect_tensor, first_only, shape_text)
from autograder.engine.failures import GradingFailure
from autograder.assignments.cnn_week1.worker.reference_model import ReferenceCNN, seeded_weights

pytestmark = pytest.mark.part("feature_maps")

SHAPES = {"conv1": (6, 28, 28), "pool1": (6, 14, 14), "conv2": (16, 10, 10)}


def probe(student, seed: int, mode: str) -> tuple[dict, dict, torch.Tensor]:
    weights = seeded_weights(seed)
    image = torch.randn(1, 28, 28, generator=torch.Generator().manual_seed(seed + 1))
    report = student.task("feature_maps_probe", {"weights": weights, "image": image, "mode": mode},
                          needs=("feature_maps",))
    if not report["is_dict"]:
        raise GradingFailure(f"feature_maps returned a {report['returned_type']}; the contract asks for a dict "
                             "with the keys 'conv1', 'pool1' and 'conv2'.")
    return report, weights, image


def reference_maps(weights: dict, image: torch.Tensor) -> tuple[dict, list]:
    """The expected maps, and (message, alternative) hints for each key's classic mistakes."""
    model = ReferenceCNN()
    model.load_state_dict(weights)
    with torch.no_grad():
        x = image.unsqueeze(0)  # (1, 1, 28, 28)
        raw1 = model.conv1(x)
        conv1 = F.relu(raw1)
        pool1 = model.pool1(conv1)
        raw2 = model.conv2(pool1)
        conv2 = F.relu(raw2)
    expected = {"conv1": conv1[0], "pool1": pool1[0], "conv2": conv2[0]}
    words = shared_hints().words  # the check cell's words (source/cnn_week1/hints.py)
    hints = {"conv1": [(words("no ReLU after conv1"), raw1[0], "feature_maps: no ReLU after conv1")],
             "pool1": [(words("pooled without ReLU"), model.pool1(raw1)[0].detach(),
                        "feature_maps: no ReLU after conv1")],
             "conv2": [(words("no ReLU after conv2"), raw2[0], "feature_maps: no ReLU after conv2"),
                       (words("conv2 without pooling first"), F.relu(model.conv2(conv1))[0],
                        "feature_maps: conv2 without pooling first")]}
    return expected, hints


@pytest.mark.weight(1)
def test_feature_maps_keys_and_shapes(student):
    """feature_maps returns the conv1, pool1 and conv2 maps without a batch dimension

    The keys 'conv1', 'pool1' and 'conv2' with shapes (6, 28, 28), (6, 14, 14) and (16, 10, 10).
    """
    report, _, _ = probe(student, 41, "eval")
    for key, shape in SHAPES.items():
        if key not in report["maps"]:
            keys = ", ".join(repr(k) for k in report["keys"][:8]) or "none"
            raise GradingFailure(f"feature_maps returned no key {key!r} (its keys: {keys}).")
        value = report["maps"][key]
        if isinstance(value, torch.Tensor) and tuple(value.shape) == (1, *shape):
            raise GradingFailure(f"feature_maps[{key!r}] has shape {shape_text(value.shape)}, expected "
                                 f"{shape_text(shape)}: drop the batch dimension (e.g. `[0]` or `.squeeze(0)`).")
        value = as_tensor(value, f"feature_maps[{key!r}]")
        if tuple(value.shape) != shape:
            raise GradingFailure(f"feature_maps[{key!r}] has shape {shape_text(value.shape)}, "
                                 f"expected {shape_text(shape)}.")


@pytest.mark.weight(1)
def test_feature_maps_values(student, attach):
    """feature_maps matches the reference layers on random images with the model in training and evaluation mode

    The three maps of random images against the model's own layers, with the model in evaluation and
    in training mode.
    """
    attach = first_only(attach)
    with diagnosed_cases() as case:
        for seed, mode in ((42, "eval"), (43, "train")):
            report, weights, image = probe(student, seed, mode)
            expected, hints = reference_maps(weights, image)
            named = "training" if mode == "train" else "evaluation"
            for key in SHAPES:
                with case(), checking(f"On a random 1×28×28 image with the model in {named} mode"):
                    if key not in report["maps"]:
                        raise GradingFailure(f"feature_maps returned no key {key!r}.")
                    got = report["maps"][key]
                    if key == "conv1" and isinstance(got, torch.Tensor) and got.dim() == 3:  # draw filter 0 if wrong
                        expect_map(got[0], expected[key][0], "feature_maps['conv1'], filter 1", attach, image[0],
                                   hints=[(message, alternative[0], diagnosis)
                                          for message, alternative, diagnosis in hints[key]])
                    expect_tensor(got, expected[key], f"feature_maps[{key!r}]", hints=hints[key])


@pytest.mark.weight(1)
def test_feature_maps_leaves_model_unchanged(student):
    """feature_maps tracks no gradients and leaves the model's weights and train/eval mode as they were

    No gradients tracked; the model's weights and its train/eval mode as they came (both modes
    tried).
    """
    for seed, mode in ((44, "train"), (45, "eval")):
        report, weights, _ = probe(student, seed, mode)
        named = "training" if mode == "train" else "evaluation"
        tracked = [key for key, flag in report["requires_grad"].items() if flag]
        if tracked:
            raise GradingFailure(f"feature_maps returned maps that track gradients ({', '.join(tracked)}): compute "
                                 "them inside `with torch.no_grad():`.")
        if report["training_after"] != (mode == "train"):
            after = "training" if report["training_after"] else "evaluation"
            switch = "model.eval()" if mode == "train" else "model.train()"
            raise GradingFailure(f"feature_maps left the model in {after} mode; it came in {named} mode and must "
                                 "leave it so. Hint: " + shared_hints().words("model.eval() inside feature_maps",
                                                                              switch=switch))
        changed = changed_weights(weights, report["weights_after"])
        if changed:
            raise GradingFailure(f"feature_maps changed the model's weights ({', '.join(changed[:3])}).")
