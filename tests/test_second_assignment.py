"""A second assignment proves the engine knows no assignment (issue 13, item 4).

tests/assignments/tiny_stats/ (five list functions in two parts, one hand-written under forbidden
routines, hidden tests, its own [smoothing] setting, a data file its worker task reads) goes through
the kit's own commands, as an instructor would run them, from a copy in a temporary folder:
export-solutions → release (nbgrader; the reference must score full marks, the stubs zero) → grade
→ collect --downloads → grade-all → export. The commands run on a copy of the autograder package
with week 1 deleted and without MNIST, so nothing here can lean on week 1.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "tests" / "assignments" / "tiny_stats"
NAME = "tiny_stats"
HIDDEN_TEXT = "This hidden test did not pass. Its inputs and expected values are not shown."
BEFORE_DUE = 1_765_000_000  # 2025-12-06, as a file time (due: 2026-01-01T00:00:00+00:00)

# Wrong cells (grade_id -> code) put into the release notebook; what each costs is in EXPECTED.
BUGGY = {
    "mean": "def mean(values):\n    if not values:\n        raise ValueError('empty')\n    return sum(values) / len(values)\n",
    "variance": ("def variance(values, ddof=0):\n    if len(values) <= ddof:\n        raise ValueError('too few')\n"
                 "    centre = mean(values)\n    return sum((x - centre) ** 2 for x in values) / len(values)  # ddof ignored\n"),
    "moving_average": ("def moving_average(values, window):\n    if window < 1 or window > len(values):\n"
                       "        raise ValueError('window')\n"
                       "    return [sum(values[i:i + window]) / window for i in range(len(values) - window)]  # one short\n"),
}
CONVOLVER = {  # right values, but with the routine the part forbids
    "moving_average": ("def moving_average(values, window):\n    if window < 1 or window > len(values):\n"
                       "        raise ValueError('window')\n"
                       "    return np.convolve(values, np.ones(window) / window, mode='valid').tolist()\n"),
}
# student -> (summaries, smoothing, final score after the late policy, status)
EXPECTED = {
    "ref": (10.0, 10.0, 20.0, "graded"),
    "stubs": (0.0, 0.0, 0.0, "graded"),
    "buggy": (6.0, 4.54, 10.54, "graded"),  # variance and moving_average tests, visible and hidden, fail
    "convolver": (10.0, 4.54, 14.54, "graded"),  # every manual call refused; the data-file task is not manual
    "pyfile": (10.0, 10.0, 20.0, "graded"),  # the exported solution as a .py submission
    "late1": (10.0, 10.0, 18.0, "graded"),  # 10 hours late: 10 %
    "notes": (0.0, 0.0, 0.0, "not_a_notebook"),
}


def kit(course, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``python -m autograder --config <course>/grading.toml ARGS`` on the week-1-less copy of the kit."""
    env = {key: value for key, value in os.environ.items() if key not in ("CNN_MNIST_DIR", "CNN_KIT_CONFIG")}
    done = subprocess.run([sys.executable, "-m", "autograder", "--config", str(course.config), *args],
                          cwd=course.kit, env=env, capture_output=True, text=True, timeout=timeout)
    return done


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> SimpleNamespace:
    """The example copied as a course folder, its solutions exported and its release generated and checked."""
    base = tmp_path_factory.mktemp("second_assignment")
    kit_root = base / "kit"  # the kit's package without week 1: the commands cannot use it
    shutil.copytree(REPO / "autograder", kit_root / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__", "cnn_week1"))
    root = base / NAME
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "release", "solutions", "submitted",
                                                                 "cnnkit", "export", "gradebook.db"))
    course = SimpleNamespace(root=root, config=root / "grading.toml", kit=kit_root)
    where = subprocess.run([sys.executable, "-c", "import autograder; print(autograder.__file__)"], cwd=kit_root,
                           capture_output=True, text=True, timeout=60).stdout.strip()
    assert where == str(kit_root / "autograder" / "__init__.py")  # `-m autograder` runs the copy
    assert not (kit_root / "autograder" / "assignments" / "cnn_week1").exists()
    assert "Wrote" in ok(kit(course, "export-solutions"))
    course.release = kit(course, "release")
    return course


def solution_cells(root: Path) -> dict[str, str]:
    """grade_id -> code, from the exported solutions/<name>.py's ``# --- cell NAME ---`` sections."""
    sections = re.split(r"(?m)^# --- cell (\S+) ---\n", (root / "solutions" / f"{NAME}.py").read_text())
    return {sections[i]: sections[i + 1].rstrip() + "\n" for i in range(1, len(sections), 2)}


def notebook_with(release_notebook: Path, cells: dict[str, str]) -> str:
    """The student's release notebook with the code of some solution cells replaced."""
    notebook = json.loads(release_notebook.read_text())
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in cells and cell["cell_type"] == "code":
            cell["source"] = cells[grade_id]
    return json.dumps(notebook, indent=1)


def test_export_solutions_and_release(course):
    """The reference comes from the source notebook; the release is nbgrader's, proven full marks / zero."""
    solutions = (course.root / "solutions" / f"{NAME}.py").read_text()
    assert "def moving_average" in solutions and "BEGIN SOLUTION" not in solutions
    report = ok(course.release)
    assert "PASS  the reference score full marks: 20 / 20" in report
    assert "PASS  the stubs score zero marks: 0 / 20" in report
    assert "Release checked: ready for students." in report
    released = course.root / "release" / NAME
    assert sorted(p.name for p in released.iterdir()) == [f"{NAME}.ipynb"]
    cells = json.loads((released / f"{NAME}.ipynb").read_text())["cells"]
    by_id = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in cells if "nbgrader" in c["metadata"]}
    assert by_id["imports"] == "import math\n\nimport numpy as np"
    assert "raise NotImplementedError()" in by_id["moving_average"] and "total += x" not in by_id["moving_average"]


def test_grade_a_buggy_submission(course, tmp_path):
    """Partial marks; a failed hidden test says only the generic reason, a visible one says why."""
    submission = tmp_path / f"{NAME}.ipynb"
    submission.write_text(notebook_with(course.root / "release" / NAME / f"{NAME}.ipynb",
                                        {**solution_cells(course.root), **BUGGY}))
    ok(kit(course, "grade", str(submission), "--out", str(tmp_path / "out"), "--quiet"))
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (results["score"], results["max_score"]) == (EXPECTED["buggy"][2], 20.0)
    tests = {test["name"]: test for test in results["tests"]}
    hidden = tests["moving_average on random lists and windows"]
    assert hidden["score"] == 0 and hidden["output"] == HIDDEN_TEXT
    assert tests["mean, variance and normalise on random lists"]["output"] == HIDDEN_TEXT
    visible = tests["moving_average gives the mean of every window of consecutive values"]["output"]
    assert "returned 5 numbers, expected 6" in visible and "the last window seems left out" in visible
    assert "divided by n whatever ddof is" in tests["variance divides by n - ddof (population variance by default)"]["output"]
    assert "random list 1" not in (tmp_path / "out" / "results.json").read_text()
    page = (tmp_path / "out" / "feedback.html").read_text()
    assert "random list 1" not in page and "random list 1" not in (tmp_path / "out" / "feedback.json").read_text()


def test_a_class_collect_grade_all_export(course, tmp_path):
    """collect --downloads → grade-all → export on the example's own course folder: grades.csv as expected."""
    release_notebook = course.root / "release" / NAME / f"{NAME}.ipynb"
    solution = solution_cells(course.root)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    files = {
        f"{NAME}_ref_attempt_2025-12-30-10-00-00.ipynb": notebook_with(release_notebook, solution),
        f"{NAME}_late1_attempt_2026-01-01-10-00-00.ipynb": notebook_with(release_notebook, solution),
        f"stubs_{NAME}.ipynb": release_notebook.read_text(),
        f"buggy_{NAME}.ipynb": notebook_with(release_notebook, {**solution, **BUGGY}),
        f"convolver_{NAME}.ipynb": notebook_with(release_notebook, {**solution, **CONVOLVER}),
        f"pyfile_{NAME}.py": (course.root / "solutions" / f"{NAME}.py").read_text(),
        f"notes_{NAME}.txt": "I could not open the notebook, sorry.\n",
    }
    for name, text in files.items():
        (downloads / name).write_text(text)
        os.utime(downloads / name, (BEFORE_DUE, BEFORE_DUE))
    where = ["--course", str(course.root)]
    assert "Collected 7 submission(s)" in ok(kit(course, "collect", "--downloads", str(downloads), *where))
    assert sorted(p.name for p in (course.root / "submitted").iterdir()) == sorted(EXPECTED)

    graded = ok(kit(course, "grade-all", "--jobs", "1", *where))
    assert "graded 6, zero rows 1, not graded (grader or host fault) 0" in graded, graded
    convolver = json.loads((course.root / "cnnkit" / "graded" / "convolver" / NAME / "results.json").read_text())
    by_hand = next(t for t in convolver["tests"] if t["name"].startswith("moving_average does the work by hand"))
    assert by_hand["score"] == 0 and "convolve" in by_hand["output"]

    ok(kit(course, "export", *where))
    with open(course.root / "export" / NAME / "grades.csv", newline="") as table:
        rows = {row["student_id"]: row for row in csv.DictReader(table)}
    got = {student: (float(row["summaries"]), float(row["smoothing"]), float(row["final_score"]), row["status"])
           for student, row in rows.items()}
    assert got == EXPECTED
    assert rows["late1"]["late"] == "yes" and float(rows["late1"]["penalty_percent"]) == 10.0
    assert "submit the completed tiny_stats.ipynb" in rows["notes"]["reason"]
    assert (course.root / "export" / NAME / "buggy" / "feedback.html").is_file()
