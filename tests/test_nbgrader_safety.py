"""Living beside nbgrader: its own commands, run on the course, leave the kit's files alone."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from autograder.engine.config import load_config
from autograder.classwork.export import write_nbgrader_gradebook
from autograder.classwork.layout import Course, migrate_legacy_results
from autograder.packaging.release import generate_release
from autograder.classwork.nbgrader_run import nbgrader_command, nbgrader_env
from autograder.engine.results import write_json_atomic
from week1 import WEEK1, week1_course

REPO = Path(__file__).resolve().parents[1]


def course_copy(root: Path) -> Course:
    """The kit's nbgrader course (config, source, release) in ``root``, with one student graded by the kit."""
    for name in ("source", "release"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    course = week1_course(root)
    course.submission_dir("alice").mkdir(parents=True)
    shutil.copy2(REPO / "release" / "cnn_week1" / "cnn_week1.ipynb", course.submission_dir("alice"))
    course.graded_dir("alice").mkdir(parents=True)
    write_json_atomic(course.graded_dir("alice") / "results.json", {"score": 42.0})
    write_json_atomic(course.manifest, {"assignment": "cnn_week1", "students": {"alice": {"score": 42.0}}})
    return course


def nbgrader(course: Course, *args: str, override: bool = False) -> subprocess.CompletedProcess:
    env = nbgrader_env()
    env.pop("CNN_KIT_NBGRADER_RELEASE", None)
    if override:  # the instructor's explicit, documented way past the guard
        env["CNN_KIT_NBGRADER_RELEASE"] = "1"
    return subprocess.run(nbgrader_command(*args), cwd=course.root, env=env, capture_output=True, text=True, timeout=600)


def test_nbgrader_autograde_force_keeps_the_kits_results(tmp_path):
    course = course_copy(tmp_path / "course")
    assert nbgrader(course, "generate_assignment", "cnn_week1", "--force", override=True).returncode == 0
    done = nbgrader(course, "autograde", "cnn_week1", "--force", "--ExecutePreprocessor.timeout=30")
    assert (course.legacy_autograded / "alice" / "cnn_week1" / "cnn_week1.ipynb").is_file(), done.stderr[-2000:]
    assert '"score": 42.0' in (course.graded_dir("alice") / "results.json").read_text()
    assert course.manifest.is_file()


def test_generate_assignment_is_refused_with_submissions_in_the_gradebook(tmp_path):
    course = course_copy(tmp_path / "course")
    config = load_config()
    row = {"student_id": "alice", "submitted_at": "", "penalty_points": 0.0, "total": float(len(config.parts)),
           **{key: 1.0 for key in config.parts}}
    write_nbgrader_gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course, config, [row])
    before = sorted(p.name for p in (course.root / "release" / "cnn_week1").iterdir())
    done = nbgrader(course, "generate_assignment", "cnn_week1", "--force")
    assert done.returncode != 0 and "python -m autograder release" in done.stderr
    assert sorted(p.name for p in (course.root / "release" / "cnn_week1").iterdir()) == before
    # the kit's own release still runs nbgrader (into a scratch folder) in the same course
    target = generate_release(course.root, tmp_path / "release", WEEK1)
    assert (target / "cnn_week1.ipynb").is_file()


def test_results_written_into_nbgraders_autograded_are_migrated_once(tmp_path):
    course = week1_course(tmp_path / "course")
    old = course.legacy_autograded / "bob" / "cnn_week1"
    old.mkdir(parents=True)
    (old / "results.json").write_text('{"score": 7}')
    (old / "feedback.html").write_text("<p>7</p>")
    (course.legacy_autograded / "manifest.json").write_text('{"students": {"bob": {"score": 7}}}')
    assert migrate_legacy_results(course) == ["bob"]
    assert (course.graded_dir("bob") / "results.json").read_text() == '{"score": 7}'
    assert course.manifest.read_text() == '{"students": {"bob": {"score": 7}}}'
    (course.graded_dir("bob") / "results.json").write_text('{"score": 9}')  # graded again by the kit
    assert migrate_legacy_results(course) == [] and "9" in (course.graded_dir("bob") / "results.json").read_text()
