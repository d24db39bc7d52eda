"""export: the CSV gradebook and nbgrader's gradebook say the same thing."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from autograder.config import load_config
import json

from autograder.export import export_grades
from autograder.layout import Course
from autograder.results import write_json_atomic


def nbgrader_export(course_root: Path, db: Path, out: Path) -> dict[str, dict]:
    """Run the real ``nbgrader export`` and read its CSV, keyed by student id."""
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"])
    subprocess.run([os.path.join(bin_dir, "nbgrader"), "export", f"--CourseDirectory.root={course_root}",
                    f"--CourseDirectory.db_url=sqlite:///{db}", f"--CsvExportPlugin.to={out}"],
                   cwd=course_root, env=env, check=True, capture_output=True)
    with open(out, newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _fake_class(root: Path, config) -> Course:
    course = Course(root)
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
        manifest["students"][student] = {"status": "graded", "reason": "", "score": score,
                                         "max_score": config.max_score, "parts": parts}
        course.graded_dir(student).mkdir(parents=True)
        write_json_atomic(course.graded_dir(student) / "results.json", {"score": score})
        (course.graded_dir(student) / "feedback.html").write_text(f"<html><body><h1>Your score: {score:g}</h1></body></html>")
    course.autograded.mkdir(exist_ok=True)
    write_json_atomic(course.manifest, manifest)
    return course


def test_csv_and_nbgrader_gradebook_agree(tmp_path):
    config = load_config()
    course = _fake_class(tmp_path / "course", config)
    exported = export_grades(course, config, tmp_path / "out")
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
    assert json.loads((course.graded_dir("ben") / "results.json").read_text()) == {"score": 50.0}
