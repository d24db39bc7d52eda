"""Fixtures shared by the test modules: where the repository and the shared files are."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"  # ../shared beside the repository (see shared/README.md)

# The README's test command gives CNN_MNIST_DIR relative to the repository root; kernels
# and graders started by the tests run in other folders, so pin it to an absolute path.
if os.environ.get("CNN_MNIST_DIR"):
    os.environ["CNN_MNIST_DIR"] = str(Path(os.environ["CNN_MNIST_DIR"]).resolve())


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The local MNIST copy: $CNN_MNIST_DIR (CI sets it), else ../shared/datasets/mnist."""
    directory = Path(os.environ.get("CNN_MNIST_DIR") or SHARED / "datasets" / "mnist")
    if not directory.is_dir():
        pytest.fail(f"no MNIST copy at {directory}: set CNN_MNIST_DIR to the four MNIST files")
    return directory


def wait_until(condition, seconds: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass (killed processes take a moment to go)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()
