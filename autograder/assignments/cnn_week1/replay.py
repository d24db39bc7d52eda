"""The accuracy gate's expected result: the contract's training loop, replayed in the grader.

The gate cannot trust weights that come back from the sandbox (a submission can
embed trained weights and skip training). So the grader draws the gate's start
weights and batch order from a secret seed, replays the contract's loop on them
itself, and the gate passes only if the student's weights equal the replay's.

The seed is one of ``POOL_SIZE`` per machine and configuration, derived from a
random key in the kit's cache folder (never bind-mounted into the sandbox) and
an index drawn per grade; each pool seed's replay is cached on disk, so only the
first grades on a machine pay for it, and those run it in a thread while the
worker trains. Weights depend on the thread count (summation order), so the
worker trains with the replay's.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .settings import Training
from .data import cache_root
from ...engine.failures import HostFault
from ...engine.files import sha256_file, write_atomic
from .worker.reference_model import ReferenceCNN, accuracy_percent, make_optimizer, normalise, seeded_weights

POOL_SIZE = 8
KEY_FILE = "gate-secret.key"
CACHE_FOLDER = "gate-replay"
# Honest loops reproduce the replay bit for bit (bench/ACCURACY.md); the slightest change of
# arithmetic grows to ~3e-3 over the budget, so this only absorbs what no measured loop needed.
ATOL, RTOL = 1e-5, 1e-4
TRAINING_FIELDS = ("epochs", "train_samples", "batch_size", "optimizer", "learning_rate", "momentum", "seed")


@dataclass(frozen=True)
class GateRun:
    """One grade's draw: where training starts and in which order it sees the batches."""

    index: int
    seed: int
    weights: dict[str, torch.Tensor]
    orders: torch.Tensor  # (epochs, train_samples) int64

    def payload(self, budget: Training, threads: int) -> dict:
        """What the worker's train_budget task gets (no seed: it only needs what the seed made)."""
        return {"weights": self.weights, "orders": self.orders, "batch_size": budget.batch_size,
                "train_samples": budget.train_samples, "optimizer": budget.optimizer,
                "learning_rate": budget.learning_rate, "momentum": budget.momentum, "threads": threads}


def secret_key(folder: Path | None = None) -> bytes:
    """The machine's gate key, created once (random, readable by root only)."""
    path = (folder or cache_root()) / KEY_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(secrets.token_bytes(32))
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, path)  # never replaces a key another grader created meanwhile
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    key = path.read_bytes()
    if len(key) < 16:
        raise HostFault(f"the accuracy gate's key {path} is damaged: delete it so that a new one is made")
    return key


def pool_seed(key: bytes, budget: Training, index: int) -> int:
    """Pool member ``index``: a 63-bit seed nobody without the key can predict."""
    digest = hashlib.sha256(key + f"gate-seed/{budget.seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def draw(budget: Training, index: int | None = None, key: bytes | None = None) -> GateRun:
    """This grade's gate run: a random pool member unless ``index`` is given."""
    index = secrets.randbelow(POOL_SIZE) if index is None else index
    return seeded_run(budget, pool_seed(key if key is not None else secret_key(), budget, index), index)


def seeded_run(budget: Training, seed: int, index: int = -1) -> GateRun:
    """The start weights and the order of every pass that ``seed`` makes (bench: numbered seeds)."""
    generator = torch.Generator().manual_seed(seed)
    orders = torch.stack([torch.randperm(budget.train_samples, generator=generator) for _ in range(budget.epochs)])
    return GateRun(index, seed, seeded_weights(seed), orders)


def load_training(arrays: dict[str, Path], samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The worker's training tensors, made as the worker makes them (same files, same normalise)."""
    images = np.load(arrays["train-images.npy"], allow_pickle=False)[:samples]
    labels = np.load(arrays["train-labels.npy"], allow_pickle=False)[:samples]
    return normalise(torch.from_numpy(np.ascontiguousarray(images))), torch.from_numpy(labels.astype(np.int64))


VARIANTS = ("contract", "no_zero_grad")  # the contract's loop, and the classic mistake the gate diagnoses


def contract_loop(budget: Training, run: GateRun, images: torch.Tensor, labels: torch.Tensor,
                  variant: str = "contract") -> dict:
    """The contract's loop: per batch zero_grad, forward, cross-entropy, backward, one step
    (``variant="no_zero_grad"``: the same loop with the gradients never zeroed)."""
    model = ReferenceCNN()
    model.load_state_dict(run.weights)
    model.train()
    optimizer = make_optimizer(model, budget.optimizer, budget.learning_rate, budget.momentum)
    criterion = nn.CrossEntropyLoss()
    for order in run.orders:
        for start in range(0, len(order), budget.batch_size):
            index = order[start:start + budget.batch_size]
            if variant == "contract":
                optimizer.zero_grad()
            loss = criterion(model(images[index]), labels[index])
            loss.backward()
            optimizer.step()
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)  # once per version of the file (size and mtime are the cache key)


def cache_key(budget: Training, run: GateRun, arrays: dict[str, Path], threads: int, variant: str = "contract") -> str:
    """Everything the replayed weights depend on: training settings, seed, data, torch, threads (and
    the loop's variant, when it is not the contract's)."""
    files = {name: _file_digest(str(path), path.stat().st_size, path.stat().st_mtime_ns)
             for name, path in sorted(arrays.items())}
    described = {"training": {name: getattr(budget, name) for name in TRAINING_FIELDS}, "seed": run.seed,
                 "files": files, "torch": torch.__version__, "threads": threads}
    if variant != "contract":
        described["variant"] = variant
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


class Replay:
    """The replay's weights for one gate run: from the disk cache, or computed in a thread now."""

    def __init__(self, budget: Training, run: GateRun, arrays: dict[str, Path], threads: int,
                 folder: Path | None = None, variant: str = "contract"):
        if variant not in VARIANTS:
            raise ValueError(f"unknown replay variant {variant!r}")
        self.budget, self.run, self.arrays, self.threads, self.variant = budget, run, arrays, threads, variant
        self.path = (folder or cache_root() / CACHE_FOLDER) / f"{cache_key(budget, run, arrays, threads, variant)}.npz"
        self.cached = _read(self.path)
        self._weights, self._error = self.cached, None
        self._thread = None
        if self._weights is None:
            # Not a daemon: if the gate fails first, exit waits for the replay (which fills the cache)
            # instead of killing torch mid-computation, which aborts the process.
            self._thread = threading.Thread(target=self._compute, name="gate-replay", daemon=False)
            self._thread.start()

    def _compute(self) -> None:
        try:
            torch.set_num_threads(self.threads)  # this thread's own setting (OpenMP's is per thread)
            images, labels = load_training(self.arrays, self.budget.train_samples)
            self._weights = contract_loop(self.budget, self.run, images, labels, self.variant)
            _write(self.path, self._weights)
        except BaseException as error:  # reported to the gate as the host's fault
            self._error = error

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """The replayed model's accuracy in percent on this test set, cached beside its weights.
        Weights equal to the replay's (the gate's pass) share it: a passing grade skips the forward
        pass over the test set, which costs about as much as a fifth of the training."""
        digest = hashlib.sha256(images.numpy().tobytes() + labels.numpy().tobytes()).hexdigest()[:16]
        path = self.path.with_name(f"{self.path.stem}-test-{digest}.accuracy")
        try:
            value = float(path.read_text())
            if 0.0 <= value <= 100.0:
                return value
        except (OSError, ValueError):
            pass
        model = ReferenceCNN()
        model.load_state_dict(self.weights())
        value = accuracy_percent(model, images, labels)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, repr(value), mode=0o600)
        return value

    def weights(self, timeout: float | None = None) -> dict[str, torch.Tensor]:
        """The replayed final weights (waits for the thread), or HostFault."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise HostFault(f"the accuracy gate's replay did not finish within {timeout:g} s")
        if self._weights is None:
            raise HostFault(f"the accuracy gate's replay failed: {self._error!r}")
        return self._weights


def _read(path: Path) -> dict[str, torch.Tensor] | None:
    """Cached weights, or None when absent or not exactly the reference's names and shapes."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            weights = {name: torch.from_numpy(stored[name].copy()) for name in stored.files}
    except (OSError, ValueError, KeyError):
        return None
    expected = ReferenceCNN().state_dict()
    if set(weights) != set(expected) or any(weights[k].shape != v.shape or weights[k].dtype != v.dtype
                                            for k, v in expected.items()):
        return None
    return weights


def _write(path: Path, weights: dict[str, torch.Tensor]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # 0o600: the weights a passing student reaches are the grader's, never the worker's to read
    write_atomic(path, lambda stream: np.savez(stream, **{name: tensor.numpy() for name, tensor in weights.items()}),
                 mode=0o600)


def first_difference(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]):
    """None when ``got`` equals ``want`` within (ATOL, RTOL), else (name, flat index, got, want, max |diff|)."""
    for name, tensor in want.items():
        other = got[name].double().flatten()
        expected = tensor.double().flatten()
        close = torch.isclose(other, expected, atol=ATOL, rtol=RTOL)
        if not close.all():
            error = (other - expected).abs().nan_to_num(float("inf"))
            index = int(error.argmax())
            return name, index, float(other[index]), float(expected[index]), float(error.max())
    return None
