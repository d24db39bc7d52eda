"""export: the CSV gradebook and nbgrader's gradebook say the same thing."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import json

from autograder.classwork.batch import digests
from autograder.engine.config import KIT_ROOT, load_config
from autograder.classwork.export import export_grades
from autograder.classwork.layout import Course
from autograder.engine.files import sha256_file
from autograder.classwork.nbgrader_run import nbgrader_command, nbgrader_env
from autograder.engine.results import write_json_atomic
from autograder.classwork.stats import class_stats
from week1 import week1_course


def nbgrader_export(course_root: Path, db: Path, out: Path) -> dict[str, dict]:
    """Run the real ``nbgrader export`` and read its CSV, keyed by student id."""
    subprocess.run(nbgrader_command("export", f"--CourseDirectory.root={course_root}",
                                    f"--CourseDirectory.db_url=sqlite:///{db}", f"--CsvExportPlugin.to={out}"),
                   cwd=course_root, env=nbgrader_env(), check=True, capture_output=True)
    with open(out, newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _fake_class(root: Path, config) -> Course:
    course = week1_course(root)
    rows = {"ann": (100.0, None), "ben": (50.0, "2026-12-13 00:00:00.000000 UTC"), "cat": (80.0, "2026-12-30 00:00:00.000000 UTC")}
    manifest = {"assignment": "cnn_week1", "students": {}}
    for student, (score, stamp) in rows.items():
        folder = course.submission_dir(student)
        folder.mkdir(parents=True)
        (folder / "cnn_week1.ipynb").write_text("{}")
        if stamp:
            (folder / "timestamp.txt").write_text(stamp)
        share = score / config.max_score
        parts = {key: round(part.points * share, 4) for key, part in config.parts.items()}
        manifest["students"][student] = {"status": "graded", "reason": "", "score": score, "max_score": config.max_score,
                                         "parts": parts, "sha256": sha256_file(folder / "cnn_week1.ipynb"),
                                         **digests(config)}
        course.graded_dir(student).mkdir(parents=True)
        write_json_atomic(course.graded_dir(student) / "results.json", {"score": score, "tests": []})
        (course.graded_dir(student) / "feedback.html").write_text(f"<html><body><h1>Your score: {score:g}</h1></body></html>")
    course.autograded.mkdir(exist_ok=True)
    write_json_atomic(course.manifest, manifest)
    return course


def test_csv_and_nbgrader_gradebook_agree(tmp_path, monkeypatch):
    config = load_config()
    course = _fake_class(tmp_path / "course", config)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no venv on PATH: nbgrader still finds its `alembic`
    exported = export_grades(course, config, tmp_path / "out")
    assert os.environ["PATH"] == "/usr/bin:/bin"  # and this process's PATH is left as it was
    with open(exported.csv, newline="") as handle:
        ours = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(ours) == {"ann", "ben", "cat"}
    assert (ours["ann"]["late"], float(ours["ann"]["final_score"])) == ("no", 100.0)
    # due 2026-12-11 23:59 UTC: ben is 1 day and 1 minute late (2 started days: 20 %), cat more than 7 days late (zero)
    assert (ours["ben"]["days_late"], float(ours["ben"]["penalty_percent"]), float(ours["ben"]["final_score"])) == ("2", 20.0, 40.0)
    assert float(ours["cat"]["final_score"]) == 0.0 and ours["cat"]["late"] == "yes"
    assert (tmp_path / "out" / "ben" / "feedback.html").is_file()

    export_grades(course, config, tmp_path / "out")  # twice: idempotent, no duplicate submissions
    theirs = nbgrader_export(course.root, course.root / "gradebook.db", tmp_path / "nbgrader.csv")
    assert set(theirs) == set(ours)
    for student, row in ours.items():
        assert float(theirs[student]["raw_score"]) == float(row["total"])
        assert float(theirs[student]["score"]) == float(row["final_score"])
        assert float(theirs[student]["max_score"]) == config.max_score
        assert float(theirs[student]["late_submission_penalty"]) == float(row["penalty_points"])


def test_handed_back_files_show_the_exported_score_after_the_late_penalty(tmp_path):
    config = load_config()
    course = _fake_class(tmp_path / "course", config)
    exported = export_grades(course, config, tmp_path / "out", to_nbgrader=False)
    final = {row["student_id"]: row["final_score"] for row in exported.rows}
    for student in ("ann", "ben", "cat"):
        results = json.loads((tmp_path / "out" / student / "results.json").read_text())
        assert results["score"] == final[student]
        assert results["late_penalty"]["final_score"] == final[student]
    ben = json.loads((tmp_path / "out" / "ben" / "results.json").read_text())
    assert (ben["score"], ben["late_penalty"]["raw_score"], ben["late_penalty"]["penalty_percent"]) == (40.0, 50.0, 20.0)
    assert ben["output"].startswith("Late penalty: submitted 2 day(s) late") and "final score 40 / 100" in ben["output"]
    page = (tmp_path / "out" / "ben" / "feedback.html").read_text()
    assert page.index("final score 40 / 100") < page.index("Your score: 50")  # the banner opens the page
    assert "no late penalty" in (tmp_path / "out" / "ann" / "feedback.html").read_text()
    # the graded originals are untouched: a re-export with another policy starts from the raw score
    assert json.loads((course.graded_dir("ben") / "results.json").read_text()) == {"score": 50.0, "tests": []}


def test_students_without_a_grade_are_exported_as_missing_never_as_zero(tmp_path):
    """An error row, a row older than the submission and a submission with no row have no grade: empty
    cells and the reason, no handed-back copy of an older result, no auto score in nbgrader, left out
    of the statistics, and export exits 1. A row with no submission folder is left out everywhere."""
    config = load_config()
    course = _fake_class(tmp_path / "course", config)
    export_grades(course, config, tmp_path / "out")  # ann, ben, cat handed back with their grades
    manifest = json.loads(course.manifest.read_text())
    # ann's re-grade hit a host fault: her row says so, her graded folder still holds the old result
    manifest["students"]["ann"] = {**manifest["students"]["ann"], "status": "error",
                                   "reason": "MNIST directory /nope does not exist"}
    del manifest["students"]["ann"]["score"], manifest["students"]["ann"]["parts"]
    (course.submission_dir("ben") / "cnn_week1.ipynb").write_text('{"resubmitted": 1}')  # after grading
    course.submission_dir("dan").mkdir(parents=True)
    (course.submission_dir("dan") / "cnn_week1.ipynb").write_text("{}")  # collected, not graded yet
    course.submission_dir("eve").mkdir(parents=True)  # an empty folder: she submitted nothing
    manifest["students"]["eve"] = {"status": "no_file", "reason": "the submission folder holds no file", "score": 0.0,
                                   "max_score": config.max_score, "parts": {k: 0.0 for k in config.parts},
                                   "sha256": "", **digests(config)}
    course.graded_dir("eve").mkdir(parents=True)
    write_json_atomic(course.graded_dir("eve") / "results.json", {"score": 0.0, "tests": []})
    manifest["students"]["ghost"] = {**manifest["students"]["cat"]}  # a row with no submission folder
    write_json_atomic(course.manifest, manifest)

    exported = export_grades(course, config, tmp_path / "out")
    table = {row["student_id"]: row for row in csv.DictReader(open(exported.csv, newline=""))}
    assert sorted(table) == ["ann", "ben", "cat", "dan", "eve"] and exported.phantoms == ["ghost"]
    assert sorted(exported.missing) == ["ann", "ben", "dan"] and not exported.complete
    expected = {"ann": ("error", "MNIST directory /nope"), "ben": ("stale", "run grade-all"),
                "dan": ("not_graded", "run grade-all")}
    for student, (status, why) in expected.items():
        row = table[student]
        assert all(row[key] == "" for key in [*config.parts, "total", "final_score", "penalty_points"]), row
        assert row["status"] == status and why in row["reason"], row
        assert not (tmp_path / "out" / student).exists(), f"{student}: an older result was handed back"
    assert (table["eve"]["status"], float(table["eve"]["final_score"])) == ("no_file", 0.0)  # nothing submitted: 0
    assert "holds no file" in table["eve"]["reason"]
    assert float(table["cat"]["total"]) == 80.0 and not (tmp_path / "out" / "ghost").exists()

    from nbgrader.api import Gradebook
    with Gradebook(exported.gradebook) as gb:
        for student in ("ann", "ben", "dan"):
            grades = [gb.find_grade(key, "cnn_week1", "cnn_week1", student) for key in config.parts]
            assert all(g.auto_score is None and g.needs_manual_grade for g in grades), student
        assert gb.find_grade("pooling", "cnn_week1", "cnn_week1", "cat").auto_score == 8.0
        assert "ghost" not in {s.id for s in gb.students}

    stats = class_stats(course, config)
    assert (stats.students, stats.graded, sorted(stats.missing), stats.phantoms) == (5, 2, ["ann", "ben", "dan"], ["ghost"])
    assert sorted(stats.totals) == [0.0, 80.0]
    text = stats.table(config)
    assert text.index("Slowest submissions") < text.index("NO GRADE for 3 student(s)")  # printed at the end

    run = [sys.executable, "-m", "autograder", "export", "--course", str(course.root), "--no-nbgrader",
           "--out", str(tmp_path / "cli")]
    done = subprocess.run(run, cwd=KIT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "3 student(s) have NO grade" in done.stderr, done.stderr
    assert "ann: not graded (not the student's fault): MNIST directory /nope" in done.stderr
    assert "ghost has a row" in done.stderr and "grade-all --drop ghost" in done.stderr
    done = subprocess.run(run + ["--allow-missing"], cwd=KIT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    done = subprocess.run([sys.executable, "-m", "autograder", "grade-all", "--course", str(course.root),
                           "--drop", "ghost"], cwd=KIT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ghost" not in json.loads(course.manifest.read_text())["students"]
    assert export_grades(course, config, tmp_path / "out", to_nbgrader=False).phantoms == []
