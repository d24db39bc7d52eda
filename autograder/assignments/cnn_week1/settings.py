"""Week 1's own grading.toml sections: [training] (the accuracy gate's budget) and [data] (MNIST).

The defaults are the calibrated values of the shipped grading.toml (a test keeps them equal).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...engine.assignment import SettingsSection
from ...engine.config import above, at_least, between, one_of

MNIST_ENV = "CNN_MNIST_DIR"
OPTIMIZERS = ("sgd",)  # the training task builds torch.optim.SGD only


@dataclass(frozen=True)
class Training:
    epochs: int = 1
    train_samples: int = 30000
    batch_size: int = 64
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    seed: int = 0
    time_limit: float = 180.0
    min_accuracy: float = 93.0


@dataclass(frozen=True)
class Data:
    mnist_dir: str = ""  # relative to grading.toml, or absolute; empty: $CNN_MNIST_DIR, else torchvision

    def mnist_directory(self, config_path: Path) -> Path | None:
        """The configured local MNIST copy: CNN_MNIST_DIR wins over [data] mnist_dir."""
        if os.environ.get(MNIST_ENV):
            return Path(os.environ[MNIST_ENV]).expanduser().resolve()
        if self.mnist_dir:
            return (Path(config_path).parent / Path(self.mnist_dir).expanduser()).resolve()
        return None


SECTIONS = {
    "training": SettingsSection(Training, {
        "epochs": at_least(1), "train_samples": between(1, 60000), "batch_size": at_least(1),
        "optimizer": one_of(OPTIMIZERS), "learning_rate": above(0), "momentum": between(0, 1),
        "seed": at_least(0), "time_limit": above(0), "min_accuracy": between(0, 100)}),
    # Where this host keeps MNIST, not what is graded: moving the files neither forces re-grades
    # nor splits shards graded elsewhere (a wrong directory is a host fault, never a score).
    "data": SettingsSection(Data, in_digest=False),
}


def mnist_directory(config) -> Path | None:
    return config.data.mnist_directory(config.path)
