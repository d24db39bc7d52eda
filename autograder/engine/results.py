"""Grading results as data: the one place that writes, reads back and merges results.json and
feedback.json, and sums test scores into part and total scores."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .files import write_atomic
from .textsafe import clip, dumps, fit, json_size

RESULTS_MAX_BYTES = 1_000_000  # results.json, whatever the submission printed or raised
FEEDBACK_MAX_BYTES = 4_000_000  # feedback.json, figure data included
MAX_PROBLEMS = 20  # problems listed about one submission; the rest are counted
OUTPUT_LIMIT = 2000  # characters of what the student's code printed, per test
INDENTED_UP_TO = 200_000  # characters of compact JSON
FIELD_LIMIT = 25_000  # any one string field; fields are built smaller, this only catches the rest
HIDDEN_FAILURE_TEXT = "This hidden test did not pass. Its inputs and expected values are not shown."
HIDDEN_SAME_MISTAKE_TEXT = ("This hidden test did not pass, from a mistake already charged in another test, so it "
                            "costs no points here. Its inputs and expected values are not shown.")
SAME_MISTAKE_RULES = ("once", "each")  # grading.toml [scoring] same_mistake


@dataclass
class TestResult:
    __test__ = False  # a result, not a test class for pytest to collect
    name: str
    part: str
    max_score: float
    passed: bool
    summary: str = ""  # what was checked and what went wrong, for everyone
    details: str | None = None  # values, positions: shown only where allowed
    student_output: str = ""  # what the student's code printed during the test
    visibility: str = "visible"
    hidden: bool = False
    show_details: bool = True
    seconds: float = 0.0
    selected: bool = True  # False: left out of a --select run, so not graded this time
    attachments: dict = field(default_factory=dict)  # data for figures in the feedback report
    checks: str = ""  # what the test checks beyond its name (the rubric's words; empty for hidden tests)
    # The classic mistake that exactly explains the failure ("conv2d_single: flipped kernel"), or None.
    diagnosis: str | None = None
    same_mistake_as: str | None = None  # failed only by a diagnosis charged in that test: no points lost
    same_mistake_in: list[str] = field(default_factory=list)  # the charged test: the visible tests it was charged for
    same_mistake_hidden: int = 0  # ... and how many hidden ones

    @property
    def score(self) -> float:
        return self.max_score if self.passed or self.same_mistake_as else 0.0

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"

    def feedback(self) -> str:
        """The text a student sees for this test (Gradescope's per-test output)."""
        if self.passed:
            return "Passed."
        if self.hidden:
            return HIDDEN_SAME_MISTAKE_TEXT if self.same_mistake_as else HIDDEN_FAILURE_TEXT
        text = clip(self.summary)
        if self.same_mistake_as:
            text = f"{same_mistake_note(self.same_mistake_as)}\n\n{text}"
        if self.details and self.show_details:
            text += f"\n\n{clip(self.details)}"
        if self.same_mistake_in or self.same_mistake_hidden:
            text += f"\n\n{charged_once_note(self.same_mistake_in, self.same_mistake_hidden)}"
        printed = clip(self.student_output, OUTPUT_LIMIT).strip()
        if printed:
            text += f"\n\nYour code printed:\n{printed}"
        return text


def same_mistake_note(charged: str) -> str:
    return f"Same mistake as in “{clip(charged, 300)}”: charged once there, so this test costs no points."


def charged_once_note(others: list[str], hidden: int = 0, named: bool = True) -> str:
    """What the test that was charged for a mistake says about the others it failed (``named``: listed by
    name, as results.json needs; feedback.html marks them "same mistake" and links them here instead)."""
    count = len(others) + hidden
    tests = "another test" if count == 1 else f"{count} other tests"
    if not named:
        return f"The same mistake also failed {tests}, marked “same mistake”: it is charged once, here."
    listed = [f"“{clip(name, 300)}”" for name in others] + ([f"{hidden} hidden test{'s' if hidden > 1 else ''}"]
                                                             if hidden else [])
    return f"The same mistake also failed {tests} ({', '.join(listed)}); it is charged once, here."


def apply_same_mistake(tests: list[TestResult], rule: str = "once") -> None:
    """grading.toml ``[scoring] same_mistake``: what several tests failed by one diagnosed mistake cost.

    "once": within a part, the tests whose failure has the same diagnosis are charged once, at the
    heaviest of them (equal points: a visible test before a hidden one, then the first); the others
    get their points back and say "same mistake as in <that test>". A failure without a diagnosis,
    or with another one, is charged as it is. "each": every failed test costs its points.
    Applied after the graders ran and again after a part re-grade is merged (``merge_part``);
    it reads only ``passed``, ``diagnosis``, ``selected``, ``max_score`` and ``hidden``.
    """
    if rule not in SAME_MISTAKE_RULES:
        raise ValueError(f"unknown same_mistake rule {rule!r}")
    for test in tests:
        test.same_mistake_as, test.same_mistake_in, test.same_mistake_hidden = None, [], 0
    if rule == "each":
        return
    groups: dict[tuple[str, str], list[tuple[int, TestResult]]] = {}
    for index, test in enumerate(tests):
        if test.selected and not test.passed and test.diagnosis:
            groups.setdefault((test.part, test.diagnosis), []).append((index, test))
    for group in groups.values():
        if len(group) < 2:
            continue
        _, charged = max(group, key=lambda item: (item[1].max_score, not item[1].hidden, -item[0]))
        for _, test in group:
            if test is not charged:
                test.same_mistake_as = charged.name
                if test.hidden:  # counted, not named: its own row says the rest
                    charged.same_mistake_hidden += 1
                else:
                    charged.same_mistake_in.append(test.name)


@dataclass
class SubmissionResult:
    submission: str
    kind: str
    tests: list[TestResult]
    parts: dict[str, tuple[str, float]]  # key -> (title, points)
    problems: list[str] = field(default_factory=list)  # about the submission, for the student
    missing_protections: list[str] = field(default_factory=list)  # about the grading run
    execution_time: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # startup, extraction, per part
    resources: dict[str, float] = field(default_factory=dict)  # peak memory of grader and worker
    provenance: dict = field(default_factory=dict)  # what produced this grade (provenance.py)
    same_mistake: str = "once"  # the [scoring] same_mistake rule the tests were scored with

    # Test scores are whole cents (plugin.split_points): sums are rounded to the cent.
    @property
    def score(self) -> float:
        return round(sum(test.score for test in self.tests), 2)

    @property
    def max_score(self) -> float:
        return round(sum(points for _, points in self.parts.values()), 2)

    def part_score(self, part: str) -> float:
        return round(sum(test.score for test in self.tests if test.part == part), 2)

    def part_scores(self) -> dict[str, float]:
        """Every part of the configuration, with its score (0 for a part with no test)."""
        return {key: self.part_score(key) for key in self.parts}

    def general_output(self) -> str:
        lines = [f"Score: {self.score:g} / {self.max_score:g}"]
        if self.problems:
            lines += ["", "Problems with the submission:"]
            lines += [f"- {problem}" for problem in listed_problems(self.problems)]
        # missing_protections are the instructor's business (provenance, the terminal report), never
        # the student's: on Gradescope this text is shown to students
        return "\n".join(lines)

    def to_gradescope(self) -> dict:
        """Gradescope's results.json, every string bounded so that it stays under RESULTS_MAX_BYTES."""
        return fit({
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.execution_time, 2),
            "output": self.general_output(),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [
                {"name": test.name, "score": test.score, "max_score": test.max_score,
                 "status": test.status, "output": test.feedback(), "visibility": test.visibility,
                 "tags": [test.part]}
                for test in self.tests
            ],
            "provenance": self.provenance,  # an extra top-level key: Gradescope keeps it, shows nothing
        }, RESULTS_MAX_BYTES, limit=FIELD_LIMIT)

    def to_feedback_data(self) -> dict:
        """Everything the HTML feedback report needs (results.json stays pure Gradescope)."""
        data = asdict(self)
        data["score"], data["max_score"], data["part_scores"] = self.score, self.max_score, self.part_scores()
        for test, raw in zip(self.tests, data["tests"]):
            raw["feedback"] = test.feedback()
            raw["score"] = test.score
            if test.hidden:  # hidden tests keep their secrets in every output
                # (their diagnosis, a mistake's name and never a value, stays for a part re-grade's rule)
                raw.update(summary="", details=None, student_output="", attachments={}, checks="")
            else:
                raw.update(summary=clip(test.summary), details=test.details and clip(test.details),
                           student_output=clip(test.student_output, OUTPUT_LIMIT))
        data["problems"] = listed_problems(self.problems)
        return _drop_largest_attachments(fit(data, FEEDBACK_MAX_BYTES, limit=FIELD_LIMIT), FEEDBACK_MAX_BYTES)


def listed_problems(problems: list[str]) -> list[str]:
    """At most MAX_PROBLEMS problems, each bounded, and how many more there were (a list already
    made by this function, as read back from feedback.json, is returned as it is)."""
    if len(problems) == MAX_PROBLEMS + 1 and str(problems[-1]).startswith("... and "):
        return [clip(problem, 1000) for problem in problems]
    listed = [clip(problem, 1000) for problem in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        listed.append(f"... and {len(problems) - MAX_PROBLEMS} more problems of the same kinds.")
    return listed


def _drop_largest_attachments(data: dict, max_bytes: int) -> dict:
    """Figure data of the biggest attachments replaced by a note until the data fits ``max_bytes``."""
    excess = json_size(data) - max_bytes
    for raw in sorted(data["tests"], key=lambda raw: json_size(raw["attachments"]), reverse=True):
        if excess <= 0 or not raw["attachments"]:
            break
        excess -= json_size(raw["attachments"])
        raw["attachments"] = {"dropped": "The figure data was too large to keep."}
    return data


def write_result(folder: Path, result: SubmissionResult) -> None:
    """``folder/results.json`` and ``folder/feedback.json`` of ``result``, each written atomically."""
    write_json_atomic(Path(folder) / "results.json", result.to_gradescope())
    write_json_atomic(Path(folder) / "feedback.json", result.to_feedback_data())


def read_results(path: Path) -> dict:
    """A results.json as written (ValueError when it is not a JSON object with a test list)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise ValueError(f"{path} is not a results.json (no list of tests)")
    return data


_TEST_FIELDS = {item.name for item in fields(TestResult)}
_RESULT_FIELDS = {item.name for item in fields(SubmissionResult)} - {"tests", "parts"}


def load_result(folder: Path) -> SubmissionResult:
    """A result folder's feedback.json read back into a ``SubmissionResult`` (what a merge starts from).
    Hidden tests come back without their secrets, as they were written. OSError/ValueError if unreadable."""
    data = json.loads((Path(folder) / "feedback.json").read_text(encoding="utf-8"))
    tests = [TestResult(**{key: value for key, value in raw.items() if key in _TEST_FIELDS}) for raw in data["tests"]]
    return SubmissionResult(tests=tests, parts={key: tuple(value) for key, value in data["parts"].items()},
                            **{key: value for key, value in data.items() if key in _RESULT_FIELDS})


class NotMergeable(ValueError):
    """The previous result is not a grade of the same submission under the same settings and graders."""


def merge_part(previous: SubmissionResult, fresh: SubmissionResult, part: str) -> SubmissionResult:
    """``previous`` with the tests of ``part`` that ``fresh`` graded (a part re-grade) put in their place.

    Only a result of the same submission bytes, configuration, graders and kit takes a merge
    (``provenance.SAME_GRADE_KEYS``); anything else must be graded whole."""
    from .provenance import GATE_SEED_KEY, SAME_GRADE_KEYS

    differs = [key for key in SAME_GRADE_KEYS
               if not previous.provenance.get(key) or previous.provenance.get(key) != fresh.provenance.get(key)]
    if differs:
        raise NotMergeable(f"--part {part}: the previous result is not of the same {', '.join(differs)}; "
                           "grade the whole submission")
    graded = {test.name: test for test in fresh.tests if test.part == part and test.selected}
    if not graded:
        raise NotMergeable(f"--part {part}: the selection graded no test of part {part!r}")
    names = {test.name for test in previous.tests}
    tests = [graded.get(test.name, test) for test in previous.tests] + [t for t in graded.values() if t.name not in names]
    seed = fresh.provenance.get(GATE_SEED_KEY)
    provenance = {**fresh.provenance, "select": previous.provenance.get("select"), "regraded_part": part,
                  GATE_SEED_KEY: previous.provenance.get(GATE_SEED_KEY) if seed is None else seed}
    timings = {**previous.timings, **{key: value for key, value in fresh.timings.items() if key == f"part {part}"}}
    apply_same_mistake(tests, fresh.same_mistake)  # a re-graded test may change what another was charged
    return SubmissionResult(submission=fresh.submission, kind=fresh.kind, tests=tests, parts=fresh.parts,
                            problems=fresh.problems, missing_protections=fresh.missing_protections,
                            execution_time=previous.execution_time, timings=timings,
                            resources=fresh.resources, provenance=provenance, same_mistake=fresh.same_mistake)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    text = dumps(data)
    if len(text) < INDENTED_UP_TO:  # small files indented for people to read; big ones stay compact
        text = dumps(data, indent=2)
    write_atomic(path, text)
