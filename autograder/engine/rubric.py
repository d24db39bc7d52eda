"""The rubric: every grader test with its part, its points and what it checks.

One function, ``rubric_rows``, makes the rows from test results (a grade's, or the graders collected
without running them, ``grader_tests``): ``python -m autograder rubric`` prints them as Markdown (the
README's rubric is that output, kept in sync by a test) and feedback.html shows the same table from
the grade's own feedback data. A test's points are its share of its part's points in grading.toml
by the weights of the graders (``plugin.split_points``); "what it checks" is its docstring after the
first line (the first line is its name). A hidden test shows its name and points only.
"""
from __future__ import annotations

from dataclasses import dataclass

SAME_MISTAKE_TEXT = {
    "once": "A mistake the graders recognise exactly in several tests of a part is charged once, at the "
            "heaviest of those tests; the others say \"same mistake as in …\" and keep their points.",
    "each": "Every failed test costs its points, even when several fail from the same mistake.",
}


@dataclass(frozen=True)
class RubricRow:
    part: str  # the part's key
    part_title: str
    part_points: float
    test: str
    points: float
    checks: str  # empty for a hidden test
    hidden: bool


def _get(test, name: str, default=None):
    return test.get(name, default) if isinstance(test, dict) else getattr(test, name, default)


def rubric_rows(tests, parts: dict) -> list[RubricRow]:
    """Rows in part order (then test order) from ``tests`` (``TestResult``s or their feedback.json
    dicts) and ``parts`` (key -> (title, points)). A hidden test's words are never read."""
    rows = []
    for key, (title, points) in parts.items():
        for test in tests:
            if _get(test, "part") != key:
                continue
            hidden = bool(_get(test, "hidden", False))
            rows.append(RubricRow(key, str(title), float(points), str(_get(test, "name", "")),
                                  float(_get(test, "max_score", 0.0)),
                                  "" if hidden else str(_get(test, "checks", "") or ""), hidden))
    return rows


def points_text(value: float) -> str:
    return f"{round(float(value), 2):g}"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def markdown(rows: list[RubricRow], same_mistake: str = "once") -> str:
    """The rubric as a Markdown table, then the same-mistake rule in force."""
    lines = ["| Part | Test | Points | What it checks |", "|---|---|---:|---|"]
    shown = None
    for row in rows:
        part = f"{row.part_title} ({points_text(row.part_points)})" if row.part != shown else ""
        shown = row.part
        checks = "*hidden test: name and points only*" if row.hidden else _cell(row.checks)
        lines.append(f"| {_cell(part)} | {_cell(row.test)} | {points_text(row.points)} | {checks} |")
    total = sum(points for _, points in {row.part: row.part_points for row in rows}.items())
    lines += ["", f"Total {points_text(total)} points. {SAME_MISTAKE_TEXT[same_mistake]}"]
    return "\n".join(lines) + "\n"


def grader_tests(config) -> list:
    """The ``TestResult``s the graders would report, collected without running them (so with
    their names, parts, points, hidden flags and words, but no outcome)."""
    from .plugin import GradingPlugin, run_graders

    plugin = GradingPlugin(None, config)
    code = run_graders(config.definition.graders_dir, plugin, collect_only=True)
    if plugin.collection_errors or code != 0 or not plugin.results:
        raise RuntimeError("The graders could not be collected:\n"
                           + "\n".join(plugin.collection_errors or [f"pytest exit {code}"]))
    return [plugin.results[node] for node in plugin.order]


def rubric_markdown(config) -> str:
    """``python -m autograder rubric``: the rubric of ``config``'s graders and grading.toml."""
    parts = {key: (part.title, part.points) for key, part in config.parts.items()}
    return markdown(rubric_rows(grader_tests(config), parts), config.scoring.same_mistake)
