"""The MNIST loader (source/cnn_week1/mnist_data.py) on the real local copy and on broken copies."""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "source" / "cnn_week1"))
import mnist_data  # noqa: E402
from mnist_data import MnistDataError  # noqa: E402

TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(scope="module")
def plain_test_split(tmp_path_factory, mnist_dir) -> Path:
    """A directory with the test split's two files, uncompressed."""
    folder = tmp_path_factory.mktemp("mnist-plain")
    for name in TEST_FILES:
        (folder / name).write_bytes(gzip.decompress((mnist_dir / f"{name}.gz").read_bytes()))
    return folder


def _names_both_settings(message: str) -> None:
    assert mnist_data.ENV_VAR in message and "grading.toml" in message, message


def test_real_copy_loads_both_splits_with_expected_shapes(mnist_dir):
    train_images, train_labels = mnist_data.load_split("train", mnist_dir)
    test_images, test_labels = mnist_data.load_split("test", mnist_dir)
    assert train_images.shape == (60000, 28, 28) and train_images.dtype == np.uint8
    assert test_images.shape == (10000, 28, 28) and test_images.dtype == np.uint8
    assert train_labels.shape == (60000,) and test_labels.shape == (10000,)
    assert train_labels.dtype == np.int64
    for labels in (train_labels, test_labels):
        assert labels.min() == 0 and labels.max() == 9
        assert len(np.unique(labels)) == 10


def test_load_tensors_normalises_with_the_training_statistics(mnist_dir):
    images, labels = mnist_data.load_tensors("train", mnist_dir)
    assert tuple(images.shape) == (60000, 1, 28, 28) and str(images.dtype) == "torch.float32"
    assert str(labels.dtype) == "torch.int64"
    # MEAN and STD are the training set's own statistics, so normalised training pixels are ~N(0, 1).
    assert abs(images.mean().item()) < 1e-3
    assert abs(images.std().item() - 1.0) < 1e-3


def test_environment_variable_selects_the_copy(plain_test_split, monkeypatch):
    monkeypatch.setenv(mnist_data.ENV_VAR, str(plain_test_split))
    images, labels = mnist_data.load_split("test")
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)


def test_uncompressed_files_are_accepted_and_equal_to_gzipped(plain_test_split, mnist_dir):
    plain_images, plain_labels = mnist_data.load_split("test", plain_test_split)
    packed_images, packed_labels = mnist_data.load_split("test", mnist_dir)
    np.testing.assert_array_equal(plain_images, packed_images)
    np.testing.assert_array_equal(plain_labels, packed_labels)


def test_one_flipped_byte_is_reported_as_corrupt(plain_test_split, tmp_path):
    for name in TEST_FILES:
        (tmp_path / name).write_bytes((plain_test_split / name).read_bytes())
    damaged = bytearray((tmp_path / TEST_FILES[0]).read_bytes())
    damaged[5000] ^= 0xFF  # one pixel byte, well past the header
    (tmp_path / TEST_FILES[0]).write_bytes(bytes(damaged))
    with pytest.raises(MnistDataError, match="corrupt") as error:
        mnist_data.load_split("test", tmp_path)
    assert TEST_FILES[0] in str(error.value)
    _names_both_settings(str(error.value))


def test_missing_directory_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(mnist_data.ENV_VAR, str(tmp_path / "no-such-dir"))
    with pytest.raises(MnistDataError, match="does not exist") as error:
        mnist_data.load_split("test")
    assert "no-such-dir" in str(error.value)
    _names_both_settings(str(error.value))


def test_missing_file_gives_a_clear_error(plain_test_split, tmp_path):
    (tmp_path / TEST_FILES[0]).write_bytes((plain_test_split / TEST_FILES[0]).read_bytes())  # labels missing
    with pytest.raises(MnistDataError, match="missing") as error:
        mnist_data.load_split("test", tmp_path)
    assert TEST_FILES[1] in str(error.value)
    _names_both_settings(str(error.value))


def test_recorded_checksums_agree_with_the_shared_sha256sums(shared_dir):
    recorded = {}
    for line in (shared_dir / "datasets" / "mnist" / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            recorded[name.lstrip("*")] = digest
    assert recorded == mnist_data.SHA256


def test_the_worker_normalises_with_the_loaders_statistics():
    """The sandbox sees only the worker folder, so reference_model keeps a copy of MEAN and STD."""
    import torch

    from autograder.assignments.cnn_week1.worker.reference_model import MNIST_MEAN, MNIST_STD, normalise

    assert (MNIST_MEAN, MNIST_STD) == (mnist_data.MEAN, mnist_data.STD)
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    loaded = images.float().div_(255.0).unsqueeze(1).sub_(mnist_data.MEAN).div_(mnist_data.STD)  # as load_tensors
    assert torch.equal(normalise(images), loaded)
