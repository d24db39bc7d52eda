"""End to end, as an instructor with a class: release → collect → grade-all (interrupted, resumed) → export.

A class of 30 students is generated from the real release notebook: copies of the reference
solution (its code put into the release notebook's solution cells), a .py submission, buggy and
hostile variants, late submissions (times in the LMS file names), a duplicate, a corrupt zip, a
non-notebook file and a stray file no student can be matched to.

Cost: about 30 grades. To keep CI time sane the run uses a test-only copy of grading.toml (passed
with the global --config) whose accuracy gate trains on 6,000 MNIST images instead of 60,000, with
min_accuracy lowered to 60 % to match (the reference reaches about 77 % on that budget; 97 % on the full one); every other setting is the real one.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder.engine.extract import module_cells
from autograder.engine.notebook import code_cells, grade_id
from test_export import nbgrader_export

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "cnn_week1"
DUE_OK = 1_765_000_000  # 2025-12-06: well before the due date, as a file time
REFERENCES = [f"ref{i:02d}" for i in range(1, 20)]
LATE = {  # student -> (time in the file name, expected share of the score kept)
    "late1": ("2026-12-12-10-00-00", 0.9),   # 10 h late: day one, 10 %
    "late3": ("2026-12-14-12-00-00", 0.7),   # 2 days 12 h late: day three, 30 %
    "late9": ("2026-12-21-00-00-00", 0.0),   # more than 7 days: zero
}


def kit(*args: str, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def fast_config(path: Path) -> Path:
    text = (REPO / "grading.toml").read_text()
    text, samples = re.subn(r"(?m)^train_samples = .*$", "train_samples = 6000", text)
    text, accuracy = re.subn(r"(?m)^min_accuracy = .*$", "min_accuracy = 60.0", text)
    assert samples == accuracy == 1, "grading.toml's [training] layout changed: update fast_config"
    path.write_text(text)
    return path


def solution_cells() -> dict[str, str]:
    """grade_id -> code, from solutions/cnn_week1.py's ``# --- cell NAME ---`` sections."""
    cells = module_cells((REPO / "solutions" / f"{ASSIGNMENT}.py").read_text())
    return {name: code.rstrip() + "\n" for name, code in cells.items()}


def notebook_with(release_notebook: Path, replace: dict[str, str]) -> bytes:
    notebook = json.loads(release_notebook.read_text())
    for cell in code_cells(notebook):
        if grade_id(cell) in replace:
            cell["source"] = replace[grade_id(cell)]
    return json.dumps(notebook, indent=1).encode()


def tree_hashes(folder: Path) -> dict[str, tuple[str, float]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def make_downloads(folder: Path, release_notebook: Path) -> dict[str, str]:
    """The LMS download folder; returns student -> kind of submission."""
    folder.mkdir()
    cells = solution_cells()
    graded = {k: v for k, v in cells.items() if k != "imports"}
    reference = notebook_with(release_notebook, graded)
    flipped = dict(graded, conv2d_single=graded["conv2d_single"] + (
        "\n_correct_conv2d_single = conv2d_single\n\n"
        "def conv2d_single(image, kernel, stride=1, padding=0):\n"
        "    return _correct_conv2d_single(image, torch.flip(kernel, dims=(0, 1)), stride, padding)\n"))
    hostile = dict(graded, conv2d_single="import os\nos._exit(3)\n")
    kinds, files = {}, {}
    for student in REFERENCES:
        files[f"{student}_{ASSIGNMENT}.ipynb"], kinds[student] = reference, "reference"
    for student, (stamp, _) in LATE.items():
        files[f"{ASSIGNMENT}_{student}_attempt_{stamp}.ipynb"], kinds[student] = reference, "late"
    files[f"pyref_{ASSIGNMENT}.py"], kinds["pyref"] = (REPO / "solutions" / f"{ASSIGNMENT}.py").read_bytes(), "reference"
    files[f"stub_{ASSIGNMENT}.ipynb"], kinds["stub"] = release_notebook.read_bytes(), "stub"
    files[f"flipped_{ASSIGNMENT}.ipynb"], kinds["flipped"] = notebook_with(release_notebook, flipped), "flipped"
    files[f"exiter_{ASSIGNMENT}.ipynb"], kinds["exiter"] = notebook_with(release_notebook, hostile), "hostile"
    files[f"badjson_{ASSIGNMENT}.ipynb"], kinds["badjson"] = b'{"cells": [ {"cell_type": "code", "sou', "corrupt"
    files[f"zipper_{ASSIGNMENT}.zip"], kinds["zipper"] = b"PK\x03\x04\x14\x00garbage, not a zip archive", "not_notebook"
    files[f"pdfer_{ASSIGNMENT}.pdf"], kinds["pdfer"] = b"%PDF-1.4\n%binary\n", "not_notebook"
    # a duplicate: the stub first, the finished notebook a day later; the later one counts
    files[f"{ASSIGNMENT}_dup_attempt_2026-12-05-10-00-00.ipynb"] = release_notebook.read_bytes()
    files[f"{ASSIGNMENT}_dup_attempt_2026-12-06-10-00-00.ipynb"], kinds["dup"] = reference, "reference"
    files["README.txt"] = b"a file no student id can be read from"
    nested = [f"{student}_{ASSIGNMENT}.ipynb" for student in REFERENCES[-4:]]  # part of the class in a zip
    with zipfile.ZipFile(folder / "lms_part2.zip", "w") as bundle:
        for name in nested:
            bundle.writestr(zipfile.ZipInfo(f"part2/{name}", (2025, 12, 6, 12, 0, 0)), files.pop(name))
    for name, data in files.items():
        (folder / name).write_bytes(data)
        os.utime(folder / name, (DUE_OK, DUE_OK))
    return kinds


def manifest_rows(course: Path) -> dict:
    try:
        return json.loads((course / "cnnkit" / "graded" / "manifest.json").read_text())["students"]
    except (OSError, ValueError, KeyError):
        return {}


def grader_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.slow
def test_a_class_from_release_to_gradebook(tmp_path, mnist_dir):
    env = dict(os.environ, CNN_MNIST_DIR=str(mnist_dir))
    config = fast_config(tmp_path / "grading-fast.toml")
    course, downloads = tmp_path / "course", tmp_path / "downloads"
    course.mkdir()
    started = time.monotonic()

    # 1. release: generated with nbgrader, then proved (reference full marks, stubs zero, no leak)
    done = kit("--config", str(config), "release", "--release-dir", str(tmp_path / "release"),
               "--zip", str(tmp_path / "release.zip"), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Release checked: ready for students." in done.stdout
    release_notebook = tmp_path / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    with zipfile.ZipFile(tmp_path / "release.zip") as bundle:
        assert f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb" in bundle.namelist()
        assert not any("solution" in name.lower() for name in bundle.namelist())

    # 2. collect from the LMS download folder (with a zip inside it)
    kinds = make_downloads(downloads, release_notebook)
    assert len(kinds) == 30
    originals = tree_hashes(downloads)
    done = kit("collect", "--downloads", str(downloads), "--course", str(course))
    assert done.returncode == 0, done.stderr
    report = json.loads((course / "cnnkit" / f"collect-{ASSIGNMENT}.json").read_text())[-1]  # runs appended
    assert sorted(item["student"] for item in report["collected"]) == sorted(kinds)
    assert [Path(item["source"]).name for item in report["unmatched"]] == ["README.txt"]
    assert [Path(item["source"]).name for item in report["superseded"]] == [f"{ASSIGNMENT}_dup_attempt_2026-12-05-10-00-00.ipynb"]
    assert "README.txt" in done.stdout  # the stray file is printed, not only written
    copied = course / "submitted" / "ref01" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert copied.read_bytes() == (downloads / f"ref01_{ASSIGNMENT}.ipynb").read_bytes()
    assert copied.stat().st_mtime == DUE_OK

    # 3. grade-all, interrupted with SIGINT after a few submissions, then resumed
    command = [sys.executable, "-m", "autograder", "--config", str(config), "grade-all", "--jobs", "2",
               "--course", str(course)]
    with open(tmp_path / "first.err", "w") as err:
        first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 600
        while sum(row["status"] == "graded" for row in manifest_rows(course).values()) < 3:
            assert first.poll() is None and time.monotonic() < deadline, "grade-all ended or stalled before 3 grades"
            time.sleep(0.5)
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 130
    before = manifest_rows(course)
    assert 3 <= len(before) < len(kinds), "the interrupt should stop the batch partway"
    assert not list((course / "cnnkit" / "graded" / ".work").glob("*")), "interrupted jobs left work behind"
    assert grader_processes(str(course / "cnnkit" / "graded")) == [], "running jobs were not killed"
    for student in before:  # what was finished is complete on disk
        assert (course / "cnnkit" / "graded" / student / ASSIGNMENT / "results.json").is_file()

    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"({len(before)} unchanged, kept)" in done.stderr
    rows = manifest_rows(course)
    assert sorted(rows) == sorted(kinds)  # exactly one row per student
    for student, row in before.items():
        assert rows[student]["graded_at"] == row["graded_at"], f"{student} was graded twice"
    assert "[" in done.stderr and "ETA" in done.stderr  # the progress lines

    # re-grade one part of one student: merged into the previous results, same score
    flipped_before = rows["flipped"]["score"]
    done = kit("--config", str(config), "grade-all", "--course", str(course), "--student", "flipped",
               "--part", "manual_conv", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert manifest_rows(course)["flipped"]["score"] == pytest.approx(flipped_before, abs=0.01)
    assert manifest_rows(course)["ref01"]["graded_at"] == rows["ref01"]["graded_at"]

    # 4. export: CSV, per-student files, nbgrader's gradebook
    done = kit("--config", str(config), "export", "--course", str(course), "--out", str(course / "export"))
    assert done.returncode == 0, done.stderr
    with open(course / "export" / "grades.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert sorted(row["student_id"] for row in table) == sorted(kinds)  # one row each, none lost
    full = 100.0
    parts = ["manual_conv", "output_size", "pooling", "simple_cnn", "training_loop", "feature_maps"]
    for row in table:
        student, kind = row["student_id"], kinds[row["student_id"]]
        results = json.loads((course / "cnnkit" / "graded" / student / ASSIGNMENT / "results.json").read_text())
        # the CSV total is the sum of the part scores (as nbgrader gets them); results.json's score is
        # summed before its per-test rounding to 4 places: equal to the cent
        assert float(row["total"]) == pytest.approx(results["score"], abs=0.01), student
        assert float(row["total"]) == pytest.approx(sum(float(row[p]) for p in parts)), student
        assert float(row["max_score"]) == full
        assert (course / "export" / student / "results.json").is_file()
        if kind == "reference":
            assert (float(row["final_score"]), row["late"]) == (full, "no"), (student, row)
        elif kind == "late":
            share = LATE[student][1]
            assert float(row["total"]) == full and row["late"] == "yes"
            assert float(row["final_score"]) == pytest.approx(full * share), (student, row)
        elif kind == "stub":  # the untouched release: every test fails, each saying why in results.json
            assert float(row["final_score"]) == 0.0, (student, row)
            assert all(t["status"] == "failed" and t["output"] for t in results["tests"])
        elif kind in ("corrupt", "not_notebook"):  # nothing gradable: the row itself says why
            assert float(row["final_score"]) == 0.0, (student, row)
            assert row["reason"], f"{student}: a zero needs a reason"
        elif kind in ("flipped", "hostile"):
            assert 0 < float(row["final_score"]) < full and float(row["manual_conv"]) < 30, (student, row)
    statuses = {row["student_id"]: row["status"] for row in table}
    assert statuses["zipper"] == statuses["pdfer"] == "not_a_notebook"
    assert statuses["badjson"] == "graded"  # a damaged notebook is graded (zero, with the reason)
    theirs = nbgrader_export(course, course / "gradebook.db", tmp_path / "nbgrader.csv")
    assert sorted(theirs) == sorted(kinds)
    for row in table:
        assert float(theirs[row["student_id"]]["score"]) == pytest.approx(float(row["final_score"]))
        assert float(theirs[row["student_id"]]["raw_score"]) == pytest.approx(float(row["total"]))

    # 5. statistics
    done = kit("--config", str(config), "stats", "--course", str(course), "--out", str(course / "export"))
    assert done.returncode == 0, done.stderr
    assert (course / "export" / "score_histograms.png").stat().st_size > 1000
    assert "30 student(s)" in done.stdout

    # nothing any student handed in was changed
    assert tree_hashes(downloads) == originals
    print(f"class workflow: {time.monotonic() - started:.0f} s")


@pytest.mark.slow
def test_gradescope_zip_grades_the_reference_in_a_gradescope_layout(tmp_path, mnist_dir):
    config = fast_config(tmp_path / "grading-fast.toml")
    done = kit("--config", str(config), "gradescope", "--out", str(tmp_path / "autograder.zip"), "--with-mnist",
               env=dict(os.environ, CNN_MNIST_DIR=str(mnist_dir)))
    assert done.returncode == 0, done.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(tmp_path / "autograder.zip") as bundle:
        names = bundle.namelist()
        bundle.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "grading.toml", "requirements.txt"} <= set(names)
    notebooks = [name for name in names if name.endswith(".ipynb")]
    assert notebooks == ["release/cnn_week1/cnn_week1.ipynb"], "only the student release may ship (answers never)"
    with zipfile.ZipFile(tmp_path / "autograder.zip") as bundle:
        assert "BEGIN SOLUTION" not in bundle.read(notebooks[0]).decode()
    assert "torch==2.14.1" in (root / "source" / "requirements.txt").read_text()
    assert "bubblewrap" in (root / "source" / "setup.sh").read_text()
    assert all(f"mnist/{n}" in names for n in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))
    (root / "submission").mkdir()
    (root / "submission" / "my_work.py").write_bytes((REPO / "solutions" / f"{ASSIGNMENT}.py").read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "CNN_MNIST_DIR"}  # the zip's own MNIST copy is used
    env.update(AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == results["max_score"] == 100.0, [t["name"] for t in results["tests"] if t["status"] != "passed"]
