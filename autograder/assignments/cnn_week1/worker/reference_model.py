"""The contract's LeNet-style architecture, written independently of any solution.

Used on both sides: in the worker (the accuracy gate and the training,
evaluation and feature-map probes run the student's functions on this model,
so a SimpleCNN bug costs only its own part) and in the grader (expected
values, and the gate's replay, which must build the same data and optimizer
bit for bit). Bind-mounted into the sandbox, so it imports only torch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# A copy of MEAN and STD of source/cnn_week1/mnist_data.py: the sandbox sees only this folder, so the
# worker cannot import the loader (tests/test_mnist_data.py proves the two agree).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
LAYER_NAMES = ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3")


class ReferenceCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)  # (N, 6, 28, 28)
        self.pool1 = nn.MaxPool2d(2, 2)  # (N, 6, 14, 14)
        self.conv2 = nn.Conv2d(6, 16, 5)  # (N, 16, 10, 10)
        self.pool2 = nn.MaxPool2d(2, 2)  # (N, 16, 5, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28) -> (N, 10) logits
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # (N, 400)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def seeded_weights(seed: int) -> dict[str, torch.Tensor]:
    """A freshly initialised reference model's weights, reproducible from ``seed``."""
    torch.manual_seed(seed)
    return {name: tensor.detach().clone() for name, tensor in ReferenceCNN().state_dict().items()}


def accuracy_percent(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 2000) -> float:
    """Accuracy in percent of ``model`` on ``images`` (N, 1, 28, 28), in eval mode without gradients."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            correct += int((model(images[start:start + batch]).argmax(1) == labels[start:start + batch]).sum())
    return 100.0 * correct / len(labels)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 MNIST images (N, 28, 28) as the normalised float32 batch (N, 1, 28, 28) both sides train on."""
    return images.to(torch.float32).div_(255.0).sub_(MNIST_MEAN).div_(MNIST_STD).unsqueeze(1)


def make_optimizer(model: nn.Module, name: str, learning_rate: float, momentum: float) -> torch.optim.Optimizer:
    """The optimizer of grading.toml's [training], built the same way by the worker and the replay."""
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=learning_rate)
    raise ValueError(f"unknown optimizer {name!r} in [training] of grading.toml")
