"""The per-submission feedback report: OUT/feedback.json in, one self-contained OUT/feedback.html out.

The page has no external assets and no JavaScript: CSS is inline, figures are
base64 PNG data URIs, and the Jinja2 template escapes every string (test
output holds what the student's code printed).

Graders draw figures by calling ``attach(key, value)``; the keys drawn here:

- ``"feature_maps"``: ``{"input": 2-D list, "expected": 2-D list, "yours": 2-D list or None,
  "title": str}``, or a list of such dicts (one figure each). Drawn as four
  small heatmaps: input, expected, yours, yours − expected (a note instead of
  the difference when the shapes differ). ``title`` is the figure's caption.
- ``"loss_curve"``: ``[loss of batch 1, loss of batch 2, ...]`` (None for NaN/inf),
  or ``{"losses": [...], "batches": N}`` when the list was downsampled from N batches.
- ``"accuracy"``: ``{"reached": percent or None, "threshold": percent}``.

Other keys stay in feedback.json and are not drawn. A hidden test shows its
name, points and the generic reason only: nothing else of it is read here.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path, PurePath

import jinja2
import markupsafe

from . import feedback_figures as figures
from .files import write_atomic
from .results import (HIDDEN_FAILURE_TEXT, HIDDEN_SAME_MISTAKE_TEXT, OUTPUT_LIMIT, charged_once_note,
                      listed_problems, same_mistake_note)
from .rubric import SAME_MISTAKE_TEXT, rubric_rows
from .textsafe import clip, scrub

CODE_SPAN = re.compile(r"`([^`\n]+)`")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
DRAWERS = (  # attachment key -> (how to draw one value, default caption), in page order
    ("feature_maps", figures.draw_feature_maps, "Your feature maps next to the expected ones"),
    ("loss_curve", figures.draw_loss_curve, "Your training loss over the grading budget"),
    ("accuracy", figures.draw_accuracy, "Test accuracy reached versus the threshold"),
)


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["points"] = lambda value: f"{round(float(value), 2):g}"
    environment.filters["code_spans"] = code_spans
    return environment.get_template("feedback.html.j2")


def render_feedback(feedback_data: dict) -> str:
    """The report's HTML for one submission's feedback data (``SubmissionResult.to_feedback_data()``)."""
    return _template().render(report=_report_view(feedback_data))


def write_feedback(out_dir: Path) -> Path:
    """Render ``out_dir/feedback.json`` into ``out_dir/feedback.html`` (atomically); returns its path.

    Raises OSError/ValueError only when feedback.json cannot be read. Grading has already
    written results.json when this runs, so a report that fails to draw becomes a short
    page that says so instead of an error that would end the grade.
    """
    out_dir = Path(out_dir)
    data = scrub(json.loads((out_dir / "feedback.json").read_text(encoding="utf-8")))  # "\ud800" escapes too
    try:
        page = render_feedback(data)
    except Exception as error:  # a bug of the report's own: the student still gets a page
        page = _fallback_page(data, error)
    return write_atomic(out_dir / "feedback.html", page)


def _fallback_page(data, error: Exception) -> str:
    score = data.get("score", "?") if isinstance(data, dict) else "?"
    total = data.get("max_score", "?") if isinstance(data, dict) else "?"
    text = (f"Your score: {score} / {total}. The detailed feedback report could not be drawn "
            f"({type(error).__name__}); the per-test results are in Gradescope.")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Feedback</title></head>'
            f'<body style="font: 18px/1.5 sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em">'
            f"<p>{markupsafe.escape(text)}</p></body></html>\n")


def code_spans(text: str) -> markupsafe.Markup:
    """Escape ``text``, then show the graders' `backticked` names as <code> (escaping comes first)."""
    return markupsafe.Markup(CODE_SPAN.sub(r"<code>\1</code>", str(markupsafe.escape(text))))


def _report_view(data: dict) -> dict:
    parts = {key: {"key": key, "title": title, "points": float(points), "tests": []}
             for key, (title, points) in data.get("parts", {}).items()}
    anchors = {raw["name"]: f"test-{index}" for index, raw in enumerate(data.get("tests", []))}
    for index, raw in enumerate(data.get("tests", [])):
        part = parts.setdefault(raw["part"], {"key": raw["part"], "title": raw["part"], "points": 0.0, "tests": []})
        part["tests"].append(_test_view(raw, f"test-{index}", anchors))
    timings = data.get("timings", {})
    for part in parts.values():
        # results.py sums part scores; the sum here only reads feedback.json of older kits
        part["score"] = data.get("part_scores", {}).get(part["key"], sum(test["score"] for test in part["tests"]))
        part["percent"] = _percent(part["score"], part["points"])
        part["seconds"] = timings.get(f"part {part['key']}", sum(t["seconds"] for t in part["tests"]))
    return {
        "submission": clip(PurePath(str(data.get("submission", ""))).name, 200),
        "score": float(data.get("score", 0.0)), "max_score": float(data.get("max_score", 0.0)),
        "percent": _percent(data.get("score", 0.0), data.get("max_score", 0.0)),
        "execution_time": float(data.get("execution_time", 0.0)),
        "parts": list(parts.values()),
        "problems": listed_problems(list(data.get("problems", []))),
        "missing_protections": list(data.get("missing_protections", [])),
        "timings": [(name, seconds) for name, seconds in timings.items() if not name.startswith("part ")],
        "rubric": _rubric_view(data, parts),
        "same_mistake_rule": SAME_MISTAKE_TEXT.get(data.get("same_mistake", "once"), ""),
    }


def _rubric_view(data: dict, parts: dict) -> list[dict]:
    """The rubric table (rubric.rubric_rows, as ``python -m autograder rubric`` prints it), by part."""
    rows = rubric_rows(data.get("tests", []), {key: (part["title"], part["points"]) for key, part in parts.items()})
    return [{"title": part["title"], "points": part["points"],
             "rows": [{"test": clip(row.test, 300), "points": row.points, "checks": clip(row.checks, 1000),
                       "hidden": row.hidden} for row in rows if row.part == key]}
            for key, part in parts.items()]


def _test_view(raw: dict, anchor: str = "", anchors: dict | None = None) -> dict:
    charged = raw.get("same_mistake_as") if not raw.get("passed") else None
    view = {"name": clip(raw["name"], 300), "score": float(raw.get("score", 0.0)), "max_score": float(raw["max_score"]),
            "passed": bool(raw.get("passed")), "hidden": bool(raw.get("hidden")), "anchor": anchor,
            "same_mistake": bool(charged), "same_mistake_note": "", "same_mistake_link": "", "charged_note": "",
            "seconds": float(raw.get("seconds", 0.0)), "summary": "", "details": "", "output": "", "figures": []}
    if view["hidden"]:  # whatever else the data holds, a hidden test says only this
        view["summary"] = "" if view["passed"] else (HIDDEN_SAME_MISTAKE_TEXT if charged else HIDDEN_FAILURE_TEXT)
        return view
    if charged:
        view["same_mistake_note"] = same_mistake_note(str(charged))
        view["same_mistake_link"] = (anchors or {}).get(charged, "")
    if raw.get("same_mistake_in") or raw.get("same_mistake_hidden"):
        view["charged_note"] = charged_once_note([str(name) for name in raw.get("same_mistake_in") or []],
                                                 int(raw.get("same_mistake_hidden") or 0), named=False)
    if not view["passed"]:  # a passed test's ✔ and score say it all
        view["summary"] = clip(raw.get("summary") or "This test did not pass.")
        view["details"] = clip(raw.get("details") or "") if raw.get("show_details", True) else ""
        view["output"] = clip(raw.get("student_output") or "", OUTPUT_LIMIT).strip()
    view["figures"] = _figures(raw.get("attachments") or {})
    return view


def _figures(attachments: dict) -> list[dict]:
    drawn = []
    for key, draw, caption in DRAWERS:
        values = attachments.get(key)
        for value in values if isinstance(values, list) and key == "feature_maps" else [values]:
            if value is None:
                continue
            title = clip(value["title"], 300) if isinstance(value, dict) and isinstance(value.get("title"), str) else caption
            try:
                drawn.append({"caption": title, "uri": draw(value), "key": key})
            except Exception:  # bad figure data must not cost the student the whole report
                drawn.append({"caption": title, "uri": "", "key": key})
    return drawn


def _percent(score, points) -> float:
    return max(0.0, min(100.0, 100.0 * float(score) / float(points))) if points else 0.0
