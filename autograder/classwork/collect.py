"""Bring submissions into ``submitted/<student>/<assignment>/``, nbgrader's layout, losing none.

Two sources:
- nbgrader's exchange: ``collect_exchange`` runs nbgrader's own ``nbgrader collect``;
- LMS downloads (a folder or a .zip, nested zips expanded): ``collect_downloads`` follows nbgrader's
  ZipCollect conventions: the student id (and optionally a submission time) is parsed from each
  file name by named-group regexes (``student_id``, optional ``timestamp``); the file is copied
  byte for byte with its mtime (shutil.copy2) and a ``timestamp.txt`` in nbgrader's format.

Every file ends up in exactly one list of the report: collected, superseded (an older duplicate,
or a student's other file when a notebook was handed in: the notebook is always the one graded) or
unmatched (no student id could be read). Nothing is dropped: every superseded version is kept,
numbered, in ``cnnkit/history/`` and every run's report is appended to ``cnnkit/collect-<a>.json``.
Names are compared in Unicode NFC (macOS zips store accents decomposed), the assignment part of a
file name case-insensitively, and LMS late flags (``_late``/``_LATE``) are kept in the report.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .layout import TIMESTAMP_FILE, Course, find_submission, format_timestamp, parse_timestamp, read_timestamp
from .nbgrader_run import nbgrader_command, nbgrader_env
from ..engine.files import sha256_file
from ..engine.results import write_json_atomic

LATE_FLAG = re.compile(r"(?i)_late(?=[_.\- ]|$)")


class CollectError(RuntimeError):
    """Nothing to collect: the source does not exist or holds no file (not "collected 0")."""


def default_patterns(assignment: str) -> list[str]:
    """File-name regexes tried in order; the first that matches wins.

    - Blackboard/nbgrader style: ``cnn_week1_jdoe_attempt_2026-12-01-10-00-00[_LATE][_anything].ipynb``
    - plain: ``jdoe_cnn_week1.ipynb`` (also ``jdoe_cnn_week1_v2.ipynb``, ``jdoe_CNN_Week1 (1).ipynb``, ``.py``)
    - Canvas style: ``jdoe_late_12345_67890_cnn_week1.ipynb`` (``_late``/``_LATE`` optional)
    - Moodle: ``Jane Doe_12345_assignsubmission_file_/cnn_week1.ipynb`` ("in folders") or the same
      without the slash; the student id is the name with spaces as ``_``

    Student ids are letters (accents included), digits, ``.`` and ``-``; the assignment name matches
    in any case; the time in a file name is YYYY-MM-DD-HH-MM-SS.
    """
    a = rf"(?i:{re.escape(assignment)})"
    sid = r"(?P<student_id>[^\W_](?:[^\W_]|[.\-])*)"
    return [
        rf"^{a}_{sid}_attempt_(?P<timestamp>\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d)(?:_.*)?\.[^.]+$",
        rf"^{sid}_{a}(?:[-_ ][^/]*)?\.[^.]+$",
        rf"^{sid}(?:_(?i:late))?_\d+_\d+_{a}(?:[-_ ][^/]*)?\.[^.]+$",
        r"^(?P<student_id>[^/_]+?)_\d+_assignsubmission_[a-z]+_/?[^/]+\.[^./]+$",
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
    lms_late: bool = False  # the LMS marked it late in the file name (Canvas, Blackboard: _late/_LATE)


@dataclass
class CollectReport:
    collected: list[CollectedFile] = field(default_factory=list)
    superseded: list[CollectedFile] = field(default_factory=list)
    unmatched: list[CollectedFile] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {key: [asdict(item) for item in getattr(self, key)] for key in ("collected", "superseded", "unmatched")}

    def text(self) -> str:
        lines = [f"Collected {len(self.collected)} submission(s) into submitted/<student>/."]
        late = [item.student for item in self.collected if item.lms_late]
        if late:
            lines.append(f"Marked late by the LMS: {', '.join(late)}")
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
    lms_late: bool = False

    @property
    def notebook(self) -> bool:
        return self.path.suffix.lower() == ".ipynb"


def collect_downloads(source: Path, course: Course, patterns: list[str] | None = None,
                      use_file_times: bool = True) -> CollectReport:
    """Collect LMS downloads from the folder or zip ``source`` into ``course``; return the report."""
    patterns = [re.compile(p) for p in (patterns or default_patterns(course.assignment))]
    report = CollectReport()
    with tempfile.TemporaryDirectory(prefix="cnn-collect-") as scratch:
        candidates: list[_Candidate] = []
        seen = 0
        for path, label in _walk(Path(source), Path(scratch), report):
            seen += 1
            candidate = _match(path, label, patterns, use_file_times, report)
            if candidate:
                candidates.append(candidate)
        if not seen and not report.unmatched:
            raise CollectError(f"{source} holds no file to collect (an empty folder or archive?)")
        by_student: dict[str, list[_Candidate]] = {}
        for candidate in candidates:
            by_student.setdefault(candidate.student, []).append(candidate)
        for student, own in sorted(by_student.items()):
            # the notebook wins over a student's other files, then the latest
            own.sort(key=lambda c: (c.notebook, c.moment, c.source))
            chosen = own[-1]
            for other in own[:-1]:
                reason = (f"older than {chosen.source}" if other.notebook or not chosen.notebook
                          else f"not graded: the notebook {chosen.source} is")
                _keep_version(course, other.path, other.student, other.moment if other.timestamp_from else None)
                report.superseded.append(_entry(other, reason))
            _install(chosen, course, report)
    return report


def save_report(report: CollectReport, path: Path, source: str) -> Path:
    """Append this run's report to the JSON list at ``path`` (atomically): earlier runs are never lost."""
    runs = []
    if path.is_file():
        try:
            runs = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            runs = []
        runs = runs if isinstance(runs, list) else [runs]  # a report of an older kit: one run
    runs.append({"run": len(runs) + 1, "at": format_timestamp(datetime.now(timezone.utc)), "source": source,
                 **report.to_dict()})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, runs)
    return path


def _walk(source: Path, scratch: Path, report: CollectReport):
    """(file, label) for every file under ``source``, archives expanded into ``scratch``."""
    if not source.exists():
        raise CollectError(f"{source} does not exist (give the LMS download folder or .zip)")
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
    """A candidate from the file's name, or from ``folder/name`` (Moodle's folder per student), in NFC."""
    inner = PurePosixPath(label.rsplit("!", 1)[-1])
    names = [unicodedata.normalize("NFC", path.name)]
    if inner.parent.name:
        names.append(unicodedata.normalize("NFC", f"{inner.parent.name}/{path.name}"))
    for pattern, name in ((p, n) for p in patterns for n in names):
        found = pattern.match(name)
        if found and found.groupdict().get("student_id"):
            student = "_".join(found.group("student_id").split())
            late = bool(LATE_FLAG.search(name[found.end("student_id"):]))
            moment, origin = None, ""
            if found.groupdict().get("timestamp"):
                moment, origin = parse_timestamp(found.group("timestamp")), "file name"
            if moment is None and use_file_times:
                moment, origin = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc), "file time"
            return _Candidate(path, label, student, moment or datetime.min.replace(tzinfo=timezone.utc), origin, late)
    report.unmatched.append(CollectedFile(source=label, sha256=sha256_file(path),
                                          reason="no student id in the file name"))
    return None


def _entry(candidate: _Candidate, reason: str = "") -> CollectedFile:
    return CollectedFile(source=candidate.source, student=candidate.student,
                         timestamp=format_timestamp(candidate.moment) if candidate.timestamp_from else "",
                         timestamp_from=candidate.timestamp_from, sha256=sha256_file(candidate.path), reason=reason,
                         lms_late=candidate.lms_late)


def _install(candidate: _Candidate, course: Course, report: CollectReport) -> None:
    """Copy one submission into submitted/<student>/<assignment>/ unless what is there wins (a notebook over
    another file, else the newer); whichever loses is kept in the student's history."""
    folder = course.submission_dir(candidate.student)
    entry = _entry(candidate)
    existing = find_submission(folder, course.assignment, course.helpers) if folder.is_dir() else None
    if existing is not None:
        if sha256_file(existing) == entry.sha256:
            entry.destination, entry.reason = str(existing), "already collected (same bytes)"
            report.collected.append(entry)
            return
        existing_time = read_timestamp(folder)
        existing_notebook = existing.suffix.lower() == ".ipynb"
        older = existing_time is not None and candidate.timestamp_from and existing_time > candidate.moment
        if (existing_notebook and not candidate.notebook) or (older and existing_notebook == candidate.notebook):
            entry.reason = (f"not graded: the notebook already in {folder} is" if existing_notebook and not candidate.notebook
                            else f"older than the submission already in {folder}")
            _keep_version(course, candidate.path, candidate.student, candidate.moment if candidate.timestamp_from else None)
            report.superseded.append(entry)
            return
        report.superseded.append(CollectedFile(source=str(existing), student=candidate.student, sha256=sha256_file(existing),
                                               reason=f"replaced by {candidate.source}"))
        for old in [p for p in folder.iterdir() if p.name != TIMESTAMP_FILE]:
            _keep_version(course, old, candidate.student, existing_time)
            old.unlink() if old.is_file() else shutil.rmtree(old)
        (folder / TIMESTAMP_FILE).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = candidate.path.suffix.lower()
    name = f"{course.assignment}{suffix}" if suffix in (".ipynb", ".py") else candidate.path.name
    destination = folder / name
    shutil.copy2(candidate.path, destination)
    if candidate.timestamp_from:
        (folder / TIMESTAMP_FILE).write_text(entry.timestamp, encoding="utf-8")
    entry.destination = str(destination)
    report.collected.append(entry)


def _keep_version(course: Course, path: Path, student: str, moment: datetime | None) -> Path | None:
    """Copy ``path`` into a new numbered folder of the student's history (``003_<time>/``) with its
    timestamp.txt; nothing when the same bytes are already kept there. Versions are never overwritten."""
    history = course.history_dir(student)
    digest = sha256_file(path)
    kept = sorted(p for p in history.glob("*/*") if p.name != TIMESTAMP_FILE) if history.is_dir() else []
    if any(sha256_file(p) == digest for p in kept if p.is_file()):
        return None
    number = 1 + max((int(p.name.split("_")[0]) for p in history.iterdir() if p.name.split("_")[0].isdigit()),
                     default=0) if history.is_dir() else 1
    stamp = moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ") if moment else "unknown-time"
    target = history / f"{number:03d}_{stamp}"
    target.mkdir(parents=True)
    if path.is_dir():
        shutil.copytree(path, target / path.name)
    else:
        shutil.copy2(path, target / path.name)
    if moment:
        (target / TIMESTAMP_FILE).write_text(format_timestamp(moment), encoding="utf-8")
    return target


def collect_exchange(course: Course, exchange_root: Path | None = None, update: bool = True) -> CollectReport:
    """Run nbgrader's own ``nbgrader collect`` for the assignment, then report what is in submitted/."""
    command = nbgrader_command("collect", course.assignment, f"--CourseDirectory.root={Path(course.root).resolve()}")
    if exchange_root:
        command.append(f"--Exchange.root={Path(exchange_root).resolve()}")
    if update:
        command.append("--update")
    done = subprocess.run(command, cwd=course.root, env=nbgrader_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader collect failed (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    report = CollectReport()
    for student in course.students():
        folder = course.submission_dir(student)
        found = find_submission(folder, course.assignment, course.helpers)
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
