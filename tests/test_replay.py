"""The accuracy gate's replay (autograder/replay.py) against the worker's own training task.

Honest ways of writing the contract's loop must reproduce the replay's weights
bit for bit, broken or shortcut loops must not, and a separate process with the
worker's thread count must agree with the grader's threaded replay. A small
budget keeps these quick: equality either holds bit for bit or not at all.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import solutions.cnn_week1 as solution
from autograder.assignments.cnn_week1 import replay
from autograder.assignments.cnn_week1.settings import Training
from autograder.engine.runtime import wire

RUNTIME = Path(replay.__file__).parent / "worker"  # tasks.py, reference_model.py: imported flat, as in the sandbox
BUDGET = Training(train_samples=1600, batch_size=64)  # 25 full batches
ODD_BUDGET = Training(train_samples=1000, batch_size=64)  # 16 batches, the last one of 40 images


@pytest.fixture(scope="module")
def tasks():
    """The worker's task module, imported as the worker imports it (its folder on sys.path)."""
    sys.path.insert(0, str(RUNTIME))
    try:
        import tasks as module
    finally:
        sys.path.remove(str(RUNTIME))
    return module


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> bytes:
    return replay.secret_key(tmp_path_factory.mktemp("key"))


def train_in_worker_task(tasks, training_data, budget, run, loop) -> dict:
    """The worker's train_budget task, in this process, with ``loop`` as the student's train_one_epoch."""
    options = types.SimpleNamespace(data_dir=str(training_data["train-images.npy"].parent))
    return tasks.train_budget({"train_one_epoch": loop}, run.payload(budget, threads=1), options)


def replayed(budget, run, training_data, tmp_path, threads: int = 1) -> dict:
    return replay.Replay(budget, run, training_data, threads, folder=tmp_path).weights(timeout=300)


# ----- honest loops, written the ways students write them -------------------------------------

def zero_after_forward(model, loader, criterion, optimizer, device="cpu"):
    model.train()
    total, correct = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        outputs = model(images)
        optimizer.zero_grad()
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        total += loss.item()
        _, predicted = outputs.max(1)
        correct += (predicted == labels).sum().item()
    return total / len(loader), 100.0 * correct / len(loader.dataset)


def model_zero_grad_functional_loss(model, loader, criterion, optimizer, device="cpu"):
    model.train()
    losses = []
    for images, labels in loader:
        model.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses), 0.0


def zero_grad_keeps_tensors(model, loader, criterion, optimizer, device="cpu"):
    model.train()
    for images, labels in loader:
        optimizer.zero_grad(set_to_none=False)
        criterion(model(images), labels).backward()
        optimizer.step()
    return 0.0, 0.0


def zero_grad_after_step(model, loader, criterion, optimizer, device="cpu"):
    """Zeroed once before the loop and after every step: the same gradients at every backward."""
    model.train()
    optimizer.zero_grad()
    for images, labels in loader:
        criterion(model(images), labels).backward()
        optimizer.step()
        optimizer.zero_grad()
    return 0.0, 0.0


HONEST = {"the reference solution": solution.train_one_epoch, "zero_grad after the forward, .item(), max(1)":
          zero_after_forward, "model.zero_grad() and F.cross_entropy": model_zero_grad_functional_loss,
          "zero_grad(set_to_none=False)": zero_grad_keeps_tensors, "zero_grad before the loop and after each step":
          zero_grad_after_step}


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_loops_reproduce_the_replay_bit_for_bit(name, tasks, training_data, key, tmp_path):
    run = replay.draw(ODD_BUDGET, index=1, key=key)
    report = train_in_worker_task(tasks, training_data, ODD_BUDGET, run, HONEST[name])
    expected = replayed(ODD_BUDGET, run, training_data, tmp_path)
    assert report["steps"] == 16 and report["passes"] == 1
    assert all(torch.equal(report["weights"][k], v) for k, v in expected.items())
    assert replay.first_difference(report["weights"], expected) is None


# ----- loops the gate must refuse ---------------------------------------------------------------

def no_zero_grad(model, loader, criterion, optimizer, device="cpu"):
    model.train()
    for images, labels in loader:
        criterion(model(images), labels).backward()
        optimizer.step()
    return 0.0, 0.0


def skips_the_last_batch(model, loader, criterion, optimizer, device="cpu"):
    model.train()
    for number, (images, labels) in enumerate(loader):
        if number == len(loader) - 1:
            break
        optimizer.zero_grad()
        criterion(model(images), labels).backward()
        optimizer.step()
    return 0.0, 0.0


def make_embedded_weights(weights):
    """A 'loop' that trains nothing and loads weights trained beforehand (the hostile submission)."""
    def load_trained(model, loader, criterion, optimizer, device="cpu"):
        model.load_state_dict(weights)
        return 0.1, 99.0
    return load_trained


@pytest.mark.parametrize("loop", [no_zero_grad, skips_the_last_batch])
def test_wrong_loops_differ_from_the_replay(loop, tasks, training_data, key, tmp_path):
    run = replay.draw(ODD_BUDGET, index=2, key=key)
    report = train_in_worker_task(tasks, training_data, ODD_BUDGET, run, loop)
    assert replay.first_difference(report["weights"], replayed(ODD_BUDGET, run, training_data, tmp_path)) is not None


def test_weights_trained_on_another_seed_are_refused(tasks, training_data, key, tmp_path):
    other = replay.draw(ODD_BUDGET, index=3, key=key)
    trained = replayed(ODD_BUDGET, other, training_data, tmp_path)  # the contract's loop, honestly, elsewhere
    run = replay.draw(ODD_BUDGET, index=4, key=key)
    report = train_in_worker_task(tasks, training_data, ODD_BUDGET, run, make_embedded_weights(trained))
    difference = replay.first_difference(report["weights"], replayed(ODD_BUDGET, run, training_data, tmp_path))
    assert difference is not None and difference[4] > 100 * replay.ATOL


# ----- a separate process, as the sandbox runs it ------------------------------------------------

WORKER_SCRIPT = """
import os, sys, types
sys.path[:0] = sys.argv[1].split(os.pathsep)  # the assignment's worker tasks and the engine's runtime (wire)
import torch
torch.set_num_threads(int(sys.argv[3]))
import tasks, wire
sys.path.insert(0, sys.argv[4])
import solutions.cnn_week1 as solution
payload = wire.decode(sys.stdin.buffer.read())
report = tasks.train_budget({"train_one_epoch": solution.train_one_epoch}, payload,
                            types.SimpleNamespace(data_dir=sys.argv[2]))
sys.stdout.buffer.write(wire.encode(report["weights"]))
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_a_worker_process_matches_the_threaded_replay(threads, training_data, key, tmp_path):
    """The worker starts with other threads than the replay's: the task takes the replay's for training."""
    run = replay.draw(BUDGET, index=5, key=key)
    expected = replay.Replay(BUDGET, run, training_data, threads, folder=tmp_path)  # runs while the worker trains
    worker_threads = 3 - threads
    folders = os.pathsep.join([str(RUNTIME), str(Path(wire.__file__).parent)])
    done = subprocess.run([sys.executable, "-c", WORKER_SCRIPT, folders, str(training_data["train-images.npy"].parent),
                           str(worker_threads), str(Path(solution.__file__).parents[1])],
                          input=wire.encode(run.payload(BUDGET, threads)), capture_output=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": str(worker_threads)})
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    weights = wire.decode(done.stdout)
    assert all(torch.equal(weights[k], v) for k, v in expected.weights(timeout=300).items())


# ----- the seed pool, the key and the cache ----------------------------------------------------

def test_pool_seeds_come_from_the_key_and_stay_in_the_pool(tmp_path):
    key = replay.secret_key(tmp_path)
    assert (tmp_path / replay.KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert replay.secret_key(tmp_path) == key  # created once
    seeds = {replay.pool_seed(key, BUDGET, index) for index in range(replay.POOL_SIZE)}
    assert len(seeds) == replay.POOL_SIZE
    assert replay.pool_seed(b"another machine's key...", BUDGET, 0) not in seeds
    drawn = {replay.draw(BUDGET, key=key).seed for _ in range(40)}
    assert drawn <= seeds and len(drawn) > 1


def test_a_draw_fixes_the_start_and_the_order_of_every_pass(key):
    budget = dataclasses.replace(BUDGET, epochs=2)
    run, again = replay.draw(budget, index=0, key=key), replay.draw(budget, index=0, key=key)
    assert run.orders.shape == (2, budget.train_samples)
    assert all(torch.equal(sorted_row, torch.arange(budget.train_samples)) for sorted_row in run.orders.sort(1).values)
    assert not torch.equal(run.orders[0], run.orders[1])
    assert torch.equal(run.orders, again.orders)
    assert all(torch.equal(run.weights[k], v) for k, v in again.weights.items())
    assert "seed" not in run.payload(budget, 1)


def test_the_cache_is_read_back_and_keyed_by_what_the_weights_depend_on(training_data, key, tmp_path):
    run = replay.draw(BUDGET, index=6, key=key)
    first = replay.Replay(BUDGET, run, training_data, 1, folder=tmp_path)
    assert first.cached is None
    weights = first.weights(timeout=300)
    second = replay.Replay(BUDGET, run, training_data, 1, folder=tmp_path)
    assert second.cached is not None and all(torch.equal(second.weights()[k], v) for k, v in weights.items())
    keys = {replay.cache_key(BUDGET, run, training_data, 1), replay.cache_key(BUDGET, run, training_data, 2),
            replay.cache_key(dataclasses.replace(BUDGET, learning_rate=0.02), run, training_data, 1),
            replay.cache_key(BUDGET, replay.draw(BUDGET, index=7, key=key), training_data, 1)}
    assert len(keys) == 4
    second.path.write_bytes(b"not an npz")  # a damaged cache file is replayed again, never trusted
    again = replay.Replay(BUDGET, run, training_data, 1, folder=tmp_path)
    assert again.cached is None
    assert all(torch.equal(again.weights(timeout=300)[k], v) for k, v in weights.items())


# ----- the loader student code sees ------------------------------------------------------------------

def test_probe_and_gate_loaders_look_alike(tasks, key):
    images, labels = torch.randn(21, 1, 28, 28), torch.randint(0, 10, (21,))
    probe = tasks._probe_loader({"images": images, "labels": labels, "batch_size": 8}, [])
    run = replay.draw(BUDGET, index=0, key=key)
    gate = tasks.Batches(torch.randn(BUDGET.train_samples, 1, 28, 28), torch.zeros(BUDGET.train_samples, dtype=torch.long),
                         BUDGET.batch_size, [], orders=list(run.orders))
    assert type(probe) is type(gate) and set(vars(probe)) == set(vars(gate))
    assert type(probe.dataset) is type(gate.dataset)
    assert (len(probe), probe.batch_size, len(probe.dataset)) == (3, 8, 21)
    assert [len(y) for _, y in probe] == [8, 8, 5]
    assert torch.equal(torch.cat([y for _, y in probe]), labels)  # in sequence
    first_gate_batch = next(iter(gate))[0]
    assert torch.equal(first_gate_batch, gate.dataset.x[run.orders[0][:BUDGET.batch_size]])


def test_the_replays_test_accuracy_is_measured_once_and_kept_per_test_set(training_data, key, tmp_path):
    """A passing gate reads the replay's accuracy back instead of running the test set again; another
    test set (or a damaged file) is measured afresh."""
    from autograder.assignments.cnn_week1.worker.reference_model import ReferenceCNN, accuracy_percent

    run = replay.draw(BUDGET, index=5, key=key)
    expected = replay.Replay(BUDGET, run, training_data, 1, folder=tmp_path)
    generator = torch.Generator().manual_seed(0)
    images, labels = torch.randn(300, 1, 28, 28, generator=generator), torch.randint(0, 10, (300,), generator=generator)
    model = ReferenceCNN()
    model.load_state_dict(expected.weights(timeout=300))
    measured = accuracy_percent(model, images, labels)
    assert expected.accuracy(images, labels) == measured
    [kept] = tmp_path.glob("*.accuracy")
    kept.write_text("12.5")  # what is read back is the file, not a new measurement
    assert replay.Replay(BUDGET, run, training_data, 1, folder=tmp_path).accuracy(images, labels) == 12.5
    kept.write_text("not a number")
    assert expected.accuracy(images, labels) == measured
    other_labels = (labels + 1) % 10
    assert expected.accuracy(images, other_labels) == accuracy_percent(model, images, other_labels)
    assert len(list(tmp_path.glob("*.accuracy"))) == 2
