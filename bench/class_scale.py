"""How grade-all scales on this machine: N submissions graded with --jobs 1 and with --jobs 2.

For each setting: wall time, throughput (submissions per minute), peak memory (the largest sum
over grade-all and all its descendants, sampled from /proc every 0.2 s, and that sum per job, of
PSS, the memory really in use, and of RSS, which counts the pages workers share with their
fork-server once per worker)
and the largest single process (ru_maxrss of the children). With --baseline-runs, the whole
solution notebook is also executed by a Jupyter kernel in the same session (what nbgrader's
autograde and otter-grader do per submission), for comparison. Prints the figures and writes
bench/results/class_scale.json.

    CNN_MNIST_DIR=/work/shared/datasets/mnist .venv/bin/python bench/class_scale.py --n 100 --baseline-runs 1

By default the accuracy gate trains on 6,000 images (as tests/test_class_workflow.py does);
--full uses grading.toml unchanged (60,000 images: much slower).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.engine.extract import module_cells  # noqa: E402
from autograder.engine.notebook import cells_by_grade_id  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack += children.get(pid, [])
    return found


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def pss_bytes(pids: list[int]) -> int:
    """Proportional set size: each shared page counted once over the processes that share it (the
    workers share torch's pages with their fork-server), so the sum is the memory really in use."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (OSError, IndexError, ValueError):
            pass
    return total


def make_class(course: Path, n: int) -> None:
    release_notebook = REPO / "release" / "cnn_week1" / "cnn_week1.ipynb"
    solution = (REPO / "solutions" / "cnn_week1.py").read_text()
    if release_notebook.is_file():  # real notebooks: the reference code in the release's solution cells
        code = module_cells(solution)
        notebook = json.loads(release_notebook.read_text())
        for name, cell in cells_by_grade_id(notebook).items():
            if name in code and name != "imports":
                cell["source"] = code[name]
        data, name = json.dumps(notebook).encode(), "cnn_week1.ipynb"
    else:
        data, name = solution.encode(), "cnn_week1.py"
    for i in range(n):
        folder = course / "submitted" / f"s{i:03d}" / "cnn_week1"
        folder.mkdir(parents=True)
        (folder / name).write_bytes(data)


def run(jobs: int, n: int, config: Path, scratch: Path) -> dict:
    course = scratch / f"jobs{jobs}"
    make_class(course, n)
    command = [sys.executable, "-m", "autograder", "--config", str(config), "grade-all", "--jobs", str(jobs),
               "--course", str(course)]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = peak_pss = 0
    while process.poll() is None:
        pids = descendants(process.pid)
        peak, peak_pss = max(peak, rss_bytes(pids)), max(peak_pss, pss_bytes(pids))
        time.sleep(0.2)
    wall = time.monotonic() - started
    rows = json.loads((course / "cnnkit" / "graded" / "manifest.json").read_text())["students"]
    return {"jobs": jobs, "submissions": n, "exit": process.returncode, "wall_seconds": round(wall, 1),
            "per_submission_seconds": round(wall / n, 2), "throughput_per_minute": round(60 * n / wall, 2),
            "peak_rss_sum_mb": round(peak / 2**20), "peak_rss_per_job_mb": round(peak / 2**20 / jobs),
            "peak_pss_sum_mb": round(peak_pss / 2**20), "peak_pss_per_job_mb": round(peak_pss / 2**20 / jobs),
            "graded_full_marks": sum(r.get("score") == r.get("max_score") for r in rows.values()),
            "rows": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=30, help="submissions per run (default 30)")
    parser.add_argument("--full", action="store_true", help="use grading.toml unchanged (30,000 training images)")
    parser.add_argument("--baseline-runs", type=int, default=0,
                        help="also execute the whole solution notebook this many times (default 0)")
    args = parser.parse_args()
    if os.environ.get("CNN_MNIST_DIR"):  # the notebook baseline runs in another folder: a relative path would break
        os.environ["CNN_MNIST_DIR"] = str(Path(os.environ["CNN_MNIST_DIR"]).resolve())
    scratch = Path(tempfile.mkdtemp(prefix="cnn-class-scale-"))
    try:
        config = scratch / "grading.toml"
        text = (REPO / "grading.toml").read_text()
        if not args.full:
            text = re.sub(r"(?m)^train_samples = .*$", "train_samples = 6000", text)
            text = re.sub(r"(?m)^min_accuracy = .*$", "min_accuracy = 60.0", text)
        config.write_text(text)
        results = []
        for jobs in (1, 2):
            results.append(run(jobs, args.n, config, scratch))
            print(json.dumps(results[-1]), flush=True)  # kept in the log if a later step fails
        from grade_one import SOURCE_NOTEBOOK, execute_notebook_once, spread

        baseline = [execute_notebook_once(SOURCE_NOTEBOOK) for _ in range(args.baseline_runs)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = {
        "machine": {"cores": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "training_samples": "grading.toml" if args.full else 6000,
        "runs": results,
        "baseline_whole_notebook_seconds": spread(baseline) if baseline else None,
        "throughput_ratio_jobs2_over_jobs1": round(results[1]["throughput_per_minute"] / results[0]["throughput_per_minute"], 2),
        "max_child_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }
    out = REPO / "bench" / "results" / "class_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
