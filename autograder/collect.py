"""Bring submissions into ``submitted/<student>/<assignment>/``, nbgrader's layout, losing none.

Two sources:
- nbgrader's exchange: ``collect_exchange`` runs nbgrader's own ``nbgrader collect``;
- LMS downloads (a folder or a .zip, nested zips expanded): ``collect_downloads`` follows nbgrader's
  ZipCollect conventions: the student id (and optionally a submission time) is parsed from each
  file name by named-group regexes (``student_id``, optional ``timestamp``); the file is copied
  byte for byte with its mtime (shutil.copy2) and a ``timestamp.txt`` in nbgrader's format.

Every file ends up in exactly one list of the report: collected, superseded (an older duplicate
of a student's submission) or unmatched (no student id could be read). Nothing is dropped silently.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .layout import (TIMESTAMP_FILE, Course, find_submission, format_timestamp, parse_timestamp,
                     read_timestamp, sha256_file)


def default_patterns(assignment: str) -> list[str]:
    """File-name regexes tried in order; the first that matches wins.

    - Blackboard/nbgrader style: ``cnn_week1_jdoe_attempt_2026-12-01-10-00-00[_anything].ipynb``
    - plain: ``jdoe_cnn_week1.ipynb`` (also ``jdoe_cnn_week1_v2.ipynb``, ``jdoe_cnn_week1.py``)
    - Canvas style: ``jdoe_late_12345_67890_cnn_week1.ipynb`` (``_late``/``_LATE`` optional)
    """
    a = re.escape(assignment)
    sid = r"(?P<student_id>[A-Za-z0-9][A-Za-z0-9.\-]*)"
    return [
        rf"^{a}_{sid}_attempt_(?P<timestamp>\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d)(?:_.*)?\.[^.]+$",
        rf"^{sid}_{a}(?:_[^/]*)?\.[^.]+$",
        rf"^{sid}(?:_late)?_\d+_\d+_{a}(?:[-_][^/]*)?\.[^.]+$",
    ]


@dataclass
class CollectedFile:
    source: str  # where it came from (a path, or archive.zip!member)
    student: str = ""
    destination: str = ""
    timestamp: str = ""  # nbgrader format, UTC
    timestamp_from: str = ""  # "file name", "file time" or "exchange"
    sha256: str = ""
    reason: str = ""  # for superseded and unmatched files


@dataclass
class CollectReport:
    collected: list[CollectedFile] = field(default_factory=list)
    superseded: list[CollectedFile] = field(default_factory=list)
    unmatched: list[CollectedFile] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {key: [asdict(item) for item in getattr(self, key)] for key in ("collected", "superseded", "unmatched")}

    def text(self) -> str:
        lines = [f"Collected {len(self.collected)} submission(s) into submitted/<student>/."]
        for title, items in (("Superseded (an older duplicate; the newer one was kept)", self.superseded),
                             ("NOT matched to any student (check the --pattern)", self.unmatched)):
            if items:
                lines.append(f"{title}: {len(items)}")
                lines += [f"  {item.source}: {item.reason}" for item in items]
        return "\n".join(lines)


@dataclass
class _Candidate:
    path: Path  # the bytes to copy (in a scratch folder for archive members)
    source: str
    student: str
    moment: datetime
    timestamp_from: str


def collect_downloads(source: Path, course: Course, patterns: list[str] | None = None,
                      use_file_times: bool = True) -> CollectReport:
    """Collect LMS downloads from the folder or zip ``source`` into ``course``; return the report."""
    patterns = [re.compile(p) for p in (patterns or default_patterns(course.assignment))]
    report = CollectReport()
    with tempfile.TemporaryDirectory(prefix="cnn-collect-") as scratch:
        candidates: list[_Candidate] = []
        for path, label in _walk(Path(source), Path(scratch), report):
            candidate = _match(path, label, patterns, use_file_times, report)
            if candidate:
                candidates.append(candidate)
        newest: dict[str, _Candidate] = {}
        for candidate in sorted(candidates, key=lambda c: (c.moment, c.source)):
            previous = newest.get(candidate.student)
            if previous is not None:
                report.superseded.append(_entry(previous, f"older than {candidate.source}"))
            newest[candidate.student] = candidate
        for student, candidate in sorted(newest.items()):
            _install(candidate, course, report)
    return report


def _walk(source: Path, scratch: Path, report: CollectReport):
    """(file, label) for every file under ``source``, archives expanded into ``scratch``."""
    if source.is_file():
        if zipfile.is_zipfile(source):
            yield from _expand(source, str(source), scratch, report)
        else:
            yield source, str(source)
        return
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        if path.name.startswith(".") or "__MACOSX" in path.parts:
            continue
        if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            yield from _expand(path, str(path), scratch, report)
        else:
            yield path, str(path)  # a corrupt .zip is a file like any other: matched by its name


def _expand(archive: Path, label: str, scratch: Path, report: CollectReport):
    target = Path(tempfile.mkdtemp(dir=scratch))
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = [m for m in bundle.infolist() if not m.is_dir()]
            for number, member in enumerate(members):
                name = Path(member.filename).name
                if not name or name.startswith(".") or "__MACOSX" in member.filename:
                    continue
                out = target / str(number) / name  # never trust member paths: no traversal
                out.parent.mkdir(parents=True)
                with bundle.open(member) as data, open(out, "wb") as handle:
                    shutil.copyfileobj(data, handle)
                stamp = datetime(*member.date_time).timestamp()  # the archive's time for the file
                os.utime(out, (stamp, stamp))
                inner = f"{label}!{member.filename}"
                if out.suffix.lower() == ".zip" and zipfile.is_zipfile(out):
                    yield from _expand(out, inner, scratch, report)
                else:
                    yield out, inner
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as error:
        report.unmatched.append(CollectedFile(source=label, reason=f"unreadable archive: {error}"))


def _match(path: Path, label: str, patterns, use_file_times: bool, report: CollectReport) -> _Candidate | None:
    for pattern in patterns:
        found = pattern.match(path.name)
        if found and found.groupdict().get("student_id"):
            student = found.group("student_id")
            moment, origin = None, ""
            if found.groupdict().get("timestamp"):
                moment, origin = parse_timestamp(found.group("timestamp")), "file name"
            if moment is None and use_file_times:
                moment, origin = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc), "file time"
            return _Candidate(path, label, student, moment or datetime.min.replace(tzinfo=timezone.utc), origin)
    report.unmatched.append(CollectedFile(source=label, sha256=sha256_file(path),
                                          reason="no student id in the file name"))
    return None


def _entry(candidate: _Candidate, reason: str = "") -> CollectedFile:
    return CollectedFile(source=candidate.source, student=candidate.student,
                         timestamp=format_timestamp(candidate.moment) if candidate.timestamp_from else "",
                         timestamp_from=candidate.timestamp_from, sha256=sha256_file(candidate.path), reason=reason)


def _install(candidate: _Candidate, course: Course, report: CollectReport) -> None:
    """Copy one submission into submitted/<student>/<assignment>/ unless a newer one is already there."""
    folder = course.submission_dir(candidate.student)
    entry = _entry(candidate)
    existing = find_submission(folder, course.assignment) if folder.is_dir() else None
    if existing is not None:
        if sha256_file(existing) == entry.sha256:
            entry.destination, entry.reason = str(existing), "already collected (same bytes)"
            report.collected.append(entry)
            return
        existing_time = read_timestamp(folder)
        if existing_time is not None and candidate.timestamp_from and existing_time > candidate.moment:
            entry.reason = f"older than the submission already in {folder}"
            report.superseded.append(entry)
            return
        report.superseded.append(CollectedFile(source=str(existing), student=candidate.student, sha256=sha256_file(existing),
                                               reason=f"replaced by the newer {candidate.source}"))
        # keep the replaced file's bytes: nothing collected is ever lost
        keep = course.root / "superseded" / course.assignment / candidate.student
        keep.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            shutil.move(str(old), keep / old.name)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = candidate.path.suffix.lower()
    name = f"{course.assignment}{suffix}" if suffix in (".ipynb", ".py") else candidate.path.name
    destination = folder / name
    shutil.copy2(candidate.path, destination)
    if candidate.timestamp_from:
        (folder / TIMESTAMP_FILE).write_text(entry.timestamp, encoding="utf-8")
    entry.destination = str(destination)
    report.collected.append(entry)


def collect_exchange(course: Course, exchange_root: Path | None = None, update: bool = True) -> CollectReport:
    """Run nbgrader's own ``nbgrader collect`` for the assignment, then report what is in submitted/."""
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))  # nbgrader runs alembic
    command = [os.path.join(bin_dir, "nbgrader"), "collect", course.assignment,
               f"--CourseDirectory.root={Path(course.root).resolve()}"]
    if exchange_root:
        command.append(f"--Exchange.root={Path(exchange_root).resolve()}")
    if update:
        command.append("--update")
    done = subprocess.run(command, cwd=course.root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader collect failed (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    report = CollectReport()
    for student in course.students():
        folder = course.submission_dir(student)
        found = find_submission(folder, course.assignment)
        moment = read_timestamp(folder)
        item = CollectedFile(source="nbgrader exchange", student=student, destination=str(found or folder),
                             timestamp=format_timestamp(moment) if moment else "",
                             timestamp_from="exchange" if moment else "", sha256=sha256_file(found) if found else "")
        if found is None:
            item.reason = "the submission folder holds no file"
            report.unmatched.append(item)
        else:
            report.collected.append(item)
    return report
