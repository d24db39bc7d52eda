"""grade-all's bookkeeping: what a re-run grades, zero rows, merging a re-graded part, unknown students."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder.classwork.batch import (NOT_NOTEBOOK, UnknownStudents, digests, drop_rows, error_report, grade_all,
                              load_manifest, plan)
from autograder.engine.config import load_config
from autograder.classwork.layout import Course
from autograder.engine.files import sha256_file
from autograder.classwork.progress import Progress
from autograder.engine.results import write_json_atomic
from week1 import week1_course


def _course(tmp_path, students: dict[str, tuple[str, bytes]]) -> Course:
    course = week1_course(tmp_path)
    for student, (name, data) in students.items():
        folder = course.submission_dir(student)
        folder.mkdir(parents=True)
        (folder / name).write_bytes(data)
    return course


def _graded_row(course, config, student, name):
    course.graded_dir(student).mkdir(parents=True, exist_ok=True)
    (course.graded_dir(student) / "results.json").write_text("{}")
    return {"sha256": sha256_file(course.submission_dir(student) / name), "status": "graded", **digests(config)}


def test_plan_grades_only_missing_or_changed(tmp_path):
    config = load_config()
    names = ("ann", "ben", "cat", "dan", "eve", "fay", "gus", "hal")
    course = _course(tmp_path, {s: ("cnn_week1.ipynb", s.encode()) for s in names})
    manifest = {"students": {s: _graded_row(course, config, s, "cnn_week1.ipynb") for s in names if s != "eve"}}
    (course.submission_dir("ben") / "cnn_week1.ipynb").write_bytes(b"resubmitted")  # changed
    (course.graded_dir("cat") / "results.json").unlink()  # its results went missing
    manifest["students"]["dan"]["config_sha256"] = "another grading.toml"  # graded under other settings
    manifest["students"]["fay"]["status"] = "error"  # a host fault: never a grade, retried
    manifest["students"]["gus"]["status"] = "crashed"  # a zero row of older kits for a grader crash: retried
    manifest["students"]["hal"]["graders_sha256"] = "other graders"
    manifest["students"]["ivy"] = {**manifest["students"]["ann"], "kit_version": "0.0.1"}  # an older kit's grade
    (course.submission_dir("ivy")).mkdir(parents=True)
    (course.submission_dir("ivy") / "cnn_week1.ipynb").write_bytes(b"ann")
    (course.graded_dir("ivy")).mkdir(parents=True)
    (course.graded_dir("ivy") / "results.json").write_text("{}")
    tasks, skipped = plan(course, config, manifest=manifest)
    assert sorted(task.student for task in tasks) == ["ben", "cat", "dan", "eve", "fay", "gus", "hal", "ivy"]
    assert skipped == ["ann"]
    tasks, skipped = plan(course, config, manifest=manifest, force=True)
    assert len(tasks) == 9 and not skipped


def test_a_part_is_merged_only_into_a_finished_grade_of_the_same_file(tmp_path):
    config = load_config()
    names = ("ann", "ben", "cat", "dan", "eve")
    course = _course(tmp_path, {s: ("cnn_week1.ipynb", s.encode()) for s in names})
    manifest = {"students": {s: _graded_row(course, config, s, "cnn_week1.ipynb") for s in names if s != "eve"}}
    (course.submission_dir("ben") / "cnn_week1.ipynb").write_bytes(b"resubmitted after grading")
    manifest["students"]["cat"]["status"] = "error"  # a crashed run: its row must not become a graded one
    manifest["students"]["dan"]["config_sha256"] = "another grading.toml"
    tasks = {task.student: task for task in plan(course, config, manifest=manifest, force=True, part="pooling")[0]}
    assert (tasks["ann"].select, tasks["ann"].part) == ("pooling", "pooling")  # same file, same settings
    for student in ("ben", "cat", "dan", "eve"):  # anything else: the whole submission
        assert (tasks[student].select, tasks[student].part) == (None, None), student
    narrowed = plan(course, config, ["ann"], True, manifest, part="pooling", select="pooling and max")[0]
    assert narrowed[0].select == "pooling and max"


def test_select_without_part_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--part"):
        grade_all(_course(tmp_path, {}), load_config(), select="pooling")


def test_an_unknown_student_is_an_error_that_writes_nothing(tmp_path):
    course = _course(tmp_path, {"maria_garcia": ("cnn_week1.ipynb", b"{}"), "mario": ("cnn_week1.ipynb", b"{}")})
    with pytest.raises(UnknownStudents, match="did you mean maria_garcia"):
        grade_all(course, load_config(), students=["maria_garcai"])
    done = subprocess.run([sys.executable, "-m", "autograder", "grade-all", "--course", str(tmp_path),
                           "--student", "mario", "--student", "maria_garcai"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "did you mean maria_garcia" in done.stderr, done.stderr
    assert "mario" not in done.stderr.split("did you mean")[0].replace("maria_garcai", "")  # only the unknown one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submitted"]  # no manifest, no result folder, no row


def test_errors_are_reported_once_per_cause():
    lines = error_report({"ann": "No grade was recorded: the grader or the host failed, not the submission:\n"
                                 "MNIST directory /x does not exist",
                          "ben": "No grade was recorded: the grader or the host failed, not the submission:\n"
                                 "MNIST directory /x does not exist",
                          "cat": "the grading process died (killed by signal 9)"})
    assert lines == ["2 not graded: MNIST directory /x does not exist [ann, ben]",
                     "1 not graded: the grading process died (killed by signal 9) [cat]"]


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
        assert results["provenance"]["submission_sha256"] == row["sha256"] == sha256_file(
            next(course.submission_dir(student).iterdir()))
        assert results["provenance"]["config_sha256"] == row["config_sha256"]
    assert any("[2/2]" in line for line in lines)  # plain progress lines when not a terminal
    again = grade_all(course, config, jobs=2, progress=Progress(stream=Capture()))
    assert again.graded == [] and sorted(again.skipped) == ["yan", "zed"]  # resumed: nothing to do


def test_a_row_is_dropped_only_for_a_student_whose_submission_is_gone(tmp_path):
    """--drop removes a withdrawn student's row from every manifest (a merge must not bring it back)."""
    course = _course(tmp_path, {"ann": ("cnn_week1.ipynb", b"{}")})
    course.autograded.mkdir(parents=True)
    rows = {"ann": {"status": "graded"}, "gone": {"status": "graded"}}
    write_json_atomic(course.manifest, {"students": rows})
    write_json_atomic(course.autograded / "manifest.shard-1-of-2.json", {"students": {"gone": {}}})
    (course.graded_dir("gone")).mkdir(parents=True)
    with pytest.raises(UnknownStudents, match="still has a submission"):
        drop_rows(course, ["ann", "gone"])
    with pytest.raises(UnknownStudents, match="did you mean gone"):
        drop_rows(course, ["gome"])
    assert json.loads(course.manifest.read_text())["students"] == rows  # refused: nothing changed
    assert len(drop_rows(course, ["gone"])) == 2
    assert list(load_manifest(course)["students"]) == ["ann"] and not (course.autograded / "gone").exists()
    assert json.loads((course.autograded / "manifest.shard-1-of-2.json").read_text())["students"] == {}
