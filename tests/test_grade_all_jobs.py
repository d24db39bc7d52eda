"""grade-all end to end through the CLI with real grading jobs: shards merged equal one run, a part is
merged only into the same file's grade, host faults and dead jobs are never scores, signals leave
nothing running.

Cheap on purpose: the submissions are edits of the reference solution whose ``train_one_epoch``
raises, so no test trains a network (only one test grades the full reference).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import wait_until
from test_class_workflow import fast_config

REPO = Path(__file__).resolve().parents[1]
REFERENCE = (REPO / "solutions" / "cnn_week1.py").read_text()
NO_TRAINING = "\n\ndef train_one_epoch(model, loader, criterion, optimizer, device='cpu'):\n    raise NotImplementedError\n"
BROKEN = {
    "output_size": "\n\ndef conv_output_size(n, f, padding=0, stride=1):\n    return n\n",
    "pooling": "\n\ndef max_pool2d(x, size=2, stride=2):\n    return x\n",
}
VOLATILE = ("graded_at", "attempted_at", "seconds", "execution_time")


def cheap(*broken: str) -> str:
    return REFERENCE + NO_TRAINING + "".join(BROKEN[part] for part in broken)


def make_course(root: Path, submissions: dict[str, tuple[str, str]]) -> Path:
    for student, (name, text) in submissions.items():
        folder = root / "submitted" / student / "cnn_week1"
        folder.mkdir(parents=True)
        (folder / name).write_text(text)
    return root


def kit(config: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "--config", str(config), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def start(config: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autograder", "--config", str(config), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def graded(course: Path) -> Path:
    return course / "cnnkit" / "graded"


def manifest(course: Path, name: str = "manifest.json") -> dict:
    return json.loads((graded(course) / name).read_text())


def stable(rows: dict) -> dict:
    return {student: {k: v for k, v in row.items() if k not in VOLATILE} for student, row in rows.items()}


def descendants(pid: int) -> dict[int, str]:
    """pid -> start time of every process below ``pid`` (the start time tells a reused pid apart)."""
    parents, starts = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)], starts[int(entry.name)] = int(fields[1]), fields[19]
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = starts[child]
                frontier.append(child)
    return found


def alive(processes: dict[int, str]) -> list[int]:
    left = []
    for pid, started in processes.items():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat[19] == started and stat[0] != "Z":
            left.append(pid)
    return left


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture
def env(mnist_dir):
    return dict(os.environ, CNN_MNIST_DIR=str(Path(mnist_dir).resolve()))


@pytest.mark.slow
def test_three_shards_merged_equal_one_run_and_parts_merge_only_into_the_same_file(tmp_path, env):
    config = fast_config(tmp_path / "fast.toml")
    submissions = {"ann": ("cnn_week1.py", cheap()), "ben": ("cnn_week1.py", cheap("output_size")),
                   "cat": ("cnn_week1.py", cheap("pooling")), "dan": ("cnn_week1.py", cheap("output_size", "pooling")),
                   "eve": ("cnn_week1.py", REFERENCE + NO_TRAINING + "\nSimpleCNN = None\n"),
                   "fay": ("cnn_week1.pdf", "%PDF-1.4")}
    whole = make_course(tmp_path / "whole", submissions)
    sharded = make_course(tmp_path / "sharded", submissions)

    shards = [start(config, "grade-all", "--course", str(sharded), "--jobs", "1", "--shard", f"{i}/3", env=env)
              for i in (1, 2, 3)]
    done = kit(config, "grade-all", "--course", str(whole), "--jobs", "1", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    for process in shards:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
    assert not (graded(sharded) / "manifest.json").exists()
    one = manifest(whole)
    assert sorted(one["students"]) == sorted(submissions)
    assert {s: r["status"] for s, r in one["students"].items()} == {**{s: "graded" for s in submissions},
                                                                     "fay": "not_a_notebook"}
    assert one["students"]["ben"]["parts"]["output_size"] < 10 == one["students"]["ann"]["parts"]["output_size"]

    done = kit(config, "merge", "--course", str(sharded), env=env)
    assert done.returncode == 0, done.stderr
    merged = manifest(sharded)
    assert stable(merged["students"]) == stable(one["students"])
    assert {k: v for k, v in merged.items() if k not in ("students", "merged_from")} == \
        {k: v for k, v in one.items() if k != "students"}
    for student in submissions:  # the result files too, apart from timings
        ours, theirs = (json.loads((graded(c) / student / "cnn_week1" / "results.json").read_text())
                        for c in (whole, sharded))
        assert [(t["name"], t["score"]) for t in ours["tests"]] == [(t["name"], t["score"]) for t in theirs["tests"]]

    # cat fixes pooling and breaks output_size: a part re-grade of a new file grades the whole file
    (sharded / "submitted" / "cat" / "cnn_week1" / "cnn_week1.py").write_text(cheap("output_size"))
    done = kit(config, "grade-all", "--course", str(sharded), "--student", "cat", "--part", "output_size", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    cat = manifest(sharded)["students"]["cat"]
    assert cat["parts"]["pooling"] == 10 and cat["parts"]["output_size"] < 10, cat
    # ann unchanged: only output_size is graded again and merged into her result
    before = manifest(sharded)["students"]["ann"]
    done = kit(config, "grade-all", "--course", str(sharded), "--student", "ann", "--part", "output_size", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    after = manifest(sharded)["students"]["ann"]
    assert after["graded_at"] >= before["graded_at"] and stable({"a": after}) == stable({"a": before})
    feedback = json.loads((graded(sharded) / "ann" / "cnn_week1" / "feedback.json").read_text())
    assert {t["part"] for t in feedback["tests"] if t["selected"]} == set(one["students"]["ann"]["parts"])


@pytest.mark.slow
def test_a_wrong_mnist_dir_records_no_score_and_a_fixed_one_grades_everyone(tmp_path, env):
    """A host fault is retried, not kept; once graded, editing only the due date changes nothing."""
    config = fast_config(tmp_path / "fast.toml")
    course = make_course(tmp_path / "course", {"ref": ("cnn_week1.py", REFERENCE)})
    done = kit(config, "grade-all", "--course", str(course), "--jobs", "1",
               env=dict(env, CNN_MNIST_DIR=str(tmp_path / "no-mnist-here")))
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    row = manifest(course)["students"]["ref"]
    assert row["status"] == "error" and "score" not in row and "parts" not in row, row
    assert "no-mnist-here" in done.stderr and "no score was recorded" in done.stderr
    assert not (graded(course) / "ref").exists()  # no result file either

    done = kit(config, "grade-all", "--course", str(course), "--jobs", "1", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "unchanged" in done.stdout and "0 unchanged" not in done.stderr
    row = manifest(course)["students"]["ref"]
    assert (row["status"], row["score"]) == ("graded", 100.0), row

    # a later due date is not a grading setting: nothing is graded again
    text = config.read_text()
    config.write_text(text.replace('due = "2026-12-11T23:59:00+00:00"', 'due = "2026-12-18T23:59:00+00:00"'))
    assert config.read_text() != text
    done = kit(config, "grade-all", "--course", str(course), "--jobs", "1", env=env)
    assert done.returncode == 0 and "unchanged 1" in done.stdout, done.stdout + done.stderr[-3000:]
    assert manifest(course)["students"]["ref"] == row


@pytest.mark.slow
def test_a_dead_job_costs_one_submission_and_a_slow_one_is_stopped(tmp_path, env):
    config = fast_config(tmp_path / "fast.toml")
    course = make_course(tmp_path / "course", {s: ("cnn_week1.py", cheap()) for s in ("ann", "ben", "cat")})
    run = start(config, "grade-all", "--course", str(course), "--jobs", "1", env=env)
    jobs = []
    assert wait_until(lambda: jobs.extend(p for p in descendants(run.pid) if "autograder.classwork.job" in cmdline(p)) or jobs, 60)
    time.sleep(1.0)  # ann's task has been sent: the job is importing or grading
    os.kill(jobs[0], signal.SIGKILL)
    out, err = run.communicate(timeout=600)
    assert run.returncode == 1, err[-3000:]
    rows = manifest(course)["students"]
    assert rows["ann"]["status"] == "error" and "died" in rows["ann"]["reason"] and "score" not in rows["ann"]
    assert rows["ben"]["status"] == rows["cat"]["status"] == "graded"  # a new job graded the rest
    done = kit(config, "grade-all", "--course", str(course), "--jobs", "1", env=env)
    assert done.returncode == 0 and "2 unchanged" in done.stderr, done.stderr[-3000:]
    assert manifest(course)["students"]["ann"]["status"] == "graded"

    run = start(config, "grade-all", "--course", str(course), "--student", "ben", "--timeout", "1", env=env)
    snapshot = {}
    while run.poll() is None:
        snapshot.update(descendants(run.pid))
        time.sleep(0.1)
    assert run.returncode == 1 and "wall limit" in run.stderr.read()
    assert manifest(course)["students"]["ben"]["status"] == "error"
    assert snapshot and wait_until(lambda: not alive(snapshot), 10), [cmdline(p) for p in alive(snapshot)]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_sigterm_and_sighup_stop_everything_and_a_killed_driver_takes_its_jobs_along(tmp_path, env, signum):
    config = fast_config(tmp_path / "fast.toml")
    course = make_course(tmp_path / "course", {s: ("cnn_week1.py", cheap()) for s in ("ann", "ben", "cat", "dan")})
    run = start(config, "grade-all", "--course", str(course), "--jobs", "2", env=env)
    snapshot = {}

    def workers_running() -> bool:
        snapshot.update(descendants(run.pid))
        return sum("zygote" in cmdline(p) for p in snapshot) >= 1

    assert wait_until(workers_running, 120), "no fork-server started"
    assert any("autograder.classwork.job" in cmdline(p) for p in snapshot)
    run.send_signal(signum)
    out, err = run.communicate(timeout=60)
    assert wait_until(lambda: not alive(snapshot), 10), [cmdline(p) for p in alive(snapshot)]
    if signum == signal.SIGKILL:  # no clean-up possible: the jobs die with their parent (PR_SET_PDEATHSIG)
        assert run.returncode == -signal.SIGKILL
        return
    assert run.returncode == 128 + signum and "interrupted" in out, err[-3000:]
    assert not (graded(course) / ".work").exists()
    rows = manifest(course)["students"] if (graded(course) / "manifest.json").exists() else {}
    for student, row in rows.items():  # whatever finished is complete on disk
        assert row["status"] == "graded" and (graded(course) / student / "cnn_week1" / "results.json").is_file()
