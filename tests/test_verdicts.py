"""Grader verdicts on model, output-size and dtype cases, with the worker's tasks run in this process.

The tasks and the wire are the real ones (every payload and report crosses
``wire.encode``/``decode``); only the sandbox is left out, so these run without
the grading engine. Correct code written another way must pass; wrong code must
fail with words that point at the mistake.
"""
from __future__ import annotations

import dataclasses
import sys
import textwrap
import types
from pathlib import Path

import pytest
import torch

from autograder.assignments.cnn_week1 import gate, replay
from autograder.engine.checks import as_tensor, describe_type
from autograder.engine.config import load_config
from autograder.assignments.cnn_week1.data import mnist_module, training_arrays
from autograder.assignments.cnn_week1.settings import mnist_directory
from autograder.engine.failures import GradingFailure
from autograder.assignments.cnn_week1.graders import test_output_size as output_size
from autograder.assignments.cnn_week1.graders import test_simple_cnn as simple_cnn
from autograder.assignments.cnn_week1.graders import test_training_loop as training
from autograder.engine.runtime import wire

RUNTIME = Path(replay.__file__).parent / "worker"  # tasks.py, reference_model.py: imported flat, as in the sandbox


@pytest.fixture(scope="module")
def tasks():
    sys.path.insert(0, str(RUNTIME))  # as in the worker, where the kit's modules are importable by name
    try:
        import tasks as module
    finally:
        sys.path.remove(str(RUNTIME))
    return module


class InProcessStudent:
    """``student.task`` of the grading session, minus the sandbox: the task runs here, data crosses the wire."""

    def __init__(self, tasks, source: str, data_dir: Path | None = None):
        self.tasks, self.options = tasks, types.SimpleNamespace(data_dir=str(data_dir))
        self.namespace = {"__name__": "submission"}
        sys.path.insert(0, str(RUNTIME))
        try:
            exec(compile(textwrap.dedent(source), "<submission>", "exec"), self.namespace)
        finally:
            sys.path.remove(str(RUNTIME))

    def task(self, name, payload, timeout=None, needs=()):
        result = self.tasks.TASKS[name](self.namespace, wire.decode(wire.encode(payload)), self.options)
        return wire.decode(wire.encode(result))

    def in_background(self, work):
        """The session's background work, done at once here: ``result()`` gives its value or raises."""
        try:
            value, error = work(self), None
        except Exception as raised:
            value, error = None, raised

        def result():
            if error is not None:
                raise error
            return value

        return types.SimpleNamespace(result=result)


SIMPLE_CNN_TESTS = (simple_cnn.test_simple_cnn_layers, simple_cnn.test_simple_cnn_parameters,
                    simple_cnn.test_simple_cnn_shapes, simple_cnn.test_simple_cnn_forward)
HEADER = """
import torch
import torch.nn as nn
import torch.nn.functional as F

class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
"""
TUTORIAL_FORWARD = HEADER + """
    def forward(self, x):  # PyTorch's LeNet tutorial: functional pooling, pool1/pool2 never called
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
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
"""
ONE_POOL_TWICE = HEADER + """
    def forward(self, x):
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.pool1(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))
"""
NO_RELU_AFTER_CONV2 = HEADER + """
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
"""
SKIPS_POOL1 = HEADER + """
    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.pool2(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
"""


@pytest.mark.parametrize("source", [TUTORIAL_FORWARD, ONE_POOL_TWICE], ids=["functional pooling", "one pool twice"])
def test_functionally_identical_forwards_get_every_simple_cnn_point(source, tasks):
    student = InProcessStudent(tasks, source)
    for test in SIMPLE_CNN_TESTS:
        test(student)


def test_a_forward_without_relu_fails_on_its_logits_with_a_hint(tasks):
    student = InProcessStudent(tasks, NO_RELU_AFTER_CONV2)
    simple_cnn.test_simple_cnn_shapes(student)  # shapes are right
    with pytest.raises(GradingFailure, match="wrong values.*never uses self.pool1, self.pool2"):
        simple_cnn.test_simple_cnn_forward(student)


def test_a_forward_that_skips_a_layer_fails_on_its_shape_and_says_where(tasks):
    with pytest.raises(GradingFailure, match=r"forward raised RuntimeError: mat1 and mat2") as failure:
        simple_cnn.test_simple_cnn_shapes(InProcessStudent(tasks, SKIPS_POOL1))
    assert "`self.conv2` gave shape (4, 16, 24, 24)" in failure.value.details
    assert "it gives (4, 16, 10, 10)" in failure.value.details


@pytest.mark.parametrize("source", [
    "from reference_model import ReferenceCNN as SimpleCNN",
    "from reference_model import ReferenceCNN\nclass SimpleCNN(ReferenceCNN):\n    __module__ = 'mine'",
    HEADER + "\n    from reference_model import ReferenceCNN as _kit\n    forward = _kit.forward",
], ids=["alias", "subclass", "borrowed forward"])
def test_the_kits_own_model_is_refused_in_every_simple_cnn_test(source, tasks):
    student = InProcessStudent(tasks, source)
    for test in SIMPLE_CNN_TESTS:
        with pytest.raises(GradingFailure, match="grader's own classes.*reference_model"):
            test(student)


# ----- conv_output_size on the whole grid ------------------------------------------------------

SOLUTION_SIZE = """
def conv_output_size(n, f, padding=0, stride=1):
    if f < 1 or stride < 1 or padding < 0:
        raise ValueError("bad arguments")
    size = (n + 2 * padding - f) // stride + 1
    if size < 1:
        raise ValueError("empty output")
    return size
"""


def test_the_contracts_formula_passes_the_whole_grid(tasks):
    output_size.test_conv_output_size_errors(InProcessStudent(tasks, SOLUTION_SIZE))


def test_truncating_division_misses_empty_outputs_at_stride_two(tasks):
    truncating = SOLUTION_SIZE.replace("(n + 2 * padding - f) // stride + 1", "int((n + 2 * padding - f) / stride) + 1")
    with pytest.raises(GradingFailure, match=r"stride=2\)` returned the int 1, expected a ValueError.*rounds down"):
        output_size.test_conv_output_size_errors(InProcessStudent(tasks, truncating))


def test_a_check_that_ignores_padding_refuses_valid_calls(tasks):
    too_strict = SOLUTION_SIZE.replace('if f < 1 or', 'if f > n or f < 1 or')
    with pytest.raises(GradingFailure, match="raised ValueError, expected .*: these arguments are valid"):
        output_size.test_conv_output_size_errors(InProcessStudent(tasks, too_strict))


def test_the_grid_covers_what_the_contract_names():
    grid = output_size.size_grid()
    assert {s for *_, s in grid} >= {1, 2, 3} and {p for _, _, p, _ in grid} >= {0, 1, 2}
    assert all(any(g == (n, n + 2 * p + 1, p, s) for g in grid) for n in (1, 4, 7) for p in (0, 1, 2) for s in (1, 2, 3))
    assert {output_size.contract_size(*case) is None for case in grid if case[1] < 1 or case[2] < 0 or case[3] < 1} == {True}


# ----- dtypes the wire used to convert ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.complex64, torch.bfloat16, torch.float16, torch.float64])
def test_a_returned_dtype_survives_the_wire_and_is_refused(dtype):
    value = wire.decode(wire.encode(torch.ones(2, 3, dtype=dtype)))
    assert value.dtype == dtype and value.shape == (2, 3)
    name = str(dtype).replace("torch.", "")
    with pytest.raises(GradingFailure, match=f"returned {name}, the contract asks for float32"):
        as_tensor(value, "`conv2d_single`")
    assert name in describe_type(value)


def test_a_complex_result_keeps_its_real_part_and_hints_at_it():
    value = wire.decode(wire.encode(torch.tensor([1.5 + 2j, -3 + 0j], dtype=torch.complex64)))
    assert torch.equal(value.real, torch.tensor([1.5, -3.0]))
    with pytest.raises(GradingFailure, match=r"\.real"):
        as_tensor(value, "`max_pool2d`")


def test_a_dtype_torch_cannot_rebuild_arrives_as_an_opaque_value():
    encoded = wire.encode(torch.ones(2))
    forged = encoded.replace(b'"requires_grad"', b'"converted_from":"qint8","requires_grad"')
    value = wire.decode(forged)
    assert isinstance(value, wire.Opaque) and "qint8" in value.type_name
    with pytest.raises(GradingFailure, match="qint8"):
        as_tensor(value, "`avg_pool2d`")


# ----- the training loop's probes and the accuracy gate ------------------------------------------

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "cnn_week1.py"


def test_the_reference_loop_passes_every_probe(tasks):
    student = InProcessStudent(tasks, SOLUTION.read_text())
    for test in (training.test_train_one_epoch_weights, training.test_train_one_epoch_returns,
                 training.test_train_one_epoch_steps, training.test_train_one_epoch_one_pass,
                 training.test_evaluate_accuracy, training.test_evaluate_mode):
        test(student)


@pytest.fixture
def small_gate(monkeypatch, tmp_path, mnist_dir):
    """grading.toml with a 3,200-image budget, its key and replays in a fresh cache folder."""
    monkeypatch.setenv("CNN_KIT_CACHE", str(tmp_path))
    monkeypatch.setenv("CNN_MNIST_DIR", str(mnist_dir))
    config = load_config()
    config = config.with_section("training", train_samples=3200, min_accuracy=20.0)  # above chance at this budget
    test_set = mnist_module().load_tensors("test", mnist_directory(config))
    return config, test_set


def test_the_gate_passes_the_reference_loop_and_refuses_embedded_weights(tasks, small_gate):
    config, test_set = small_gate
    data_dir = training_arrays(config)["train-images.npy"].parent
    attached = {}
    honest = InProcessStudent(tasks, SOLUTION.read_text(), data_dir)
    training.test_accuracy_gate(gate.begin(honest, config), config, test_set, attached.__setitem__)
    assert attached["accuracy"]["reached"] >= 20.0
    # The hostile submission of issue #9: trained weights embedded, loaded instead of training.
    trained = replay.contract_loop(config.training, replay.draw(config.training, index=0, key=b"k" * 32),
                                   *replay.load_training(training_arrays(config), 3200))
    cheat = InProcessStudent(tasks, "def train_one_epoch(model, loader, criterion, optimizer, device='cpu'):\n"
                                    "    model.load_state_dict(WEIGHTS)\n    return 0.1, 99.0\n", data_dir)
    cheat.namespace["WEIGHTS"] = trained
    with pytest.raises(GradingFailure, match=r"differ from the contract.s loop on the same batches.*step\(\) ran 0 times"):
        training.test_accuracy_gate(gate.begin(cheat, config), config, test_set, attached.__setitem__)
