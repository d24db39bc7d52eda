"""The exported reference solution (solutions/cnn_week1.py) against independent expectations.

Small examples use hand-derived literal arrays; random inputs use torch.nn.functional as the oracle.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

import solutions.cnn_week1 as sol

VERTICAL = [[1.0, 0, -1], [1.0, 0, -1], [1.0, 0, -1]]
HORIZONTAL = [[1.0, 1, 1], [0.0, 0, 0], [-1.0, -1, -1]]


def two_squares(n: int) -> torch.Tensor:
    """n×n zeros with ones in the top-left and bottom-right quarters."""
    image = torch.zeros(n, n)
    image[: n // 2, : n // 2] = 1.0
    image[n // 2:, n // 2:] = 1.0
    return image


def assert_float32_equal(got, want, atol=1e-5):
    want = torch.as_tensor(want, dtype=torch.float32)
    assert isinstance(got, torch.Tensor), type(got)
    assert got.dtype == torch.float32, got.dtype
    assert got.shape == want.shape, (tuple(got.shape), tuple(want.shape))
    torch.testing.assert_close(got, want, atol=atol, rtol=1e-5)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- edge filters ----------------------------------------------------------------------------

def test_edge_filters_are_the_contract_values():
    assert_float32_equal(sol.vertical_edge_filter(), VERTICAL)
    assert_float32_equal(sol.horizontal_edge_filter(), HORIZONTAL)
    assert_float32_equal(sol.sobel_filter(), [[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
    assert_float32_equal(sol.sobel_filter("horizontal"), [[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
    assert_float32_equal(sol.sobel_filter("vertical"), [[1, 0, -1], [2, 0, -2], [1, 0, -1]])


@pytest.mark.parametrize("direction", ["diagonal", "Horizontal", "VERTICAL", "", None, 0])
def test_sobel_rejects_anything_but_the_two_lowercase_directions(direction):
    with pytest.raises(ValueError):
        sol.sobel_filter(direction)


# --- conv2d_single: hand-derived examples ----------------------------------------------------

def test_eight_by_eight_squares_with_vertical_filter():
    # Rows 0-3 change bright->dark at column 4, rows 4-7 dark->bright: windows over columns 2-3
    # count (top rows) - (bottom rows) among their three rows.
    want = [[0, 0, 3, 3, 0, 0],
            [0, 0, 3, 3, 0, 0],
            [0, 0, 1, 1, 0, 0],
            [0, 0, -1, -1, 0, 0],
            [0, 0, -3, -3, 0, 0],
            [0, 0, -3, -3, 0, 0]]
    assert_float32_equal(sol.conv2d_single(two_squares(8), torch.tensor(VERTICAL)), want)


def test_eight_by_eight_squares_with_horizontal_filter():
    row = [3, 3, 1, -1, -3, -3]  # the image is symmetric, so this is the transpose of the vertical case
    want = [[0] * 6, [0] * 6, row, row, [0] * 6, [0] * 6]
    assert_float32_equal(sol.conv2d_single(two_squares(8), torch.tensor(HORIZONTAL)), want)


def test_six_by_six_squares_valid_same_and_strided():
    image, kernel = two_squares(6), torch.tensor(VERTICAL)
    valid = [[0, 3, 3, 0], [0, 1, 1, 0], [0, -1, -1, 0], [0, -3, -3, 0]]
    same = [[-2, 0, 2, 2, 0, 0],
            [-3, 0, 3, 3, 0, 0],
            [-2, 0, 1, 1, 0, 1],
            [-1, 0, -1, -1, 0, 2],
            [0, 0, -3, -3, 0, 3],
            [0, 0, -2, -2, 0, 2]]
    strided = [[0, 3], [0, -1]]
    assert_float32_equal(sol.conv2d_single(image, kernel), valid)
    assert_float32_equal(sol.conv2d_single(image, kernel, padding=1), same)
    assert_float32_equal(sol.conv2d_single(image, kernel, stride=2), strided)


def test_kernel_is_not_flipped():
    image = torch.arange(9.0).view(3, 3)
    kernel = torch.zeros(2, 2)
    kernel[0, 0] = 1.0  # picks the top-left pixel of each window (a flipped kernel would pick bottom-right)
    assert_float32_equal(sol.conv2d_single(image, kernel), [[0, 1], [3, 4]])


# --- conv2d_single / conv2d_volume against PyTorch -------------------------------------------

SINGLE_CASES = [  # (H, W, kh, kw, stride, padding)
    (8, 8, 3, 3, 1, 0), (9, 7, 3, 3, 2, 0), (10, 11, 3, 3, 3, 0), (7, 7, 5, 5, 1, 2),
    (6, 9, 2, 3, 2, 1), (12, 5, 4, 1, 3, 2), (5, 5, 5, 5, 1, 0), (1, 1, 1, 1, 1, 0), (4, 6, 1, 6, 1, 1),
]


@pytest.mark.parametrize("height,width,kh,kw,stride,padding", SINGLE_CASES)
def test_conv2d_single_matches_pytorch(height, width, kh, kw, stride, padding):
    image, kernel = randn(height, width, seed=1), randn(kh, kw, seed=2)
    want = F.conv2d(image[None, None], kernel[None, None], stride=stride, padding=padding)[0, 0]
    assert_float32_equal(sol.conv2d_single(image, kernel, stride=stride, padding=padding), want)


def test_conv2d_single_returns_float32_for_float64_input():
    image, kernel = randn(5, 5).double(), randn(3, 3, seed=1).double()
    want = F.conv2d(image[None, None], kernel[None, None])[0, 0].float()
    assert_float32_equal(sol.conv2d_single(image, kernel), want)


VOLUME_CASES = [  # (C, H, W, F, kh, kw, stride, padding, with_bias)
    (3, 6, 6, 2, 3, 3, 1, 0, False), (3, 6, 6, 2, 3, 3, 1, 1, True), (1, 9, 9, 4, 3, 3, 2, 1, True),
    (4, 10, 8, 3, 2, 3, 3, 2, True), (2, 7, 7, 5, 5, 5, 1, 2, False), (6, 14, 14, 16, 5, 5, 1, 0, True),
]


@pytest.mark.parametrize("channels,height,width,n_filters,kh,kw,stride,padding,with_bias", VOLUME_CASES)
def test_conv2d_volume_matches_pytorch(channels, height, width, n_filters, kh, kw, stride, padding, with_bias):
    volume = randn(channels, height, width, seed=3)
    filters = randn(n_filters, channels, kh, kw, seed=4)
    bias = randn(n_filters, seed=5) if with_bias else None
    want = F.conv2d(volume[None], filters, bias, stride=stride, padding=padding)[0]
    got = sol.conv2d_volume(volume, filters, bias, stride=stride, padding=padding)
    assert_float32_equal(got, want, atol=1e-4)


def test_conv2d_volume_six_by_six_by_three_with_two_filters_is_four_by_four_by_two():
    volume, filters = torch.ones(3, 6, 6), torch.ones(2, 3, 3, 3)
    filters[1] *= -1
    # every position multiplies 27 ones: +27 for the first filter, -27 for the second, plus the bias
    want = torch.stack([torch.full((4, 4), 27.0 + 0.5), torch.full((4, 4), -27.0 - 1.0)])
    assert_float32_equal(sol.conv2d_volume(volume, filters, torch.tensor([0.5, -1.0])), want)


# --- output size, same padding, zero padding -------------------------------------------------

@pytest.mark.parametrize("n,f,padding,stride,want", [
    (6, 3, 0, 1, 4), (6, 3, 1, 1, 6), (6, 3, 0, 2, 2), (7, 3, 0, 2, 3), (8, 3, 0, 1, 6),
    (28, 5, 2, 1, 28), (14, 5, 0, 1, 10), (28, 2, 0, 2, 14), (10, 2, 0, 2, 5), (5, 5, 0, 1, 1),
    (10, 3, 1, 3, 4), (1, 3, 1, 1, 1), (224, 7, 3, 2, 112),
])
def test_conv_output_size_table(n, f, padding, stride, want):
    got = sol.conv_output_size(n, f, padding, stride)
    assert type(got) is int and got == want


@pytest.mark.parametrize("args", [
    (5, 7, 0, 1),   # filter larger than the input
    (1, 4, 1, 1),   # larger than the padded input too
    (6, 0, 0, 1),   # f < 1
    (6, 3, 0, 0),   # stride < 1
    (6, 3, 0, -2),
    (6, 3, -1, 1),  # negative padding
])
def test_conv_output_size_errors(args):
    with pytest.raises(ValueError):
        sol.conv_output_size(*args)


def test_same_padding_table_and_errors():
    assert [sol.same_padding(f) for f in (1, 3, 5, 7, 11)] == [0, 1, 2, 3, 5]
    for f in (2, 4, 6, 0, -1, -3):
        with pytest.raises(ValueError):
            sol.same_padding(f)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (2, 3, 4, 5), (1, 1)])
@pytest.mark.parametrize("pad", [0, 1, 2])
def test_zero_pad_matches_f_pad_for_any_leading_dims(shape, pad):
    x = randn(*shape)
    got = sol.zero_pad(x, pad)
    want = F.pad(x, (pad, pad, pad, pad))
    assert got.dtype == x.dtype and got.shape == want.shape
    assert torch.equal(got, want)


def test_zero_pad_keeps_integer_dtype():
    x = torch.arange(1, 7, dtype=torch.int64).view(2, 3)
    got = sol.zero_pad(x, 1)
    assert got.dtype == torch.int64
    assert got.tolist() == [[0, 0, 0, 0, 0], [0, 1, 2, 3, 0], [0, 4, 5, 6, 0], [0, 0, 0, 0, 0]]


def test_zero_pad_negative_is_an_error():
    with pytest.raises(ValueError):
        sol.zero_pad(torch.ones(2, 2), -1)


# --- pooling ---------------------------------------------------------------------------------

def test_pooling_the_sequential_four_by_four():
    counting = torch.arange(1.0, 17.0).view(4, 4)
    assert_float32_equal(sol.max_pool2d(counting), [[6, 8], [14, 16]])
    assert_float32_equal(sol.avg_pool2d(counting), [[3.5, 5.5], [11.5, 13.5]])


@pytest.mark.parametrize("shape", [(7, 7), (3, 9, 8), (2, 5, 11), (6, 28, 28)])
@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2), (2, 1), (3, 3), (1, 1)])
def test_pooling_matches_pytorch(shape, size, stride):
    x = randn(*shape, seed=7)
    batched = x if x.dim() == 3 else x[None]  # F pooling wants (C, H, W) or (N, C, H, W)
    want_max = F.max_pool2d(batched, size, stride)
    want_avg = F.avg_pool2d(batched, size, stride)
    if x.dim() == 2:
        want_max, want_avg = want_max[0], want_avg[0]
    assert_float32_equal(sol.max_pool2d(x, size, stride), want_max)
    assert_float32_equal(sol.avg_pool2d(x, size, stride), want_avg)


def test_pooling_returns_float32_for_integer_input():
    counting = torch.arange(16).view(4, 4)
    assert_float32_equal(sol.max_pool2d(counting), [[5, 7], [13, 15]])
    assert_float32_equal(sol.avg_pool2d(counting), [[2.5, 4.5], [10.5, 12.5]])


# --- no library routine does the work --------------------------------------------------------

class CallRecorder(TorchFunctionMode):
    """Records the name of every torch function called while active."""

    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.append(getattr(func, "__name__", repr(func)))
        return func(*args, **(kwargs or {}))


BANNED_WORDS = ("conv", "unfold", "pool")


@pytest.mark.parametrize("name,call", [
    ("conv2d_single", lambda: sol.conv2d_single(randn(8, 8), randn(3, 3), stride=2, padding=1)),
    ("conv2d_volume", lambda: sol.conv2d_volume(randn(3, 8, 8), randn(2, 3, 3, 3), randn(2), 2, 1)),
    ("zero_pad", lambda: sol.zero_pad(randn(2, 3, 4), 2)),
    ("max_pool2d", lambda: sol.max_pool2d(randn(3, 8, 8), 2, 2)),
    ("avg_pool2d", lambda: sol.avg_pool2d(randn(3, 8, 8), 3, 2)),
])
def test_manual_functions_call_no_banned_routine(name, call):
    with CallRecorder() as recorder:
        call()
    banned = BANNED_WORDS + (("pad",) if name == "zero_pad" else ())
    used = [called for called in recorder.names if any(word in called.lower() for word in banned)]
    assert recorder.names, "the recorder saw no torch call at all"
    assert used == [], f"{name} called {used}"


def test_call_recorder_does_catch_library_convolution_and_pooling():
    with CallRecorder() as recorder:
        F.conv2d(randn(1, 1, 5, 5), randn(1, 1, 3, 3))
        F.max_pool2d(randn(1, 4, 4), 2)
        F.pad(randn(2, 2), (1, 1, 1, 1))
        randn(4, 4).unfold(0, 2, 2)
    assert {"conv2d", "max_pool2d", "pad", "unfold"} <= set(recorder.names)


# --- SimpleCNN -------------------------------------------------------------------------------

def test_simple_cnn_submodules_and_parameter_counts():
    model = sol.SimpleCNN()
    assert [name for name, _ in model.named_children()] == [
        "conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in model.named_children()}
    assert counts == {"conv1": 156, "pool1": 0, "conv2": 2416, "pool2": 0,
                      "fc1": 48120, "fc2": 10164, "fc3": 850}
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 61706


def test_simple_cnn_shapes_after_every_layer():
    model, shapes = sol.SimpleCNN(), {}
    for name, module in model.named_children():
        module.register_forward_hook(lambda m, i, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
    logits = model(randn(3, 1, 28, 28))
    assert tuple(logits.shape) == (3, 10)
    assert shapes == {"conv1": (3, 6, 28, 28), "pool1": (3, 6, 14, 14), "conv2": (3, 16, 10, 10),
                      "pool2": (3, 16, 5, 5), "fc1": (3, 120), "fc2": (3, 84), "fc3": (3, 10)}


def test_simple_cnn_forward_applies_relu_after_conv1_conv2_fc1_fc2():
    model, x = sol.SimpleCNN(), randn(2, 1, 28, 28, seed=3)
    with torch.no_grad():
        hidden = model.pool1(F.relu(model.conv1(x)))
        hidden = model.pool2(F.relu(model.conv2(hidden))).flatten(1)
        want = model.fc3(F.relu(model.fc2(F.relu(model.fc1(hidden)))))
        torch.testing.assert_close(model(x), want)


# --- training loop ---------------------------------------------------------------------------

def synthetic_loader(n_batches=4, batch_size=16, seed=0):
    """Images whose class k has a bright 4×4 block at a class-specific place: easy to learn."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        labels = torch.randint(0, 10, (batch_size,), generator=generator)
        images = 0.1 * torch.randn(batch_size, 1, 28, 28, generator=generator)
        for row, label in enumerate(labels.tolist()):
            top, left = 4 * (label // 5) + 2, 5 * (label % 5) + 2
            images[row, 0, top:top + 4, left:left + 4] += 2.0
        batches.append((images, labels))
    return batches


class Recording:
    """A criterion and optimizer wrapper that record what train_one_epoch does."""

    def __init__(self, model, lr):
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        self.losses, self.correct, self.steps, self.grads_at_step = [], 0, 0, []
        real_step = self.optimizer.step

        def step(*args, **kwargs):
            self.steps += 1
            self.grads_at_step.append([p.grad.clone() for p in model.parameters()])
            return real_step(*args, **kwargs)

        self.optimizer.step = step

    def criterion(self, logits, labels):
        loss = F.cross_entropy(logits, labels)
        self.losses.append(loss.item())
        self.correct += (logits.argmax(1) == labels).sum().item()
        return loss


def test_train_one_epoch_reports_mean_batch_loss_and_percent_accuracy_and_learns():
    torch.manual_seed(0)
    model, loader = sol.SimpleCNN(), synthetic_loader()
    record = Recording(model, lr=0.05)
    epoch_losses = []
    for epoch in range(8):
        model.eval()  # train_one_epoch must switch to training mode itself
        before = len(record.losses)
        mean_loss, accuracy = sol.train_one_epoch(model, loader, record.criterion, record.optimizer)
        assert model.training
        assert type(mean_loss) is float and type(accuracy) is float
        batch_losses = record.losses[before:]
        assert len(batch_losses) == len(loader) and record.steps == len(loader) * (epoch + 1)
        assert mean_loss == pytest.approx(sum(batch_losses) / len(loader))
        assert 0.0 <= accuracy <= 100.0
        epoch_losses.append(mean_loss)
    assert epoch_losses[-1] < 0.5 * epoch_losses[0], epoch_losses  # about 2.3 -> 0.6 here


def test_train_one_epoch_accuracy_counts_this_epoch_only():
    torch.manual_seed(1)
    model, loader = sol.SimpleCNN(), synthetic_loader(n_batches=3, batch_size=8)
    record = Recording(model, lr=0.01)
    _, accuracy = sol.train_one_epoch(model, loader, record.criterion, record.optimizer)
    assert accuracy == pytest.approx(100.0 * record.correct / 24)


def test_train_one_epoch_zeroes_gradients_before_each_backward():
    torch.manual_seed(2)
    model, loader = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), synthetic_loader(n_batches=3)
    record = Recording(model, lr=0.0)  # lr 0: weights stay fixed, so each batch's gradient is known
    sol.train_one_epoch(model, loader, record.criterion, record.optimizer)
    for (images, labels), grads in zip(loader, record.grads_at_step):
        model.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        for param, seen in zip(model.parameters(), grads):
            torch.testing.assert_close(seen, param.grad)  # not accumulated over earlier batches


def test_evaluate_uses_eval_mode_without_gradients_and_returns_percent():
    torch.manual_seed(3)
    model, loader = sol.SimpleCNN(), synthetic_loader(n_batches=3, batch_size=10, seed=4)
    grad_enabled = []
    model.register_forward_hook(lambda m, i, o: grad_enabled.append(torch.is_grad_enabled()))
    model.train()
    accuracy = sol.evaluate(model, loader)
    assert not model.training
    assert grad_enabled and not any(grad_enabled)
    with torch.no_grad():
        correct = sum((model(images).argmax(1) == labels).sum().item() for images, labels in loader)
    assert type(accuracy) is float and accuracy == pytest.approx(100.0 * correct / 30)


def test_evaluate_of_a_perfect_model_is_one_hundred_percent():
    class Oracle(nn.Module):  # logits that peak at the right class, read from the image itself
        def forward(self, images):
            return F.one_hot(images[:, 0, 0, 0].long(), 10).float()

    labels = torch.arange(10)
    images = torch.zeros(10, 1, 28, 28)
    images[:, 0, 0, 0] = labels.float()
    assert sol.evaluate(Oracle(), [(images, labels)]) == 100.0


# --- feature_maps ----------------------------------------------------------------------------

@pytest.mark.parametrize("training", [True, False])
def test_feature_maps_match_the_submodules_and_leave_the_model_alone(training):
    torch.manual_seed(4)
    model, image = sol.SimpleCNN(), randn(1, 28, 28, seed=9)
    model.train(training)
    weights = {key: value.clone() for key, value in model.state_dict().items()}
    maps = sol.feature_maps(model, image)
    with torch.no_grad():
        conv1 = F.relu(model.conv1(image[None]))[0]
        pool1 = model.pool1(conv1[None])[0]
        conv2 = F.relu(model.conv2(pool1[None]))[0]
    assert {key: tuple(value.shape) for key, value in maps.items() if key in ("conv1", "pool1", "conv2")} == {
        "conv1": (6, 28, 28), "pool1": (6, 14, 14), "conv2": (16, 10, 10)}
    for key, want in [("conv1", conv1), ("pool1", pool1), ("conv2", conv2)]:
        assert not maps[key].requires_grad
        torch.testing.assert_close(maps[key], want)
    assert (maps["conv1"] >= 0).all() and (maps["conv2"] >= 0).all()
    assert model.training is training
    assert all(torch.equal(weights[key], value) for key, value in model.state_dict().items())
