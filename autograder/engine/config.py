"""grading.toml, read once into typed settings, strictly: a typo is an error, never a silent default.

The dataclass defaults below are the calibrated values of the shipped grading.toml (a test keeps
them equal), so a setting left out of a file means what the kit was calibrated with, and code that
builds settings without a file (the sandbox's probe) gets the same limits. Everything else a file
says is checked: unknown sections and keys (with the closest valid name), types, ranges, choices,
the due date, and hidden-test names against the graders' own test names.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path

from .assignment import KIT_ROOT, Assignment, AssignmentError, load_assignment
from .results import SAME_MISTAKE_RULES

CONFIG_ENV = "CNN_KIT_CONFIG"
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
DETAILS = ("full", "summary")


class ConfigError(RuntimeError):
    """grading.toml is missing or wrong: the grader's own failure (exit 2), said in one line."""


JOBS_VARIABLE = "CNN_KIT_JOBS"  # how many grading jobs run side by side; grade-all sets it for its jobs


@dataclass(frozen=True)
class Sandbox:
    call_timeout: float = 10.0
    load_timeout: float = 20.0
    startup_timeout: float = 60.0
    memory_mb: int = 4096
    file_size_mb: int = 64
    scratch_mb: int = 128
    max_output_kb: int = 64
    flood_output_mb: int = 16
    max_processes: int = 64
    time_budget: float = 600.0  # seconds for all of one submission's student code; then tests stop
    max_restarts: int = 30  # fresh workers after crashes/hangs per submission; then calls fail fast
    torch_threads: int = 1  # 0: cores // parallel jobs (JOBS_VARIABLE, set by grade-all)

    def threads(self) -> int:
        """Torch threads for one grading job, so that parallel jobs do not oversubscribe cores."""
        if self.torch_threads > 0:
            return self.torch_threads
        jobs = max(1, int(os.environ.get(JOBS_VARIABLE, "1") or 1))
        return max(1, (os.cpu_count() or 1) // jobs)


@dataclass(frozen=True)
class Part:
    key: str
    title: str
    points: float


@dataclass(frozen=True)
class Feedback:
    visibility: str = "visible"
    details: str = "full"  # "full" or "summary"
    hidden_tests: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scoring:
    """[scoring]: how test results become points beyond each test's share of its part."""

    # "once": tests of a part failed by the same diagnosed mistake are charged once, at the heaviest
    # of them; "each": every failed test costs its points (results.apply_same_mistake).
    same_mistake: str = "once"


@dataclass(frozen=True)
class AssignmentSettings:
    """[assignment]: which assignment (a kit package, or ``path`` to a folder) and its schedule."""

    name: str = ""  # required: autograder/assignments/<name>, release/<name>/, submitted/<student>/<name>/
    notebook: str = ""  # empty: <name>.ipynb
    path: str = ""  # a folder with assignment.py, relative to grading.toml; empty: autograder/assignments/<name>
    due: str = ""  # no due date: no late policy (the shipped file sets one)
    late_penalty_per_day: float = 10.0
    late_penalty_cap: float = 50.0
    late_after_days: float = 7.0


@dataclass(frozen=True)
class GradingConfig:
    path: Path
    assignment: AssignmentSettings
    definition: Assignment  # the assignment's contract, graders, worker tasks and data
    parts: dict[str, Part]
    sandbox: Sandbox
    feedback: Feedback
    scoring: Scoring = field(default_factory=Scoring)
    sections: dict[str, object] = field(default_factory=dict)  # the assignment's own ([training], [data]…)
    raw: dict = field(default_factory=dict, repr=False)

    def __getattr__(self, name: str):
        """An assignment's own section as an attribute (``config.training``), as graders read it."""
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    def with_section(self, name: str, **changes) -> "GradingConfig":
        """A copy with settings of the assignment's section ``name`` changed (benchmarks, tests)."""
        return replace(self, sections={**self.sections, name: replace(self.sections[name], **changes)})

    @property
    def max_score(self) -> float:
        return sum(part.points for part in self.parts.values())


def grading_digest(config: GradingConfig) -> str:
    """SHA-256 of the settings that can change a grade (parts, sandbox, feedback and the assignment's
    own sections, such as [training]), so that editing the due date or the late policy does not make
    every result stale. A section the assignment marks ``in_digest=False`` (where the host keeps its
    data) is left out: moving files neither forces re-grades nor splits shards graded elsewhere."""
    relevant = {"parts": {key: asdict(part) for key, part in config.parts.items()},
                "sandbox": asdict(config.sandbox),
                "feedback": {**asdict(config.feedback), "hidden_tests": sorted(config.feedback.hidden_tests)},
                "scoring": asdict(config.scoring)}
    for name, section in config.definition.settings.items():
        if section.in_digest:
            relevant[name] = asdict(config.sections[name])
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


# ----- reading and checking --------------------------------------------------------------------

def at_least(low):
    return lambda v: None if v >= low else f"must be at least {low}"


def above(low):
    return lambda v: None if v > low else f"must be more than {low}"


def between(low, high):
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}"


def one_of(choices):
    return lambda v: None if v in choices else "must be one of " + ", ".join(f'"{c}"' for c in choices)


def _due(value: str):
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return 'is not a date; write ISO 8601 with a time zone, e.g. "2026-12-11T23:59:00+00:00"'
    return None if moment.tzinfo else 'has no time zone; add one, e.g. "+00:00" for UTC'


# Per section: the dataclass that holds it and a check per setting (a message when wrong).
SECTIONS = {
    "assignment": (AssignmentSettings, {"name": lambda v: None if v else "must not be empty",
                                "notebook": lambda v: None if v.endswith(".ipynb") else "must end in .ipynb",
                                "due": _due, "late_penalty_per_day": at_least(0),
                                "late_penalty_cap": between(0, 100), "late_after_days": at_least(0)}),
    "sandbox": (Sandbox, {"torch_threads": at_least(0), "max_restarts": at_least(0)}),  # the rest: > 0
    "feedback": (Feedback, {"visibility": one_of(VISIBILITIES), "details": one_of(DETAILS)}),
    "scoring": (Scoring, {"same_mistake": one_of(SAME_MISTAKE_RULES)}),
}
ENGINE_SECTIONS = ("assignment", "parts", "sandbox", "feedback", "scoring")  # an assignment adds its own


def load_config(path: str | Path | None = None) -> GradingConfig:
    """Read and check ``path`` (default: $CNN_KIT_CONFIG, else the kit's grading.toml)."""
    path = Path(path or os.environ.get(CONFIG_ENV) or KIT_ROOT / "grading.toml")
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError as error:
        raise ConfigError(f"No grading configuration at {path}.") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error
    where = _Where(path)
    if not isinstance(raw.get("assignment", {}), dict):
        raise ConfigError(where.at("assignment", "", "must be a section (a [table])"))
    settings = _section("assignment", raw.get("assignment", {}), where)
    if not settings.name:
        raise ConfigError(where.at("assignment", "name", "is missing; name the assignment, e.g. name = \"cnn_week1\"."))
    if not settings.notebook:
        settings = replace(settings, notebook=f"{settings.name}.ipynb")
    definition = _definition(settings, path)
    top_level = ENGINE_SECTIONS + tuple(definition.settings)
    where.unknown(raw, top_level, "section [{}]")
    for name in top_level:
        if not isinstance(raw.get(name, {}), dict):
            raise ConfigError(where.at(name, "", "must be a section (a [table])"))
    feedback_raw = dict(raw.get("feedback", {}))
    hidden = _hidden_tests(feedback_raw.pop("hidden", {}), where)
    config = GradingConfig(
        path=path.resolve(),
        assignment=settings,
        definition=definition,
        parts=_parts(raw.get("parts", {}), definition.parts, where),
        sandbox=_section("sandbox", raw.get("sandbox", {}), where),
        feedback=_section("feedback", feedback_raw, where, hidden_tests=hidden),
        scoring=_section("scoring", raw.get("scoring", {}), where),
        sections={name: _section(name, raw.get(name, {}), where, spec=(section.kind, section.checks))
                  for name, section in definition.settings.items()},
        raw=raw,
    )
    from .grader_names import grader_test_names
    if definition.graders_dir.is_dir():
        validate_hidden_tests(config, grader_test_names(definition.graders_dir))
    return config


def _definition(settings: AssignmentSettings, path: Path) -> Assignment:
    folder = (path.parent / settings.path).resolve() if settings.path else None
    try:
        return load_assignment(settings.name, folder)
    except AssignmentError as error:
        raise ConfigError(f"{path}: [assignment] {error}") from error


def validate_hidden_tests(config: GradingConfig, names) -> None:
    """Every ``[feedback.hidden] tests`` entry must be the exact name of a grader test: a typo would
    leave that test visible, inputs and expected values included. ``names`` supports ``in``."""
    known = sorted(names.all() if hasattr(names, "all") else names)
    for name in config.feedback.hidden_tests:
        if name not in names:
            raise ConfigError(f"{config.path}: [feedback.hidden] tests: {name!r} is not the name of a grader test"
                              f"{_suggestion(name, known)} (names are the first line of each grader test's docstring).")


class _Where:
    """Error messages that name the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def at(self, section: str, key: str = "", problem: str = "") -> str:
        label = f"[{section}]" + (f" {key}" if key else "")
        return f"{self.path}: {label} {problem}".rstrip()

    def unknown(self, values: dict, valid, form: str) -> None:
        for key in values:
            if key not in valid:
                raise ConfigError(f"{self.path}: unknown {form.format(key)}{_suggestion(key, valid)}.")


def _suggestion(word: str, valid) -> str:
    """"; did you mean 'x'?" for the closest valid name (case first, then difflib), else the valid names."""
    valid = list(valid)
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if word.lower() in lowered or close:
        return f"; did you mean {lowered.get(word.lower()) or lowered[close[0]]!r}?"
    return f"; valid: {', '.join(valid)}" if len(valid) <= 12 else ""


def _typed(value, kind: type, label: str):
    """``value`` as ``kind``: int for int, int or float for float (never bool), str for str."""
    ok = (isinstance(value, kind) and not isinstance(value, bool)) or (
        kind is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        names = {int: "a whole number", float: "a number", str: "a string in quotes"}
        raise ConfigError(f"{label} = {value!r} must be {names[kind]}.")
    return kind(value)


def _section(name: str, values: dict, where: _Where, spec: tuple | None = None, **extra):
    kind, checks = spec or SECTIONS[name]
    settable = [f for f in fields(kind) if f.name not in extra]
    where.unknown(values, [f.name for f in settable], f"setting [{name}] {{}}")
    typed = dict(extra)
    for f in settable:
        if f.name not in values:
            continue
        value = _typed(values[f.name], type(f.default), where.at(name, f.name))
        check = checks.get(f.name, above(0) if name == "sandbox" else None)
        problem = check(value) if check else None
        if problem:
            raise ConfigError(where.at(name, f.name, f"= {values[f.name]!r} {problem}."))
        typed[f.name] = value
    return kind(**typed)


def _parts(values: dict, contract: dict, where: _Where) -> dict[str, Part]:
    """Exactly the contract's parts, each with positive points."""
    where.unknown(values, contract, "part [parts.{}]")
    missing = [key for key in contract if key not in values]
    if missing:
        raise ConfigError(f"{where.path}: missing part(s) {', '.join(f'[parts.{k}]' for k in missing)} "
                          f"(every part of the contract needs its points).")
    parts = {}
    for key in contract:
        section = f"parts.{key}"
        table = values[key]
        if not isinstance(table, dict):
            raise ConfigError(where.at(section, "", "must be a section with title and points."))
        where.unknown(table, ("title", "points"), f"setting [{section}] {{}}")
        if "points" not in table:
            raise ConfigError(where.at(section, "points", "is missing; give the part's points, e.g. points = 10."))
        points = _typed(table["points"], float, where.at(section, "points"))
        if points <= 0:
            raise ConfigError(where.at(section, "points", f"= {table['points']!r} must be more than 0."))
        parts[key] = Part(key, _typed(table.get("title", key), str, where.at(section, "title")), points)
    return parts


def _hidden_tests(table, where: _Where) -> tuple[str, ...]:
    if not isinstance(table, dict):
        raise ConfigError(where.at("feedback.hidden", "", "must be a section with tests = [...]."))
    where.unknown(table, ("tests",), "setting [feedback.hidden] {}")
    tests = table.get("tests", [])
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise ConfigError(where.at("feedback.hidden", "tests", "must be a list of test names in quotes."))
    return tuple(tests)
