"""Collecting LMS downloads: names parsed, bytes and times kept, duplicates and strays reported."""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest

from autograder.collect import collect_downloads, default_patterns
from autograder.layout import Course, parse_timestamp, read_timestamp, sha256_file


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
    course = Course(tmp_path / "course")
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
    downloads, course = tmp_path / "d", Course(tmp_path / "course")
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
