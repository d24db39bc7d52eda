"""Calibrate the accuracy gate: the [training] budget of grading.toml on many seeds, plus broken loops.

Runs the worker's own ``train_budget`` task in this process (no sandbox) with the
reference solution's ``train_one_epoch`` on seeds 0..N-1, and with two broken
loops (no ``optimizer.step()``, no ``zero_grad``), then measures MNIST test
accuracy exactly as the grader does. Prints a table and writes
``bench/results/accuracy_budget.json``. Torch uses one thread, as the task does in
the worker.

    CNN_MNIST_DIR=/path/to/mnist .venv/bin/python bench/accuracy_budget.py --seeds 10
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "autograder" / "assignments" / "cnn_week1" / "worker"))  # tasks.py imports its folder flat, as in the sandbox

import torch  # noqa: E402

import tasks  # noqa: E402
from autograder.assignments.cnn_week1 import replay  # noqa: E402
from autograder.engine.config import load_config  # noqa: E402
from autograder.assignments.cnn_week1.data import mnist_module, training_arrays  # noqa: E402
from autograder.assignments.cnn_week1.settings import mnist_directory
from reference_model import ReferenceCNN, accuracy_percent  # noqa: E402


def broken_loop(skip: str):
    """The lesson's loop without ``optimizer.step()`` or without ``zero_grad``."""
    def train_one_epoch(model, loader, criterion, optimizer, device="cpu"):
        model.train()
        total_loss, correct, total = 0.0, 0, 0
        for images, labels in loader:
            if skip != "zero_grad":
                optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            if skip != "step":
                optimizer.step()
            total_loss += loss.item()
            correct += int((outputs.argmax(1) == labels).sum())
            total += len(labels)
        return total_loss / len(loader), 100.0 * correct / total
    return train_one_epoch


def load_solution(path: Path) -> dict:
    spec = importlib.util.spec_from_file_location("cnn_week1_solution", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return vars(module)


def run(namespace: dict, payload: dict, data_dir: str, test_set) -> dict:
    started = time.perf_counter()
    report = tasks.train_budget(namespace, payload, types.SimpleNamespace(data_dir=data_dir))
    task_seconds = time.perf_counter() - started
    model = ReferenceCNN()
    model.load_state_dict(report["weights"])
    accuracy = accuracy_percent(model, *test_set)
    returned = report["returned"][-1]
    return {"seed": payload["seed"], "accuracy": round(accuracy, 2), "train_seconds": round(sum(report["seconds"]), 2),
            "task_seconds": round(task_seconds, 2), "steps": report["steps"],
            "returned_loss": round(float(returned[0]), 4) if isinstance(returned, tuple) else None,
            "returned_accuracy": round(float(returned[1]), 2) if isinstance(returned, tuple) else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="reference runs on seeds 0..N-1 (default 10)")
    parser.add_argument("--broken-seeds", type=int, default=2, help="runs per broken loop (default 2)")
    parser.add_argument("--solution", type=Path, default=ROOT / "solutions" / "cnn_week1.py")
    parser.add_argument("--config", type=Path, default=None, help="grading.toml (default: the kit's)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1, as the grader's train_budget task uses)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "accuracy_budget.json")
    options = parser.parse_args()

    config = load_config(options.config)
    budget = config.training
    torch.set_num_threads(options.threads)
    data_dir = str(training_arrays(config)["train-images.npy"].parent)
    test_set = mnist_module().load_tensors("test", mnist_directory(config))
    base = {"epochs": budget.epochs, "batch_size": budget.batch_size, "train_samples": budget.train_samples,
            "optimizer": budget.optimizer, "learning_rate": budget.learning_rate, "momentum": budget.momentum}

    loops = [("reference", load_solution(options.solution), range(options.seeds))]
    loops += [(f"no {skip}", {"train_one_epoch": broken_loop(skip)}, range(options.broken_seeds))
              for skip in ("step", "zero_grad")]
    rows = []
    print(f"budget: {base}; torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'loop':<12}{'seed':>5}{'accuracy %':>12}{'train s':>9}{'task s':>8}{'steps':>7}")
    for label, namespace, seeds in loops:
        for seed in seeds:
            payload = {**replay.seeded_run(budget, seed).payload(budget, options.threads), "seed": seed}
            row = {"loop": label, **run(namespace, payload, data_dir, test_set)}
            rows.append(row)
            print(f"{label:<12}{seed:>5}{row['accuracy']:>12.2f}{row['train_seconds']:>9.1f}"
                  f"{row['task_seconds']:>8.1f}{row['steps']:>7}", flush=True)

    reference = [row for row in rows if row["loop"] == "reference"]
    summary = {
        "reference_accuracy": {"min": min(r["accuracy"] for r in reference),
                               "mean": round(statistics.mean(r["accuracy"] for r in reference), 2),
                               "max": max(r["accuracy"] for r in reference),
                               "stdev": round(statistics.stdev(r["accuracy"] for r in reference), 3)
                               if len(reference) > 1 else 0.0},
        "reference_train_seconds": {"mean": round(statistics.mean(r["train_seconds"] for r in reference), 2),
                                    "max": max(r["train_seconds"] for r in reference)},
        "broken_accuracy_max": {label: max((r["accuracy"] for r in rows if r["loop"] == label), default=None)
                                for label in ("no step", "no zero_grad")},
        "min_accuracy": budget.min_accuracy,
        "time_limit": budget.time_limit,
    }
    print(json.dumps(summary, indent=2))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps({
        "budget": dataclasses.asdict(budget), "rows": rows, "summary": summary,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                    "threads": torch.get_num_threads(), "load_average": os.getloadavg()},
    }, indent=2))
    print(f"written {options.out.relative_to(ROOT) if options.out.is_relative_to(ROOT) else options.out}")


if __name__ == "__main__":
    main()
