"""Grade a whole class: every ``submitted/<student>/<assignment>/`` into the kit's graded folder, resumably.

``--jobs N`` grading jobs (``job.py``: one process each, torch imported once) grade the submissions
one after another. Each result is built in a scratch folder and renamed into place whole, then its
manifest row is written atomically. A row is current only while the submission's SHA-256, the
grading configuration's digest, the graders' digest and the kit version all match; a re-run grades
the rest.

Only a finished ``grade()`` is a grade (status ``graded``), and the student's own faults that need no
grading (no file, not a notebook) are zero rows. Everything else is the grader's or the host's
fault: a ``GraderError``, a grading job that died, a submission past the wall limit. Such a row has
status ``error``, the reason and no score; it is never kept as current, so the next run retries it.
"""
from __future__ import annotations

import difflib
import fcntl
import json
import os
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from select import select as wait_readable

from ..engine.config import GradingConfig, grading_digest
from ..engine.files import sha256_file
from .job import ERROR, GRADED, JobProcess
from .layout import SUBMISSION_SUFFIXES, Course, find_submission
from .progress import Progress
from ..engine.provenance import graders_digest, kit_release, provenance
from ..engine.results import SubmissionResult, TestResult, load_result, merge_part, write_json_atomic, write_result
from .shard import Shard

NOT_NOTEBOOK, NO_FILE = "not_a_notebook", "no_file"
SCORED = (GRADED, NOT_NOTEBOOK, NO_FILE)  # rows that carry a score; anything else is retried
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Task:
    student: str
    submission: Path | None
    sha256: str
    select: str | None = None  # a pytest -k expression: only these tests, merged into the previous result
    part: str | None = None  # the part whose tests ``select`` re-grades


@dataclass
class BatchSummary:
    graded: list[str] = field(default_factory=list)  # a result recorded this run (zero rows included)
    failed: list[str] = field(default_factory=list)  # of which zero rows (no file, not a notebook)
    errors: dict[str, str] = field(default_factory=dict)  # student -> grader/host fault: no score, retried
    skipped: list[str] = field(default_factory=list)  # unchanged since the manifest's row
    interrupted: int = 0  # the signal that stopped the run, 0 if none
    seconds: float = 0.0


class UnknownStudents(ValueError):
    """``--student`` named someone with no submission folder (nothing was graded or written)."""


def default_jobs(config: GradingConfig) -> int:
    """As many grading processes as the cores allow at ``[sandbox] torch_threads`` each."""
    return max(1, (os.cpu_count() or 1) // max(1, config.sandbox.torch_threads))


def digests(config: GradingConfig) -> dict[str, str]:
    """What besides the submission determines a grade; every row and manifest records it."""
    return {"config_sha256": grading_digest(config), "graders_sha256": graders_digest(config.definition.graders_dir), "kit_version": kit_release()}


def manifest_path(course: Course, shard: Shard | None = None) -> Path:
    return course.manifest if shard is None else course.manifest.with_name(shard.manifest_name)


def load_manifest(course: Course, shard: Shard | None = None) -> dict:
    """The manifest (a shard's own, started from the merged one's rows of that shard if it has none)."""
    manifest = {}
    for path in ([manifest_path(course, shard)] if shard is None else [manifest_path(course, shard), course.manifest]):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        break
    manifest["assignment"] = course.assignment
    rows = manifest.get("students", {})
    manifest["students"] = {s: row for s, row in rows.items() if shard is None or shard.holds(s)}
    return manifest


def check_students(course: Course, students: list[str]) -> None:
    known = course.students()
    unknown = [s for s in students if s not in known]
    if unknown:
        lines = []
        for student in unknown:
            close = difflib.get_close_matches(student, known, n=3, cutoff=0.6)
            lines.append(f"{student!r} has no submission in {course.submitted}"
                         + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise UnknownStudents("; ".join(lines) + "; nothing was graded")


def drop_rows(course: Course, students: list[str]) -> list[Path]:
    """Remove the rows of students who no longer have a submission folder (a withdrawn student, a row
    left by an older kit) from every manifest, shards included, and their kit result folders. Returns
    the manifests changed. Refused, with nothing changed, for a student who still has a submission
    (the next run would grade them again) or who has no row anywhere."""
    manifests = sorted(course.autograded.glob("manifest*.json"))
    rows = {path: json.loads(path.read_text(encoding="utf-8")) for path in manifests}
    problems = []
    for student in students:
        if course.submission_dir(student).is_dir():
            problems.append(f"{student!r} still has a submission in {course.submission_dir(student)}: move that "
                            "folder out of submitted/ first, or grade-all grades it again")
        elif not any(student in manifest.get("students", {}) for manifest in rows.values()):
            known = sorted({s for manifest in rows.values() for s in manifest.get("students", {})})
            close = difflib.get_close_matches(student, known, n=3, cutoff=0.6)
            problems.append(f"{student!r} has no row in {course.autograded}"
                            + (f" (did you mean {', '.join(close)}?)" if close else ""))
    if problems:
        raise UnknownStudents("; ".join(problems) + "; nothing was dropped")
    changed = []
    for path in manifests:
        with _locked(path):
            manifest = json.loads(path.read_text(encoding="utf-8"))  # again, under the lock
            if any(student in manifest.get("students", {}) for student in students):
                for student in students:
                    manifest["students"].pop(student, None)
                write_json_atomic(path, manifest)
                changed.append(path)
    for student in students:
        shutil.rmtree(course.graded_dir(student), ignore_errors=True)
        try:
            course.graded_dir(student).parent.rmdir()
        except OSError:
            pass
    return changed


def current(course: Course, student: str, row: dict | None, sha: str, keys: dict[str, str]) -> bool:
    """The row is the true, finished grade of this submission under today's settings."""
    return (row is not None and row.get("status") in SCORED and row.get("sha256") == sha
            and all(row.get(key) == value for key, value in keys.items())
            and (course.graded_dir(student) / "results.json").is_file())


def plan(course: Course, config: GradingConfig, students: list[str] | None = None, force: bool = False,
         manifest: dict | None = None, part: str | None = None, select: str | None = None,
         shard: Shard | None = None) -> tuple[list[Task], list[str]]:
    """(tasks to grade, students skipped as already graded). With ``part``, a student whose current
    result is a finished grade of the same file under the same settings re-grades that part only;
    anyone else (re-submitted, other settings, an error or zero row, no result) is graded whole."""
    manifest = manifest if manifest is not None else load_manifest(course, shard)
    keys = digests(config)
    tasks, skipped = [], []
    for student in students or course.students():
        if shard is not None and not shard.holds(student):
            continue
        folder = course.submission_dir(student)
        submission = find_submission(folder, course.assignment, course.helpers) if folder.is_dir() else None
        sha = sha256_file(submission) if submission else ""
        is_current = current(course, student, manifest["students"].get(student), sha, keys)
        if is_current and not force:
            skipped.append(student)
        elif part is not None and is_current and manifest["students"][student]["status"] == GRADED:
            tasks.append(Task(student, submission, sha, select or part, part))
        else:
            tasks.append(Task(student, submission, sha))
    return tasks, skipped


def grade_all(course: Course, config: GradingConfig, jobs: int | None = None, timeout: float = 900.0,
              students: list[str] | None = None, part: str | None = None, select: str | None = None,
              force: bool = False, progress: Progress | None = None, shard: Shard | None = None) -> BatchSummary:
    """Grade what ``plan`` says needs grading, ``jobs`` at a time; see the module docstring."""
    if select is not None and part is None:
        raise ValueError("--select re-grades some tests of one part: give the part with --part")
    if students:
        check_students(course, students)
    started = time.monotonic()
    course.autograded.mkdir(parents=True, exist_ok=True)
    with _locked(manifest_path(course, shard)):
        shutil.rmtree(_work_root(manifest_path(course, shard)), ignore_errors=True)  # what a killed run left
        manifest = load_manifest(course, shard)
        tasks, skipped = plan(course, config, students, force or bool(students) or part is not None,
                              manifest, part, select, shard)
        summary = BatchSummary(skipped=skipped)
        progress = progress or Progress(len(tasks))
        progress.start(len(tasks), len(skipped))
        batch = _Batch(course, config, manifest, manifest_path(course, shard), summary, progress, shard)
        batch.run(tasks, jobs or default_jobs(config), timeout)
    summary.seconds = time.monotonic() - started
    progress.close(bool(summary.interrupted))
    return summary


class _locked:
    """One run per manifest at a time (shards of one class may run side by side)."""

    def __init__(self, manifest: Path):
        self.path = manifest.with_suffix(".lock")

    def __enter__(self):
        self.handle = open(self.path, "w")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise RuntimeError(f"another grade-all or merge is using {self.path.with_suffix('.json')}") from None

    def __exit__(self, *exc):
        self.handle.close()


def error_report(errors: dict[str, str]) -> list[str]:
    """One line per cause (the reason's first line), naming the students it hit."""
    causes: dict[str, list[str]] = {}
    for student, reason in sorted(errors.items()):
        lines = [line for line in reason.strip().splitlines() if line.strip()] or ["unknown"]
        cause = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]  # past a heading
        causes.setdefault(cause.strip()[:300], []).append(student)
    return [f"{len(names)} not graded: {cause} [{', '.join(names[:10])}{', …' if len(names) > 10 else ''}]"
            for cause, names in sorted(causes.items(), key=lambda item: -len(item[1]))]


class _Batch:
    """One run: hands tasks to grading jobs, records each outcome as it arrives."""

    def __init__(self, course, config, manifest, path, summary, progress, shard):
        self.course, self.config, self.manifest, self.path = course, config, manifest, path
        self.summary, self.progress, self.keys = summary, progress, digests(config)
        self.manifest.update({"assignment": course.assignment, **self.keys})
        if shard is not None:
            self.manifest["shard"] = str(shard)
        self.work = _work_root(path)
        self.logs = path.parent / ".logs" / path.stem
        self.spawned = 0

    def run(self, tasks: list[Task], jobs: int, timeout: float) -> None:
        stop = {}
        previous = {s: signal.signal(s, lambda number, _frame: stop.setdefault("signal", number)) for s in STOP_SIGNALS}
        busy: dict[JobProcess, Path] = {}
        idle: list[JobProcess] = []
        queue = list(tasks)
        try:
            while (queue or busy) and not stop:
                while queue and len(busy) < jobs and not stop:
                    task = queue.pop(0)
                    if (zero := _immediate_zero(task, self.config.assignment.notebook)) is not None:
                        self._record_zero(task, *zero)
                        continue
                    job = idle.pop() if idle else self._spawn(jobs)
                    busy[job] = self._scratch(task.student)
                    job.send(task, task.submission.resolve(), busy[job], task.select)
                if busy:
                    wait_readable(list(busy), [], [], 0.2)
                for job in list(busy):
                    outcome = self._outcome(job, timeout)
                    if outcome is None:
                        continue
                    work = busy.pop(job)
                    if job.process.poll() is None:
                        idle.append(job)
                    self._record(job.task, work, outcome, time.monotonic() - job.sent_at)
        finally:
            for job in [*busy, *idle]:
                job.kill()
            shutil.rmtree(self.work, ignore_errors=True)
            try:
                self.work.parent.rmdir()  # when no other shard is running
            except OSError:
                pass
            for number, handler in previous.items():
                signal.signal(number, handler)
        self.summary.interrupted = stop.get("signal", 0)

    def _spawn(self, jobs: int) -> JobProcess:
        self.logs.mkdir(parents=True, exist_ok=True)
        if self.spawned == 0:
            for old in self.logs.glob("job-*.log"):
                old.unlink()
        self.spawned += 1
        return JobProcess(Path(self.config.path), self.logs / f"job-{self.spawned}.log", str(self.course.autograded), jobs)

    def _scratch(self, student: str) -> Path:
        work = self.work / f"{student}.{uuid.uuid4().hex[:8]}"
        work.mkdir(parents=True)
        return work

    @staticmethod
    def _outcome(job: JobProcess, timeout: float) -> dict | None:
        """The job's answer for its task, or an error if it died or ran past ``timeout``; None: still grading."""
        answers, ended = job.answers()
        for answer in answers:
            if answer.get("id") == job.task.student:
                return answer
        if ended or job.process.poll() is not None:
            reason = job.death()
            job.kill()
            return {"status": ERROR, "reason": reason}
        if time.monotonic() - job.sent_at > timeout:
            job.kill()
            return {"status": ERROR, "reason": f"grading ran past the {timeout:g} s wall limit and was stopped "
                                                "(the grader's own time budget should have ended it)"}
        return None

    def _record(self, task: Task, work: Path, outcome: dict, seconds: float) -> None:
        if outcome.get("status") == GRADED:
            try:
                self._record_graded(task, work, seconds)
                return
            except (OSError, ValueError) as error:  # the result could not be merged or published
                outcome = {"status": ERROR, "reason": f"the result could not be recorded: {error}"}
        shutil.rmtree(work, ignore_errors=True)
        reason = outcome.get("reason") or "unknown grader fault"
        self.summary.errors[task.student] = reason
        self._save(task.student, {**self._provenance(task), "status": ERROR, "reason": reason,
                                  "seconds": round(seconds, 2), "attempted_at": _now()})
        self.progress.finished(task.student, ERROR, seconds, failed=True)

    def _record_graded(self, task: Task, work: Path, seconds: float) -> None:
        result = load_result(work)
        if task.part is not None:  # plan asked for it only on a finished grade of the same file; merge_part checks
            result = merge_part(load_result(self.course.graded_dir(task.student)), result, task.part)
            write_result(work, result)
            _render_html(work)  # the merged feedback.json needs its report drawn again
        self._publish(task.student, work)
        self._save(task.student, self._row(task, GRADED, " ".join(result.problems)[:500], result, seconds))
        self.summary.graded.append(task.student)
        self.progress.finished(task.student, GRADED, seconds)

    def _record_zero(self, task: Task, status: str, reason: str) -> None:
        """A graded-zero row, with a results.json that names every part and says why."""
        work = self._scratch(task.student)
        tests = [TestResult(name=f"{part.title}: not graded", part=key, max_score=part.points, passed=False,
                            summary=f"Not graded: {reason}.") for key, part in self.config.parts.items()]
        result = SubmissionResult(submission=str(task.submission or ""), kind="unreadable", tests=tests,
                                  parts={k: (p.title, p.points) for k, p in self.config.parts.items()},
                                  problems=[reason], provenance=provenance(self.config, task.submission or ""))
        write_result(work, result)
        _render_html(work)
        self._publish(task.student, work)
        self._save(task.student, self._row(task, status, reason, result, 0.0))
        self.summary.graded.append(task.student)
        self.summary.failed.append(task.student)
        self.progress.finished(task.student, status, 0.0, failed=True)

    def _publish(self, student: str, work: Path) -> None:
        """Replace the student's result folder by ``work`` with renames: never a half-written folder."""
        target = self.course.graded_dir(student)
        target.parent.mkdir(parents=True, exist_ok=True)
        old = work.with_name(work.name + ".old")
        if target.exists():
            os.replace(target, old)
        os.replace(work, target)
        shutil.rmtree(old, ignore_errors=True)

    def _provenance(self, task: Task) -> dict:
        submission = task.submission
        if submission is not None and submission.is_relative_to(self.course.root):
            submission = submission.relative_to(self.course.root)  # the same row on every machine
        return {"submission": str(submission or ""), "sha256": task.sha256, **self.keys}

    def _row(self, task: Task, status: str, reason: str, result: SubmissionResult, seconds: float) -> dict:
        row = {**self._provenance(task), "status": status, "reason": reason, "score": result.score,
               "max_score": result.max_score, "parts": result.part_scores(),
               "seconds": round(seconds, 2), "execution_time": round(result.execution_time, 2),
               "graded_at": _now()}
        if result.provenance.get("submission_sha256"):  # the bytes actually graded, if the file changed since plan
            row["sha256"] = result.provenance["submission_sha256"]
        return row

    def _save(self, student: str, row: dict) -> None:
        self.manifest["students"][student] = row
        write_json_atomic(self.path, self.manifest)


def _work_root(manifest: Path) -> Path:
    """Scratch folders of the run that writes ``manifest`` (shards running side by side keep apart)."""
    return manifest.parent / ".work" / manifest.stem


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _immediate_zero(task: Task, notebook: str) -> tuple[str, str] | None:
    """A zero row that needs no grading: no file, or a file that is not a notebook (``notebook``: the
    assignment's, named in the reason)."""
    if task.submission is None:
        return NO_FILE, "the submission folder holds no file"
    if task.submission.suffix.lower() not in SUBMISSION_SUFFIXES:
        return NOT_NOTEBOOK, (f"not a notebook: {task.submission.name} is not a .ipynb or .py file; "
                              f"submit the completed {notebook}")
    return None


def _render_html(work: Path) -> None:
    try:
        from ..engine.feedback_html import write_feedback
    except ImportError:  # the HTML report is optional; results.json is the grade
        return
    write_feedback(work)  # never raises for drawing problems; a page that says so instead
