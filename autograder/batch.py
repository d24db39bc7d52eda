"""Grade a whole class: every ``submitted/<student>/<assignment>/`` into ``autograded/…``, resumably.

Each submission is graded by its own ``python -m autograder grade … --quiet`` process (its own
process group), so a crash, a hang or a hostile submission costs only that submission. The
manifest (``autograded/manifest.json``, rewritten atomically after every finished submission)
holds one row per student with the SHA-256 of what was graded: a re-run grades only what is
missing or changed, and a SIGINT keeps every finished row. A submission that is not a notebook,
crashes the grader or runs past the wall limit gets a graded-zero row with the reason.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .config import KIT_ROOT, GradingConfig
from .layout import SUBMISSION_SUFFIXES, Course, find_submission, sha256_file
from .progress import Progress
from .results import SubmissionResult, TestResult, write_json_atomic

GRADED, NOT_NOTEBOOK, CRASHED, TIMED_OUT, NO_FILE = "graded", "not_a_notebook", "crashed", "timed_out", "no_file"
OUTPUT_FILES = ("results.json", "feedback.json", "feedback.html")


@dataclass
class Task:
    student: str
    submission: Path | None
    sha256: str


@dataclass
class BatchSummary:
    graded: list[str] = field(default_factory=list)  # finished this run (any status)
    failed: list[str] = field(default_factory=list)  # finished with a zero row (crash, timeout, …)
    skipped: list[str] = field(default_factory=list)  # unchanged since the manifest's row
    interrupted: bool = False
    seconds: float = 0.0


def default_jobs(config: GradingConfig) -> int:
    """As many grading processes as the cores allow at ``[sandbox] torch_threads`` each."""
    return max(1, (os.cpu_count() or 1) // max(1, config.sandbox.torch_threads))


def config_digest(config: GradingConfig) -> str:
    return hashlib.sha256(Path(config.path).read_bytes()).hexdigest()


def load_manifest(course: Course) -> dict:
    try:
        manifest = json.loads(course.manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    manifest.setdefault("assignment", course.assignment)
    manifest.setdefault("students", {})
    return manifest


def plan(course: Course, config: GradingConfig, students: list[str] | None = None,
         force: bool = False, manifest: dict | None = None) -> tuple[list[Task], list[str]]:
    """(tasks to grade, students skipped as already graded): what a run has to do."""
    manifest = manifest if manifest is not None else load_manifest(course)
    digest = config_digest(config)
    tasks, skipped = [], []
    for student in students or course.students():
        folder = course.submission_dir(student)
        submission = find_submission(folder, course.assignment) if folder.is_dir() else None
        sha = sha256_file(submission) if submission else ""
        row = manifest["students"].get(student)
        done = (row is not None and row.get("sha256") == sha and row.get("config_sha256") == digest
                and (course.graded_dir(student) / "results.json").is_file())
        if done and not force:
            skipped.append(student)
        else:
            tasks.append(Task(student, submission, sha))
    return tasks, skipped


def grade_all(course: Course, config: GradingConfig, jobs: int | None = None, timeout: float = 900.0,
              students: list[str] | None = None, part: str | None = None, select: str | None = None,
              force: bool = False, progress: Progress | None = None) -> BatchSummary:
    """Grade what ``plan`` says needs grading, ``jobs`` at a time; see the module docstring."""
    started = time.monotonic()
    course.autograded.mkdir(parents=True, exist_ok=True)
    lock = open(course.autograded / ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RuntimeError(f"another grade-all is running on {course.autograded}") from None
    try:
        return _run(course, config, jobs or default_jobs(config), timeout, students, part, select,
                    force or bool(students) or part is not None or select is not None, progress, started)
    finally:
        lock.close()


def _run(course, config, jobs, timeout, students, part, select, force, progress, started) -> BatchSummary:
    manifest = load_manifest(course)
    tasks, skipped = plan(course, config, students, force, manifest)
    summary = BatchSummary(skipped=skipped)
    progress = progress or Progress(len(tasks))
    progress.start(len(tasks), len(skipped))
    if part is not None and select is None:
        select = part
    stop = {"flag": False}
    previous_handler = signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    running: dict[str, tuple[subprocess.Popen, Task, float, Path]] = {}
    queue = list(tasks)
    try:
        while (queue or running) and not stop["flag"]:
            while queue and len(running) < jobs and not stop["flag"]:
                task = queue.pop(0)
                immediate = _immediate_zero(task)
                if immediate:
                    _finish_zero(course, config, manifest, task, *immediate, seconds=0.0)
                    summary.graded.append(task.student)
                    summary.failed.append(task.student)
                    progress.finished(task.student, immediate[0], 0.0, failed=True)
                    continue
                running[task.student] = _launch_entry(course, config, task, select)
            time.sleep(0.1)
            for student, (process, task, begun, work) in list(running.items()):
                elapsed = time.monotonic() - begun
                if process.poll() is None and elapsed < timeout:
                    continue
                if process.poll() is None:
                    _kill(process)
                    status, reason = TIMED_OUT, f"grading took longer than the {timeout:g} s limit and was stopped"
                else:
                    status, reason = _outcome(process.returncode, work)
                del running[student]
                if status == GRADED:
                    _finish_graded(course, config, manifest, task, work, elapsed, part)
                else:
                    _finish_zero(course, config, manifest, task, status, reason, seconds=elapsed)
                    summary.failed.append(student)
                shutil.rmtree(work, ignore_errors=True)
                summary.graded.append(student)
                progress.finished(student, status, elapsed, failed=status != GRADED)
    finally:
        for process, task, begun, work in running.values():
            _kill(process)
            shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGINT, previous_handler)
    summary.interrupted = stop["flag"]
    summary.seconds = time.monotonic() - started
    progress.close(summary.interrupted)
    return summary


def _launch_entry(course: Course, config: GradingConfig, task: Task, select: str | None):
    """Start one grading process; returns (process, task, start time, work dir)."""
    work = course.autograded / ".work" / task.student
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    command = [sys.executable, "-m", "autograder", "--config", str(config.path), "grade",
               str(task.submission.resolve()), "--out", str(work.resolve()), "--quiet"]
    if select:
        command += ["--select", select]
    log = open(work / "grader.log", "wb")
    process = subprocess.Popen(command, cwd=KIT_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # own group: killable as a whole, no terminal SIGINT
    log.close()
    return process, task, time.monotonic(), work


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _immediate_zero(task: Task) -> tuple[str, str] | None:
    """A zero row that needs no grading process: no file, or a file that is not a notebook."""
    if task.submission is None:
        return NO_FILE, "the submission folder holds no file"
    if task.submission.suffix.lower() not in SUBMISSION_SUFFIXES:
        return NOT_NOTEBOOK, (f"not a notebook: {task.submission.name} is not a .ipynb or .py file; "
                              "submit the completed cnn_week1.ipynb")
    return None


def _outcome(code: int, work: Path) -> tuple[str, str]:
    if code == 0 and (work / "results.json").is_file():
        return GRADED, ""
    tail = ""
    try:
        tail = (work / "grader.log").read_text(errors="replace").strip().splitlines()[-1][:300]
    except (OSError, IndexError):
        pass
    how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    return CRASHED, f"the grader crashed on this submission ({how}){': ' + tail if tail else ''}"


def _row(config: GradingConfig, task: Task, status: str, reason: str, results: dict, seconds: float) -> dict:
    parts = {key: 0.0 for key in config.parts}
    for test in results.get("tests", []):
        for tag in test.get("tags", []):
            if tag in parts:
                parts[tag] += float(test.get("score", 0))
    parts = {key: round(value, 2) for key, value in parts.items()}  # test scores are whole cents
    return {
        "submission": str(task.submission) if task.submission else "",
        "sha256": task.sha256, "config_sha256": config_digest(config),
        "status": status, "reason": reason,
        "score": float(results.get("score", 0.0)), "max_score": float(results.get("max_score", config.max_score)),
        "parts": parts, "seconds": round(seconds, 2), "execution_time": results.get("execution_time"),
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _publish(course: Course, student: str, work: Path) -> None:
    """Move the finished files into autograded/<student>/<assignment>/ (replacing the old ones)."""
    target = course.graded_dir(student)
    target.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:
        if (work / name).exists():
            os.replace(work / name, target / name)
        elif (target / name).exists() and name != "feedback.html":
            (target / name).unlink()


def _render_html(work: Path) -> None:
    try:
        from .feedback_html import write_feedback
    except ImportError:  # the HTML report is optional; results.json is the grade
        return
    try:
        write_feedback(work)
    except Exception as error:  # a rendering bug must not cost the grade
        (work / "feedback.html").write_text(f"<p>The feedback report could not be rendered: {error}</p>")


def _finish_graded(course, config, manifest, task: Task, work: Path, seconds: float, part: str | None) -> None:
    if part is not None:  # the merged feedback.json needs its report drawn again
        _merge_part(course.graded_dir(task.student), work, part)
        _render_html(work)
    results = json.loads((work / "results.json").read_text(encoding="utf-8"))
    try:
        problems = json.loads((work / "feedback.json").read_text(encoding="utf-8")).get("problems", [])
    except (OSError, ValueError):
        problems = []
    _publish(course, task.student, work)
    manifest["students"][task.student] = _row(config, task, GRADED, " ".join(problems)[:500], results, seconds)
    write_json_atomic(course.manifest, manifest)


def _finish_zero(course, config, manifest, task: Task, status: str, reason: str, seconds: float) -> None:
    """A graded-zero row, with a results.json that names every part and says why."""
    work = course.autograded / ".work" / task.student
    work.mkdir(parents=True, exist_ok=True)
    tests = [TestResult(name=f"{part.title}: not graded", part=key, max_score=part.points, passed=False,
                        summary=f"Not graded: {reason}.") for key, part in config.parts.items()]
    result = SubmissionResult(submission=str(task.submission or ""), kind="unreadable", tests=tests,
                              parts={k: (p.title, p.points) for k, p in config.parts.items()}, problems=[reason])
    write_json_atomic(work / "results.json", result.to_gradescope())
    write_json_atomic(work / "feedback.json", result.to_feedback_data())
    _render_html(work)
    results = result.to_gradescope()
    _publish(course, task.student, work)
    shutil.rmtree(work, ignore_errors=True)
    manifest["students"][task.student] = _row(config, task, status, reason, results, seconds)
    write_json_atomic(course.manifest, manifest)


def _merge_part(previous_dir: Path, work: Path, part: str) -> None:
    """Re-grading one part: keep the previous results of the other parts, take this part's new ones."""
    old_path = previous_dir / "results.json"
    if not old_path.is_file():
        return  # nothing to merge with: the partial results are all there is
    for name, key_of in (("results.json", lambda t: t.get("tags", [None])[0]), ("feedback.json", lambda t: t.get("part"))):
        old = json.loads((previous_dir / name).read_text(encoding="utf-8")) if (previous_dir / name).is_file() else None
        new = json.loads((work / name).read_text(encoding="utf-8")) if (work / name).is_file() else None
        if old is None or new is None:
            continue
        fresh = [t for t in new.get("tests", []) if key_of(t) == part]
        if not fresh:
            raise RuntimeError(f"--part {part}: the selection graded no test of part {part!r}")
        tests, placed = [], False
        for test in old.get("tests", []):
            if key_of(test) == part:
                if not placed:
                    tests += fresh
                    placed = True
            else:
                tests.append(test)
        if not placed:
            tests += fresh
        old["tests"] = tests
        # tests' scores are stored rounded to 4 places: their sum is good to 2 (what Gradescope shows)
        old["score"] = round(sum(float(t.get("score", 0)) for t in tests), 2)
        if isinstance(old.get("output"), str) and old["output"].startswith("Score: "):
            rest = old["output"].split("\n", 1)[1:]
            old["output"] = "\n".join([f"Score: {old['score']:g} / {old.get('max_score', 0):g}"] + rest)
        write_json_atomic(work / name, old)
