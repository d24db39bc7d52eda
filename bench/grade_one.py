"""Benchmark: grading one submission end to end versus executing the whole notebook.

Runs, in the same session on the same machine:
- ``python -m autograder grade`` on the reference solution (MNIST accuracy check
  included), split into start-up, extraction, each part and peak memory: a cold grade,
  as Gradescope or an instructor runs it;
- the same grade inside a warm grading job (one process with its fork-server already
  up, as ``grade-all`` runs each job): the first grade is the warm-up, the rest count;
- the baseline the kit replaces: the solution notebook executed top to bottom by a
  Jupyter kernel, as nbgrader's autograde and otter-grader do (the lesson's default
  training, 5 epochs);
- fast failures: a submission with a syntax error in every cell, and the untouched
  student release;
- the cost of a submission's size: the solution notebook carrying 50 MB of outputs.

Prints a table and writes bench/results/grade_one.json. Not a test: numbers, not verdicts.

    CNN_MNIST_DIR=../shared/datasets/mnist .venv/bin/python bench/grade_one.py --runs 5 --baseline-runs 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SOURCE_NOTEBOOK = ROOT / "source" / "cnn_week1" / "cnn_week1.ipynb"
RELEASE_NOTEBOOK = ROOT / "release" / "cnn_week1" / "cnn_week1.ipynb"
REFERENCE = ROOT / "solutions" / "cnn_week1.py"


def grade_once(submission: Path) -> dict:
    """One `python -m autograder grade` as a fresh process, as an instructor or Gradescope runs it."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--out", out, "--quiet"],
                       cwd=ROOT, check=True)
        wall = time.perf_counter() - started
        feedback = json.loads((Path(out) / "feedback.json").read_text())
    training = sum(t["seconds"] for t in feedback["tests"] if "accuracy" in t["name"].lower())
    timings = {"process start-up": wall - feedback["execution_time"], **feedback["timings"]}
    return {"wall": wall, "score": feedback["score"], "max_score": feedback["max_score"],
            "timings": timings, "training_test": training, **feedback["resources"]}


WARM_JOB = """
import json, sys, tempfile, time
from pathlib import Path
from autograder.engine.config import load_config
from autograder.engine.grade import fork_server, grade
config = load_config()
walls = []
with fork_server(config) as server:
    for _ in range(int(sys.argv[2]) + 1):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            result = grade(sys.argv[1], out, config, server=server)
            walls.append(time.perf_counter() - started)
print(json.dumps({"walls": walls[1:], "score": result.score}))
"""


def grade_warm(submission: Path, runs: int) -> dict:
    """``runs`` grades in one grading job after a warm-up grade, as grade-all's jobs do."""
    done = subprocess.run([sys.executable, "-c", WARM_JOB, str(submission), str(runs)], cwd=ROOT,
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def execute_notebook_once(notebook: Path) -> float:
    """The baseline: the whole notebook through a real kernel, top to bottom."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    env_quick = os.environ.pop("CNN_WEEK1_QUICK", None)  # the baseline trains as the lesson says
    try:
        started = time.perf_counter()
        NotebookClient(nb, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(notebook.parent)}}).execute()
        return time.perf_counter() - started
    finally:
        if env_quick is not None:
            os.environ["CNN_WEEK1_QUICK"] = env_quick


def syntax_error_submission(folder: Path) -> Path:
    """The release notebook with every solution cell's code broken."""
    nb = json.loads(RELEASE_NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell["source"] = "def broken(:\n    return ]\n"
    path = folder / "syntax_everywhere.ipynb"
    path.write_text(json.dumps(nb))
    return path


def large_output_submission(folder: Path, megabytes: int = 50) -> Path:
    """The solution notebook carrying ``megabytes`` of cell outputs, as a student's may after printing."""
    nb = json.loads(SOURCE_NOTEBOOK.read_text())
    chunk = "x" * 1000 + "\n"
    code_cells = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    per_cell = megabytes * 1000 // len(code_cells)
    for cell in code_cells:
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [chunk] * per_cell}]
    path = folder / f"outputs_{megabytes}mb.ipynb"
    path.write_text(json.dumps(nb))
    return path


MACHINE_SPEED = """
import importlib.util, sys, types, torch
sys.path.insert(0, "autograder/assignments/cnn_week1/worker")  # imported flat, as in the sandbox
import tasks
from autograder.engine.config import load_config
from autograder.assignments.cnn_week1 import replay
from autograder.assignments.cnn_week1.data import training_arrays
torch.set_num_threads(1)
config = load_config()
spec = importlib.util.spec_from_file_location("solution", "solutions/cnn_week1.py")
solution = importlib.util.module_from_spec(spec)
spec.loader.exec_module(solution)
folder = training_arrays(config)["train-images.npy"].parent
report = tasks.train_budget({"train_one_epoch": solution.train_one_epoch},
                            replay.seeded_run(config.training, 0).payload(config.training, 1),
                            types.SimpleNamespace(data_dir=str(folder)))
print(sum(report["seconds"]))
"""


def machine_speed() -> float:
    """Seconds the worker's train_budget task takes with the reference loop on one thread, outside any
    sandbox: the gate's training alone, this machine's speed now (it drifts by 2x within a day here),
    the floor of a full grade (everything else overlaps it) and the yardstick to compare runs by."""
    done = subprocess.run([sys.executable, "-c", MACHINE_SPEED], cwd=ROOT, check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="grades per submission (default 5)")
    parser.add_argument("--baseline-runs", type=int, default=3, help="whole-notebook executions (default 3)")
    args = parser.parse_args()
    if os.environ.get("CNN_MNIST_DIR"):  # the baseline's kernel runs in the notebook's folder
        os.environ["CNN_MNIST_DIR"] = str(Path(os.environ["CNN_MNIST_DIR"]).resolve())

    report: dict = {"machine": {"cores": os.cpu_count(), "python": sys.version.split()[0],
                                "gate_training_alone_seconds": [machine_speed()]}}
    full = [grade_once(REFERENCE) for _ in range(args.runs)]
    report["full_grade"] = {
        "wall": spread([run["wall"] for run in full]),
        "score": f"{full[0]['score']:g}/{full[0]['max_score']:g}",
        "median_split": {key: statistics.median(run["timings"].get(key, 0.0) for run in full)
                         for key in full[0]["timings"]},
        "training_test_seconds": statistics.median(run["training_test"] for run in full),
        "grader_peak_rss_mb": max(run.get("grader_peak_rss_mb", 0) for run in full),
        "worker_peak_rss_mb": max(run.get("worker_peak_rss_mb", 0) for run in full),
    }
    warm = grade_warm(REFERENCE, args.runs)
    report["warm_grade"] = {"wall": spread(warm["walls"]), "score": f"{warm['score']:g}/{full[0]['max_score']:g}"}
    with tempfile.TemporaryDirectory() as folder:
        broken = syntax_error_submission(Path(folder))
        large = large_output_submission(Path(folder))
        for name, path in (("untouched_release", RELEASE_NOTEBOOK), ("syntax_error_everywhere", broken),
                           ("solution_notebook_with_50mb_outputs", large)):
            runs = [grade_once(path) for _ in range(args.runs)]
            report[name] = {"wall": spread([run["wall"] for run in runs]),
                            "score": f"{runs[0]['score']:g}/{runs[0]['max_score']:g}"}
    baseline = [execute_notebook_once(SOURCE_NOTEBOOK) for _ in range(args.baseline_runs)]
    report["baseline_whole_notebook"] = {"wall": spread(baseline)}
    report["speedup_vs_baseline"] = (report["baseline_whole_notebook"]["wall"]["median"]
                                     / report["full_grade"]["wall"]["median"])
    report["warm_speedup_vs_baseline"] = (report["baseline_whole_notebook"]["wall"]["median"]
                                          / report["warm_grade"]["wall"]["median"])

    report["machine"]["gate_training_alone_seconds"].append(machine_speed())  # at the end too: it drifts
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "grade_one.json").write_text(json.dumps(report, indent=2))
    print(f"{'what':<34}{'median s':>10}{'min':>8}{'max':>8}  runs  score")
    for name in ("full_grade", "warm_grade", "solution_notebook_with_50mb_outputs", "untouched_release",
                 "syntax_error_everywhere", "baseline_whole_notebook"):
        wall = report[name]["wall"]
        print(f"{name:<34}{wall['median']:>10.2f}{wall['min']:>8.2f}{wall['max']:>8.2f}  {wall['runs']:>4}  "
              f"{report[name].get('score', '')}")
    print(f"speed-up of a full grade over whole-notebook execution: {report['speedup_vs_baseline']:.1f}x cold, "
          f"{report['warm_speedup_vs_baseline']:.1f}x inside a warm job")
    print("median split of a full grade (s): " + ", ".join(
        f"{k} {v:.2f}" for k, v in report["full_grade"]["median_split"].items()))
    print(f"peak RSS: grader {report['full_grade']['grader_peak_rss_mb']:.0f} MB, "
          f"worker {report['full_grade']['worker_peak_rss_mb']:.0f} MB")
    print("the gate's training alone (the worker's task, reference loop, 1 thread, no sandbox), before and "
          "after: " + " and ".join(f"{s:.2f} s" for s in report["machine"]["gate_training_alone_seconds"]))
    print(f"wrote {RESULTS / 'grade_one.json'}")


if __name__ == "__main__":
    main()
