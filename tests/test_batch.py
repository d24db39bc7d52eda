"""grade-all's bookkeeping: what a re-run grades, zero rows, merging a re-graded part."""
from __future__ import annotations

import json

from autograder.batch import NOT_NOTEBOOK, _merge_part, config_digest, grade_all, load_manifest, plan
from autograder.config import load_config
from autograder.layout import Course, sha256_file
from autograder.progress import Progress
from autograder.results import write_json_atomic


def _course(tmp_path, students: dict[str, tuple[str, bytes]]) -> Course:
    course = Course(tmp_path)
    for student, (name, data) in students.items():
        folder = course.submission_dir(student)
        folder.mkdir(parents=True)
        (folder / name).write_bytes(data)
    return course


def _graded_row(course, config, student, name):
    course.graded_dir(student).mkdir(parents=True, exist_ok=True)
    (course.graded_dir(student) / "results.json").write_text("{}")
    return {"sha256": sha256_file(course.submission_dir(student) / name), "config_sha256": config_digest(config)}


def test_plan_grades_only_missing_or_changed(tmp_path):
    config = load_config()
    course = _course(tmp_path, {s: ("cnn_week1.ipynb", s.encode()) for s in ("ann", "ben", "cat", "dan", "eve")})
    manifest = {"students": {s: _graded_row(course, config, s, "cnn_week1.ipynb") for s in ("ann", "ben", "cat", "dan")}}
    (course.submission_dir("ben") / "cnn_week1.ipynb").write_bytes(b"resubmitted")  # changed
    (course.graded_dir("cat") / "results.json").unlink()  # its results went missing
    manifest["students"]["dan"]["config_sha256"] = "another grading.toml"  # graded under other settings
    tasks, skipped = plan(course, config, manifest=manifest)
    assert sorted(task.student for task in tasks) == ["ben", "cat", "dan", "eve"]
    assert skipped == ["ann"]
    tasks, skipped = plan(course, config, manifest=manifest, force=True)
    assert len(tasks) == 5 and not skipped


def test_non_notebooks_get_zero_rows_with_every_part(tmp_path):
    config = load_config()
    course = _course(tmp_path, {"zed": ("zed_cnn_week1.pdf", b"%PDF-1.4"), "yan": ("notes.zip", b"PK broken")})
    lines = []

    class Capture:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass

    summary = grade_all(course, config, jobs=2, progress=Progress(stream=Capture()))
    assert sorted(summary.failed) == ["yan", "zed"] and not summary.interrupted
    manifest = load_manifest(course)
    for student in ("yan", "zed"):
        row = manifest["students"][student]
        assert row["status"] == NOT_NOTEBOOK and row["score"] == 0.0 and "not a notebook" in row["reason"]
        results = json.loads((course.graded_dir(student) / "results.json").read_text())
        assert {t["tags"][0] for t in results["tests"]} == set(config.parts)
        assert results["score"] == 0 and results["max_score"] == config.max_score
    assert any("[2/2]" in line for line in lines)  # plain progress lines when not a terminal
    again = grade_all(course, config, jobs=2, progress=Progress(stream=Capture()))
    assert again.graded == [] and sorted(again.skipped) == ["yan", "zed"]  # resumed: nothing to do


def test_regrading_one_part_keeps_the_other_parts(tmp_path):
    old = {"score": 30, "max_score": 40, "output": "Score: 30 / 40\nmore", "tests": [
        {"name": "a", "score": 10, "max_score": 10, "tags": ["p1"]},
        {"name": "b", "score": 0, "max_score": 10, "tags": ["p2"]},
        {"name": "c", "score": 20, "max_score": 20, "tags": ["p3"]}]}
    new = {"score": 10, "max_score": 40, "tests": [
        {"name": "a", "score": 0, "max_score": 10, "tags": ["p1"]},
        {"name": "b", "score": 10, "max_score": 10, "tags": ["p2"]},
        {"name": "c", "score": 0, "max_score": 20, "tags": ["p3"]}]}
    (tmp_path / "old").mkdir()
    (tmp_path / "work").mkdir()
    write_json_atomic(tmp_path / "old" / "results.json", old)
    write_json_atomic(tmp_path / "work" / "results.json", new)
    _merge_part(tmp_path / "old", tmp_path / "work", "p2")
    merged = json.loads((tmp_path / "work" / "results.json").read_text())
    assert [(t["name"], t["score"]) for t in merged["tests"]] == [("a", 10), ("b", 10), ("c", 20)]
    assert merged["score"] == 40 and merged["output"].startswith("Score: 40 / 40")
