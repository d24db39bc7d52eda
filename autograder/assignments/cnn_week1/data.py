"""MNIST for the grader: the training arrays the sandbox may see, cached once per machine.

The worker trains on the training set only. It receives two ``.npy`` files
(bind-mounted read-only), never the MNIST directory itself, so the test set
stays out of its reach. The arrays are decoded once and cached, keyed by the
files' SHA-256, because decompressing MNIST on every grade would cost time.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...engine.config import GradingConfig
from ...engine.files import write_atomic
from .settings import mnist_directory
from .student_files import student_module

TRAIN_FILES = ("train-images.npy", "train-labels.npy")


def mnist_module():
    """The assignment's one MNIST loader (shipped to students beside the notebook)."""
    return student_module("mnist_data.py")


def cache_root() -> Path:
    base = os.environ.get("CNN_KIT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnn-week1-kit"
    return Path(base)


def training_arrays(config: GradingConfig) -> dict[str, Path]:
    """``{"train-images.npy": path, "train-labels.npy": path}``, decoded and cached on first use."""
    mnist = mnist_module()
    key = mnist.SHA256["train-images-idx3-ubyte"][:16]
    folder = cache_root() / f"train-{key}"
    paths = {name: folder / name for name in TRAIN_FILES}
    if all(path.is_file() for path in paths.values()):
        return paths
    images, labels = mnist.load_split("train", mnist_directory(config))
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in zip(TRAIN_FILES, (images, labels)):
        # 0o644: the sandbox's unprivileged user reads it through a bind mount
        write_atomic(paths[name], lambda stream, array=array: np.save(stream, np.ascontiguousarray(array), allow_pickle=False))
    return paths
