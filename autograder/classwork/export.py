"""The class's grades, out: a CSV gradebook, per-student copies, and nbgrader's gradebook database.

One row per student with a submission folder (zero rows and missing grades included). The late
policy is applied here, from nbgrader's ``timestamp.txt``. The same numbers go into nbgrader's
gradebook through ``nbgrader.api.Gradebook``: one notebook with one grade cell per part (max score
= the part's points), the part scores as auto scores, the submission time, and the late penalty
(in points) as nbgrader's ``late_submission_penalty``, so ``nbgrader export`` and formgrader show
the final score.

The copies handed back to students say the same: results.json's ``score`` is the final score, with
a ``late_penalty`` record (raw score, penalty, final) and a line in its ``output``; feedback.html
opens with the same line. A student exported at 80 never reads 100.

Only a current scored row is a grade. Everything else is exported as *missing* — empty score cells
and a ``status``/``reason`` saying why, never a 0 — and makes ``export`` exit non-zero:
an ``error`` row (a grader or host fault; grade-all retries it), a ``stale`` row (the submission,
the grading settings or the graders changed since it was graded), a ``not_graded`` student (a
submission with no row yet). Their handed-back folder is removed rather than filled from an older
result, and in nbgrader's gradebook their grades have no auto score and need manual grading (nbgrader
has no "missing": its own export writes 0 for them, which is why ours refuses to pass silently). A
row whose student has no submission folder any more is left out everywhere and reported (remove it
with ``grade-all --drop``). A student who submitted an empty folder (``no_file``) or something
that is not a notebook does have a grade: 0, with the reason.
"""
from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

from .batch import SCORED, current, digests, load_manifest
from ..engine.config import GradingConfig
from .late import apply_late_policy
from .nbgrader_run import nbgrader_path
from .layout import Course, find_submission, format_timestamp, parse_timestamp, read_timestamp
from ..engine.files import sha256_file, write_atomic
from ..engine.results import read_results, write_json_atomic

def columns(config: GradingConfig) -> list[str]:
    return (["student_id"] + list(config.parts) + ["total", "max_score", "late", "days_late", "penalty_percent",
                                                      "penalty_points", "final_score", "submitted_at", "status", "reason"])


STALE, NOT_GRADED = "stale", "not_graded"
MISSING_REASONS = {
    STALE: ("out of date: the submission, the grading settings or the graders changed since it was graded, "
            "or its result files are gone: run grade-all"),
    NOT_GRADED: "submitted but not graded yet: run grade-all",
}


@dataclass
class Exported:
    csv: Path
    folder: Path
    rows: list[dict]
    gradebook: str | None
    missing: dict[str, str]  # student -> why there is no grade (error, stale, not graded): empty cells, not 0
    phantoms: list[str]  # manifest rows whose student has no submission folder: left out everywhere

    @property
    def complete(self) -> bool:
        return not self.missing and not self.phantoms


def gradebook_rows(course: Course, config: GradingConfig) -> tuple[list[dict], list[str]]:
    """(one dict per student with a submission, keys = ``columns``, sorted by id; the phantom rows).
    A student without a current scored row gets empty score cells, never a 0 (see the module docstring)."""
    manifest = load_manifest(course)["students"]
    keys = digests(config)
    submitted = course.students()
    rows = []
    for student in submitted:
        entry = manifest.get(student)
        moment = read_timestamp(course.submission_dir(student))
        submission = find_submission(course.submission_dir(student), course.assignment, course.helpers)
        sha = sha256_file(submission) if submission else ""
        if entry is None:
            status, why = NOT_GRADED, MISSING_REASONS[NOT_GRADED]
        elif entry.get("status") not in SCORED:
            status, why = entry.get("status") or "error", "not graded (not the student's fault): " + (
                entry.get("reason") or "unknown grader fault") + "; fix the cause and run grade-all again"
        elif not current(course, student, entry, sha, keys):
            status, why = STALE, MISSING_REASONS[STALE]
        else:
            rows.append(_scored_row(student, entry, moment, config))
            continue
        rows.append({**{name: "" for name in columns(config)}, "student_id": student,
                     "max_score": config.max_score, "submitted_at": format_timestamp(moment) if moment else "",
                     "status": status, "reason": " ".join(why.split())[:500]})
    return rows, sorted(set(manifest) - set(submitted))


def _scored_row(student: str, entry: dict, moment, config: GradingConfig) -> dict:
    parts = {key: float(entry.get("parts", {}).get(key, 0.0)) for key in config.parts}
    total = round(sum(parts.values()), 2)
    late = apply_late_policy(total, moment, config.assignment)
    reason = "; ".join(text for text in (entry.get("reason", ""), late.note) if text)
    return {"student_id": student, **parts, "total": total,
            "max_score": float(entry.get("max_score", config.max_score)),
            "late": "yes" if late.late else "no", "days_late": late.days_late,
            "penalty_percent": late.penalty_percent, "penalty_points": late.penalty_points(total),
            "final_score": late.final_score, "submitted_at": format_timestamp(moment) if moment else "",
            "status": entry.get("status", ""), "reason": reason}


def scored(row: dict) -> bool:
    return row["total"] != ""


def export_grades(course: Course, config: GradingConfig, out_dir: Path | None = None,
                  db_url: str | None = None, to_nbgrader: bool = True) -> Exported:
    """Write ``OUT/grades.csv`` and ``OUT/<student>/{results.json,feedback.html}``; fill nbgrader's gradebook."""
    out_dir = Path(out_dir or Path(course.root) / "export" / course.assignment)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, phantoms = gradebook_rows(course, config)
    csv_path = out_dir / "grades.csv"
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=columns(config))
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(csv_path, table.getvalue())
    for row in rows:
        if scored(row):
            hand_back(course.graded_dir(row["student_id"]), out_dir / row["student_id"], row)
        else:  # never an older result: a previous export's copy goes too
            take_back(out_dir / row["student_id"])
    for student in phantoms:
        take_back(out_dir / student)
    url = None
    if to_nbgrader:
        url = db_url or f"sqlite:///{Path(course.root).resolve() / 'gradebook.db'}"
        write_nbgrader_gradebook(url, course, config, rows)
    return Exported(csv_path, out_dir, rows, url, {row["student_id"]: row["reason"] for row in rows if not scored(row)},
                    phantoms)


def take_back(folder: Path) -> None:
    """Remove the files ``hand_back`` writes (and the folder, if nothing else is in it)."""
    for name in ("results.json", "feedback.html"):
        (folder / name).unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def late_line(row: dict) -> str:
    """One sentence with the raw score, the late penalty and the final score of a gradebook row."""
    if not row["penalty_points"]:
        return f"Final score: {row['final_score']:g} / {row['max_score']:g} (no late penalty)."
    return (f"Late penalty: submitted {row['days_late']} day(s) late ({row['submitted_at']}): "
            f"{row['total']:g} - {row['penalty_percent']:g} % = final score {row['final_score']:g} / {row['max_score']:g}.")


def hand_back(source: Path, target: Path, row: dict) -> None:
    """Copy a student's results.json and feedback.html to ``target`` with the exported (late-policy) score."""
    target.mkdir(parents=True, exist_ok=True)
    line = late_line(row)
    if (source / "results.json").is_file():
        results = read_results(source / "results.json")
        results["late_penalty"] = {"raw_score": row["total"], "days_late": row["days_late"],
                                   "penalty_percent": row["penalty_percent"], "penalty_points": row["penalty_points"],
                                   "final_score": row["final_score"], "submitted_at": row["submitted_at"]}
        results["score"] = row["final_score"]
        results["output"] = "\n\n".join(text for text in (line, results.get("output", "")) if text)
        write_json_atomic(target / "results.json", results)
    if (source / "feedback.html").is_file():
        page = (source / "feedback.html").read_text(encoding="utf-8")
        banner = (f'<p class="late-penalty" style="font-weight: bold; border: 2px solid #c60; padding: .5em">'
                  f"{html.escape(line)}</p>")
        body = re.search(r"<body[^>]*>", page)
        page = page[:body.end()] + banner + page[body.end():] if body else banner + page
        write_atomic(target / "feedback.html", page)


def write_nbgrader_gradebook(db_url: str, course: Course, config: GradingConfig, rows: list[dict]) -> None:
    """Put ``rows`` into nbgrader's gradebook at ``db_url`` (created if missing); idempotent."""
    from nbgrader.api import Gradebook, MissingEntry

    notebook = Path(config.assignment.notebook).stem
    due = parse_timestamp(config.assignment.due) if config.assignment.due else None
    with nbgrader_path(), Gradebook(db_url) as gb:  # a new database's schema comes from `alembic`
        gb.update_or_create_assignment(course.assignment, duedate=due)
        gb.update_or_create_notebook(notebook, course.assignment)
        for key, part in config.parts.items():
            gb.update_or_create_grade_cell(key, notebook, course.assignment, max_score=part.points, cell_type="code")
        for row in rows:
            student = row["student_id"]
            gb.update_or_create_student(student)
            moment = parse_timestamp(row["submitted_at"]) if row["submitted_at"] else None
            gb.update_or_create_submission(course.assignment, student, timestamp=moment)
            try:
                grades = [gb.find_grade(key, notebook, course.assignment, student) for key in config.parts]
            except MissingEntry:  # made before these grade cells existed: start the submission afresh
                gb.remove_submission(course.assignment, student)
                gb.add_submission(course.assignment, student, timestamp=moment)
                grades = [gb.find_grade(key, notebook, course.assignment, student) for key in config.parts]
            for key, grade in zip(config.parts, grades):
                # manual_score is left alone: a score an instructor overrides in formgrader wins there.
                # No grade: no auto score (not a 0, and not an older one), flagged for the instructor.
                grade.auto_score = float(row[key]) if scored(row) else None
                grade.needs_manual_grade = not scored(row)
            submitted = gb.find_submission_notebook(notebook, course.assignment, student)
            submitted.late_submission_penalty = float(row["penalty_points"]) if scored(row) else 0.0
            gb.db.commit()
