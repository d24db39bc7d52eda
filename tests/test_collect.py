"""Collecting LMS downloads: names parsed, bytes and times kept, duplicates and strays reported."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest

from autograder.classwork.collect import CollectError, collect_downloads, default_patterns, save_report
from autograder.classwork.layout import Course, parse_timestamp, read_timestamp
from autograder.engine.files import sha256_file
from week1 import week1_course


def parse(name: str):
    for pattern in default_patterns("cnn_week1"):
        found = re.match(pattern, name)
        if found:
            return found.group("student_id"), found.groupdict().get("timestamp")
    return None


@pytest.mark.parametrize("name, expected", [
    ("jdoe_cnn_week1.ipynb", ("jdoe", None)),
    ("j.doe-2_cnn_week1.py", ("j.doe-2", None)),
    ("jdoe_cnn_week1_v2.ipynb", ("jdoe", None)),
    ("cnn_week1_jdoe_attempt_2026-12-01-10-00-00.ipynb", ("jdoe", "2026-12-01-10-00-00")),
    ("cnn_week1_jdoe_attempt_2026-12-01-10-00-00_cnn_week1.ipynb", ("jdoe", "2026-12-01-10-00-00")),
    ("jdoe_late_12345_67890_cnn_week1.ipynb", ("jdoe", None)),
    ("jdoe_12345_67890_cnn_week1-1.ipynb", ("jdoe", None)),
    ("jdoe_CNN_Week1.ipynb", ("jdoe", None)),
    ("jdoe_cnn_week1 (1).ipynb", ("jdoe", None)),
    ("jdoe_cnn_week1_LATE.ipynb", ("jdoe", None)),
    ("jdoe_LATE_12345_67890_CNN_Week1-1.ipynb", ("jdoe", None)),
    ("cnn_week1_jdoe_attempt_2026-12-01-10-00-00_LATE.ipynb", ("jdoe", "2026-12-01-10-00-00")),
    ("josé_cnn_week1.ipynb", ("josé", None)),
    ("Jane Doe_12345_assignsubmission_file_cnn_week1.ipynb", ("Jane Doe", None)),
    ("Jane Doe_12345_assignsubmission_file_/cnn_week1.ipynb", ("Jane Doe", None)),
    ("cnn_week1.ipynb", None),
    ("notes.txt", None),
    ("jdoe_homework.ipynb", None),
])
def test_default_patterns_read_student_ids(name, expected):
    assert parse(name) == expected


def test_attempt_timestamp_becomes_nbgrader_timestamp():
    assert parse_timestamp("2026-12-01-10-00-00").isoformat() == "2026-12-01T10:00:00+00:00"


def _write(path: Path, data: bytes, mtime: float) -> Path:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def test_collect_keeps_bytes_times_and_reports_everything(tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    _write(downloads / "alice_cnn_week1.ipynb", b'{"cells": []}\n', 1_700_000_000)
    _write(downloads / "cnn_week1_bob_attempt_2026-12-01-10-00-00.ipynb", b"old", 1_700_000_000)
    _write(downloads / "cnn_week1_bob_attempt_2026-12-02-10-00-00.ipynb", b"new", 1_600_000_000)
    _write(downloads / "carol_cnn_week1.zip", b"PK\x03\x04 this is not really a zip", 1_700_000_000)
    _write(downloads / "mystery.ipynb", b"{}", 1_700_000_000)
    with zipfile.ZipFile(downloads / "batch2.zip", "w") as bundle:
        bundle.writestr(zipfile.ZipInfo("sub/dave_cnn_week1.py", (2026, 12, 3, 12, 0, 0)), "x = 1\n")
    course = week1_course(tmp_path / "course")
    report = collect_downloads(downloads, course)

    assert {item.student for item in report.collected} == {"alice", "bob", "carol", "dave"}
    assert [Path(item.source).name for item in report.unmatched] == ["mystery.ipynb"]
    assert [Path(item.source).name for item in report.superseded] == ["cnn_week1_bob_attempt_2026-12-01-10-00-00.ipynb"]
    bob = course.submission_dir("bob") / "cnn_week1.ipynb"
    assert bob.read_bytes() == b"new"  # the later attempt by its name's time, though its file time is older
    assert read_timestamp(bob.parent).isoformat() == "2026-12-02T10:00:00+00:00"
    assert (bob.parent / "timestamp.txt").read_text() == "2026-12-02 10:00:00.000000 UTC"
    alice = course.submission_dir("alice") / "cnn_week1.ipynb"
    assert alice.stat().st_mtime == 1_700_000_000 and alice.read_bytes() == b'{"cells": []}\n'
    carol = course.submission_dir("carol") / "carol_cnn_week1.zip"  # a broken zip is kept as a file to grade
    assert sha256_file(carol) == sha256_file(downloads / "carol_cnn_week1.zip")
    dave = course.submission_dir("dave") / "cnn_week1.py"
    assert dave.read_text() == "x = 1\n" and read_timestamp(dave.parent).isoformat().startswith("2026-12-03T12:00")


def test_recollecting_is_idempotent_and_an_older_file_does_not_replace_a_newer(tmp_path):
    downloads, course = tmp_path / "d", week1_course(tmp_path / "course")
    downloads.mkdir()
    _write(downloads / "cnn_week1_bob_attempt_2026-12-02-10-00-00.ipynb", b"new", 1_600_000_000)
    collect_downloads(downloads, course)
    again = collect_downloads(downloads, course)
    assert again.collected[0].reason.startswith("already collected")
    late_download = tmp_path / "d2"
    late_download.mkdir()
    _write(late_download / "cnn_week1_bob_attempt_2026-12-01-10-00-00.ipynb", b"old", 1_600_000_000)
    report = collect_downloads(late_download, course)
    assert not report.collected and len(report.superseded) == 1
    assert (course.submission_dir("bob") / "cnn_week1.ipynb").read_bytes() == b"new"


def _attempt(folder: Path, student: str, day: int, data: bytes) -> Path:
    folder.mkdir(exist_ok=True)
    return _write(folder / f"cnn_week1_{student}_attempt_2026-12-0{day}-10-00-00.ipynb", data, 1_600_000_000)


def test_the_notebook_is_graded_not_a_newer_helper(tmp_path):
    downloads, course = tmp_path / "d", week1_course(tmp_path / "course")
    downloads.mkdir()
    _write(downloads / "alice_cnn_week1.ipynb", b'{"cells": []}', 1_700_000_000)
    _write(downloads / "alice_cnn_week1_helpers.py", b"x = 1\n", 1_700_000_500)  # newer, still not the answer
    report = collect_downloads(downloads, course)
    assert [p.name for p in course.submission_dir("alice").iterdir() if p.name != "timestamp.txt"] == ["cnn_week1.ipynb"]
    assert [Path(i.source).name for i in report.superseded] == ["alice_cnn_week1_helpers.py"]
    assert "notebook" in report.superseded[0].reason
    # a later collect of only the helper does not replace the notebook either
    later = tmp_path / "d2"
    later.mkdir()
    _write(later / "alice_cnn_week1.py", b"y = 2\n", 1_800_000_000)
    collect_downloads(later, course)
    assert (course.submission_dir("alice") / "cnn_week1.ipynb").read_bytes() == b'{"cells": []}'
    kept = sorted(p.name for p in course.history_dir("alice").glob("*/*") if p.name != "timestamp.txt")
    assert kept == ["alice_cnn_week1.py", "alice_cnn_week1_helpers.py"]


def test_every_version_is_kept_and_every_report_appended(tmp_path):
    course = week1_course(tmp_path / "course")
    for run, data in enumerate((b"v1", b"v2", b"v3"), start=1):
        report = collect_downloads(_attempt(tmp_path / f"d{run}", "bob", run, data).parent, course)
        save_report(report, course.collect_report, f"d{run}")
    assert (course.submission_dir("bob") / "cnn_week1.ipynb").read_bytes() == b"v3"
    versions = sorted(course.history_dir("bob").iterdir())
    assert [v.name for v in versions] == ["001_20261201T100000Z", "002_20261202T100000Z"]
    assert [(v / "cnn_week1.ipynb").read_bytes() for v in versions] == [b"v1", b"v2"]
    assert (versions[0] / "timestamp.txt").read_text() == "2026-12-01 10:00:00.000000 UTC"
    runs = json.loads(course.collect_report.read_text())
    assert [(r["run"], r["source"], len(r["collected"])) for r in runs] == [(1, "d1", 1), (2, "d2", 1), (3, "d3", 1)]
    again = collect_downloads(tmp_path / "d1", course)  # an old download again: kept once, not duplicated
    assert again.superseded and len(list(course.history_dir("bob").iterdir())) == 2


def test_moodle_folders_accents_and_late_flags(tmp_path):
    nfd = unicodedata.normalize("NFD", "José Núñez")  # how macOS writes accents into a zip
    bundle_path = tmp_path / "moodle.zip"
    with zipfile.ZipFile(bundle_path, "w") as bundle:
        bundle.writestr(zipfile.ZipInfo(f"{nfd}_4711_assignsubmission_file_/CNN_Week1 (1).ipynb", (2026, 12, 3, 9, 0, 0)), "{}")
        bundle.writestr(zipfile.ZipInfo(f"{nfd}_4711_assignsubmission_file_/notes.txt", (2026, 12, 3, 9, 0, 0)), "hi")
        bundle.writestr(zipfile.ZipInfo("zoe_LATE_12_34_cnn_week1.ipynb", (2026, 12, 12, 9, 0, 0)), "{}")
    course = week1_course(tmp_path / "course")
    report = collect_downloads(bundle_path, course)
    student = unicodedata.normalize("NFC", "José_Núñez")
    assert {i.student for i in report.collected} == {student, "zoe"} and not report.unmatched
    assert (course.submission_dir(student) / "cnn_week1.ipynb").read_text() == "{}"
    assert [Path(i.source).name for i in report.superseded] == ["notes.txt"]  # the notebook wins, the note is kept
    assert {i.student: i.lms_late for i in report.collected} == {student: False, "zoe": True}
    assert "Marked late by the LMS: zoe" in report.text()


def test_an_empty_or_missing_source_is_an_error(tmp_path):
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    course = week1_course(tmp_path / "course")
    for source in (empty, tmp_path / "no-such-folder"):
        with pytest.raises(CollectError):
            collect_downloads(source, course)
        done = subprocess.run([sys.executable, "-m", "autograder", "collect", "--downloads", str(source),
                               "--course", str(course.root)], capture_output=True, text=True, timeout=120,
                              cwd=Path(__file__).resolve().parents[1])
        assert done.returncode == 2 and done.stderr.startswith("error: ") and "Collected 0" not in done.stdout
