"""Class statistics after ``grade-all``: score distributions, the tests most often failed, the slowest runs."""
from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .batch import load_manifest
from ..engine.config import GradingConfig
from .layout import Course


@dataclass
class ClassStats:
    students: int
    parts: dict[str, list[float]]  # part key -> every graded student's score
    totals: list[float]
    failed_tests: list[tuple[str, int]]  # (test name, students who failed it), most first
    slowest: list[tuple[str, float]]  # (student, seconds), slowest first
    statuses: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # student -> why no grade: not counted as 0
    phantoms: list[str] = field(default_factory=list)  # manifest rows with no submission folder: left out

    @property
    def graded(self) -> int:
        return len(self.totals)

    def table(self, config: GradingConfig, top: int = 10) -> str:
        lines = [f"{self.students} student(s), {self.graded} with a grade; statuses: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
                 "", f"{'part':<16} {'points':>6} {'mean':>7} {'median':>7} {'min':>6} {'max':>6} {'full':>5} {'zero':>5}"]
        rows = [(key, config.parts[key].points, scores) for key, scores in self.parts.items()]
        rows.append(("TOTAL", config.max_score, self.totals))
        for key, points, scores in rows:
            if not scores:
                continue
            lines.append(f"{key:<16} {points:>6g} {statistics.mean(scores):>7.2f} {statistics.median(scores):>7.2f} "
                         f"{min(scores):>6g} {max(scores):>6g} {sum(s >= points for s in scores):>5} {sum(s == 0 for s in scores):>5}")
        lines += ["", f"Tests most often failed (of {self.graded}):"]
        lines += [f"  {count:>4}  {name}" for name, count in self.failed_tests[:top]] or ["  none"]
        lines += ["", "Slowest submissions:"]
        lines += [f"  {seconds:>7.1f} s  {student}" for student, seconds in self.slowest[:top]]
        if self.missing:  # last, where it is read: these students are in no figure above
            lines += ["", f"NO GRADE for {len(self.missing)} student(s) (left out of every figure above, not counted as 0):"]
            lines += [f"  {student}: {reason}" for student, reason in self.missing.items()]
        if self.phantoms:
            lines += ["", f"Left out: {len(self.phantoms)} manifest row(s) with no submission folder "
                          f"(remove with grade-all --drop ID): {', '.join(self.phantoms)}"]
        return "\n".join(lines)


def class_stats(course: Course, config: GradingConfig) -> ClassStats:
    """Figures over the students with a current grade only, as export counts them: a student with no
    grade (an error row, an out-of-date row, no row yet) is listed, never averaged in as 0."""
    from .export import gradebook_rows, scored

    manifest = load_manifest(course)["students"]
    rows, phantoms = gradebook_rows(course, config)
    parts = {key: [] for key in config.parts}
    failed, statuses, slowest, totals, missing = Counter(), Counter(), [], [], {}
    for row in rows:
        student = row["student_id"]
        statuses[row["status"]] += 1
        if not scored(row):
            missing[student] = row["reason"]
            continue
        for key in config.parts:
            parts[key].append(float(row[key]))
        totals.append(float(row["total"]))
        slowest.append((student, float(manifest[student].get("seconds", 0.0))))
        try:
            results = json.loads((course.graded_dir(student) / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for test in results.get("tests", []):
            if float(test.get("score", 0)) < float(test.get("max_score", 0)):
                failed[test["name"]] += 1
    return ClassStats(len(rows), parts, totals, failed.most_common(),
                      sorted(slowest, key=lambda item: -item[1]), dict(statuses), missing, phantoms)


def write_histograms(stats: ClassStats, config: GradingConfig, path: Path) -> Path:
    """One histogram per part (and the total) in one PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(config.parts[key].title, config.parts[key].points, scores) for key, scores in stats.parts.items()]
    panels.append(("Total", config.max_score, stats.totals))
    columns = 3
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for axis, (title, points, scores) in zip(axes.flat, panels):
        axis.hist(scores, bins=10, range=(0, points or 1), color="#3b7dd8", edgecolor="white")
        axis.set_title(title, fontsize=9)
        axis.set_xlabel(f"score (of {points:g})")
        axis.set_ylabel("students")
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    figure.suptitle(f"{config.assignment.name}: {stats.graded} graded student(s)"
                    + (f", {len(stats.missing)} without a grade" if stats.missing else ""))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
