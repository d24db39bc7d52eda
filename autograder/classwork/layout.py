"""Where the class workflow keeps things, defined once.

    <course>/submitted/<student>/<assignment>/        collected submissions (+ timestamp.txt), nbgrader's layout
    <course>/cnnkit/graded/<student>/<assignment>/    results.json, feedback.json, feedback.html
    <course>/cnnkit/graded/manifest.json              one row per student: what was graded, with which hash
    <course>/cnnkit/history/<assignment>/<student>/   every superseded version, numbered, with its timestamp
    <course>/cnnkit/collect-<assignment>.json         the collect report of every run, appended
    <course>/export/<assignment>/                     gradebook CSV and per-student copies for students

The kit's outputs live in cnnkit/, a folder nbgrader never touches: they used to sit in nbgrader's
autograded/, which ``nbgrader autograde --force`` deletes per student. ``migrate_legacy_results``
copies results from there once.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..engine.config import KIT_ROOT
from ..engine.files import write_atomic

SUBMISSION_SUFFIXES = (".ipynb", ".py")
TIMESTAMP_FILE = "timestamp.txt"
KIT_FOLDER = "cnnkit"
KIT_RESULT_FILES = ("results.json", "feedback.json", "feedback.html")
# nbgrader's Exchange.timestamp_format, so nbgrader reads what we write and the other way round.
NBGRADER_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


@dataclass(frozen=True)
class Course:
    root: Path
    assignment: str  # its name: submitted/<student>/<assignment>/
    helpers: tuple[str, ...] = ()  # files a release ships beside the notebook: never the answer

    @classmethod
    def of(cls, root: Path, definition) -> "Course":
        """The course folder ``root`` for the assignment ``definition`` (``config.definition``)."""
        return cls(Path(root), definition.name, tuple(definition.student_files))

    @property
    def submitted(self) -> Path:
        return Path(self.root) / "submitted"

    @property
    def kit(self) -> Path:
        """The kit's own folder in the course: nbgrader never reads or deletes it."""
        return Path(self.root) / KIT_FOLDER

    @property
    def autograded(self) -> Path:
        """The kit's results (named after the step; not nbgrader's autograded/, see ``legacy_autograded``)."""
        return self.kit / "graded"

    @property
    def legacy_autograded(self) -> Path:
        """nbgrader's autograded/, where kits before cnnkit/ wrote their results."""
        return Path(self.root) / "autograded"

    @property
    def collect_report(self) -> Path:
        return self.kit / f"collect-{self.assignment}.json"

    def history_dir(self, student: str) -> Path:
        return self.kit / "history" / self.assignment / student

    @property
    def manifest(self) -> Path:
        return self.autograded / "manifest.json"

    def submission_dir(self, student: str) -> Path:
        return self.submitted / student / self.assignment

    def graded_dir(self, student: str) -> Path:
        return self.autograded / student / self.assignment

    def students(self) -> list[str]:
        """Students with a submission folder for this assignment, sorted."""
        if not self.submitted.is_dir():
            return []
        return sorted(p.name for p in self.submitted.iterdir() if (p / self.assignment).is_dir())


def migrate_legacy_results(course: Course) -> list[str]:
    """Copy results from nbgrader's autograded/ (where older kits wrote them) into cnnkit/graded/, once:
    only when cnnkit/ has no manifest yet. Returns the students copied; the old files stay where they are."""
    old_manifest = course.legacy_autograded / "manifest.json"
    if course.manifest.exists() or not old_manifest.is_file():
        return []
    copied = []
    for folder in sorted(course.legacy_autograded.glob(f"*/{course.assignment}")):
        files = [folder / name for name in KIT_RESULT_FILES if (folder / name).is_file()]
        if files:
            target = course.graded_dir(folder.parent.name)
            target.mkdir(parents=True, exist_ok=True)
            for file in files:
                shutil.copy2(file, target / file.name)
            copied.append(folder.parent.name)
    course.manifest.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(course.manifest, old_manifest.read_bytes())  # the manifest last: a partial copy is retried
    return copied


def find_submission(folder: Path, assignment: str, helpers: tuple[str, ...] = ()) -> Path | None:
    """The file to grade in one student's submission folder (None when the folder is empty).

    Preference: ``<assignment>.ipynb``, another notebook, ``<assignment>.py``, another Python file that
    is not a release helper, then whatever else is there (graded as "not a notebook").
    """
    files = sorted(p for p in Path(folder).iterdir()
                   if p.is_file() and p.name != TIMESTAMP_FILE and not p.name.startswith("."))
    ranked = ([p for p in files if p.name == f"{assignment}.ipynb"]
              + [p for p in files if p.suffix == ".ipynb"]
              + [p for p in files if p.name == f"{assignment}.py"]
              + [p for p in files if p.suffix == ".py" and p.name not in helpers]
              + [p for p in files if p.suffix not in SUBMISSION_SUFFIXES])
    return ranked[0] if ranked else None


def parse_timestamp(text: str) -> datetime | None:
    """A submission time as nbgrader writes it (or ISO 8601); naive times are UTC. None if unreadable."""
    text = text.strip()
    if not text:
        return None
    candidates = [text, text.replace(" UTC", "+00:00").replace(" ", "T", 1)]
    for candidate in candidates:
        try:
            moment = datetime.fromisoformat(candidate)
            break
        except ValueError:
            continue
    else:
        for fmt in ("%Y-%m-%d-%H-%M-%S", "%Y%m%d%H%M%S", "%Y-%m-%d %H:%M:%S.%f %Z", "%Y-%m-%d %H:%M:%S %Z"):
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def format_timestamp(moment: datetime) -> str:
    """``moment`` in nbgrader's timestamp.txt format, in UTC."""
    return moment.astimezone(timezone.utc).strftime(NBGRADER_TIMESTAMP_FORMAT)


def read_timestamp(folder: Path) -> datetime | None:
    path = Path(folder) / TIMESTAMP_FILE
    try:
        return parse_timestamp(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
