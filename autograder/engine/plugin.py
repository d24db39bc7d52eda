"""The pytest plugin that makes pytest the grading engine.

It hands the graders their fixtures (the sandboxed ``student``, the config,
``attach``), reads each test's part, weight and name, and records outcomes
as ``TestResult``s. Only the failure's own words reach the student: never
pytest's report, which would show the hidden test's source.
"""
from __future__ import annotations

import types

import pytest

from .config import GradingConfig
from .failures import GradingFailure, StudentFailure
from .results import TestResult
from .session import WorkerSession


class GradingPlugin:
    def __init__(self, session: WorkerSession, config: GradingConfig):
        self.session, self.config = session, config
        self.results: dict[str, TestResult] = {}
        self.order: list[str] = []
        self.collection_errors: list[str] = []
        self.host_faults: list[str] = []  # grader or host failures: the grade must not be recorded
        self._attachments: dict[str, dict] = {}

    # ----- fixtures (``student`` and ``grading_config`` come from ``session_fixtures``) ----------

    @pytest.fixture
    def attach(self, request):
        """``attach(key, value)``: data for the test's figures in the feedback report."""
        store = self._attachments.setdefault(request.node.nodeid, {})

        def attach(key: str, value) -> None:
            store.update(_json_safe({key: value}))  # a cut array adds f"{key}_shape": its real shape

        return attach

    # ----- hooks -------------------------------------------------------------------------------

    def pytest_configure(self, config) -> None:
        config.addinivalue_line("markers", "part(key): the grading.toml part this test scores")
        config.addinivalue_line("markers", "weight(n): the test's share of its part (default 1)")
        config.addinivalue_line("markers", "hidden: students see only the test's name, points and a generic "
                                           "reason (grading.toml [feedback.hidden] can hide more)")

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext[-500:]}")

    def pytest_collection_modifyitems(self, session, config, items) -> None:
        by_part: dict[str, list] = {}
        for item in items:
            part = _part_of(item)
            if part not in self.config.parts:
                raise pytest.UsageError(f"{item.nodeid}: part {part!r} is not a part of grading.toml")
            by_part.setdefault(part, []).append(item)
        max_scores = {}
        for part, part_items in by_part.items():
            shares = split_points(self.config.parts[part].points, [_weight_of(item) for item in part_items])
            max_scores.update(zip((item.nodeid for item in part_items), shares))
        names = set()
        for item in items:
            name = _name_of(item)
            if name in names:
                raise pytest.UsageError(f"{item.nodeid}: two grader tests are named {name!r}")
            names.add(name)
            hidden = _is_hidden(item, name, self.config)
            self.results[item.nodeid] = TestResult(
                name=name, part=_part_of(item), max_score=max_scores[item.nodeid],
                passed=False, summary="The test did not run.",
                visibility=self.config.feedback.visibility, hidden=hidden,
                show_details=self.config.feedback.details == "full", checks="" if hidden else _checks_of(item))
            self.order.append(item.nodeid)

    def pytest_deselected(self, items) -> None:
        for item in items:
            if item.nodeid in self.results:
                result = self.results[item.nodeid]
                result.selected, result.summary = False, "Not graded in this run (only some tests were selected)."

    def pytest_runtest_setup(self, item) -> None:
        result = self.results.get(item.nodeid)
        self.session.begin_test(hidden=bool(result and result.hidden))

    def pytest_runtest_teardown(self, item) -> None:
        self.session.end_test()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        result = self.results.get(item.nodeid)
        if result is None or report.when == "teardown":
            return
        result.seconds += call.duration
        if report.when == "setup" and report.passed:
            return
        if report.passed:
            result.passed, result.summary = True, ""
        elif report.skipped:
            result.passed, result.summary = False, "The test was skipped."
        else:
            error = call.excinfo.value if call.excinfo else None
            if not isinstance(error, (GradingFailure, StudentFailure)):  # the grader's or the host's fault
                self.host_faults.append(f"{result.name}: {type(error).__name__}: {error}"[:2000])
                item.session.shouldstop = "the grader or the host failed"  # nothing after it would count
            _describe_failure(result, error, "".join(getattr(self.session, "test_output", None) or ()))
        result.attachments = self._attachments.get(item.nodeid, {})


class PlainReports:
    """Test reports without pytest's formatted traceback. Nobody reads it (the plugin words every
    failure itself, and a traceback would show a hidden test's source); formatting it parses the
    source of every frame, which cost more than the failing tests themselves (2.7 s of 4.8 s for
    the untouched release)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call) -> pytest.TestReport:
        excinfo = call.excinfo
        if excinfo is None:
            outcome, longrepr = "passed", None
        elif excinfo.errisinstance(pytest.skip.Exception):
            outcome, longrepr = "skipped", (str(item.path), item.location[1] or 0, str(excinfo.value))
        else:
            outcome, longrepr = "failed", f"{excinfo.typename}: {excinfo.value}"[:2000]
        return pytest.TestReport(item.nodeid, item.location, {name: 1 for name in item.keywords}, outcome,
                                 longrepr, call.when, [], call.duration, call.start, call.stop,
                                 user_properties=item.user_properties)


def split_points(points: float, weights: list[float]) -> list[float]:
    """A part's points shared by weight in whole cents that add up exactly (largest remainder),
    so that the scores in results.json sum to the part's points as written, not to 9.9999."""
    cents, total = round(points * 100), sum(weights)
    exact = [cents * weight / total for weight in weights]
    shares = [int(value) for value in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[: cents - sum(shares)]:
        shares[i] += 1
    return [share / 100 for share in shares]


def _describe_failure(result: TestResult, error: BaseException | None, printed: str = "") -> None:
    """``printed``: what the student's code printed in the test's calls that returned, shown whenever the
    test fails (a wrong value too), before what the failing call printed if it raised."""
    result.passed = False
    if isinstance(error, (GradingFailure, StudentFailure)):
        context = "; ".join(error.context)
        result.summary = f"{context}: {error.summary}" if context else error.summary
        result.details = error.details
        result.student_output = printed + (getattr(error, "output", "") or "")
        result.diagnosis = getattr(error, "diagnosis", None)
    else:  # a failure the graders did not word (their own bug): say little, reveal nothing
        kind = type(error).__name__ if error is not None else "an unknown error"
        result.summary = f"The check could not be completed ({kind}). Please tell your instructor."


def _marker_arg(item, name: str, default=None):
    marker = item.get_closest_marker(name)
    return marker.args[0] if marker is not None and marker.args else default


def _part_of(item) -> str:
    part = _marker_arg(item, "part")
    if part is None:
        raise pytest.UsageError(f"{item.nodeid} has no @pytest.mark.part(...)")
    return part


def _is_hidden(item, name: str, config: GradingConfig) -> bool:
    """Hidden by its grader (``@pytest.mark.hidden``) or by the instructor (grading.toml)."""
    return item.get_closest_marker("hidden") is not None or name in config.feedback.hidden_tests


def _weight_of(item) -> float:
    return float(_marker_arg(item, "weight", 1))


def _name_of(item) -> str:
    doc = (getattr(item, "function", None) and item.function.__doc__) or ""
    name = doc.strip().splitlines()[0].strip() if doc.strip() else item.name
    if hasattr(item, "callspec"):  # a parametrised test: its id keeps names unique
        name = f"{name} [{item.callspec.id}]"
    return name


def _checks_of(item) -> str:
    """What the test checks beyond its name: its docstring after the first line (the rubric's words)."""
    doc = (getattr(item, "function", None) and item.function.__doc__) or ""
    lines = [line.strip() for line in doc.strip().splitlines()[1:]]
    return " ".join(line for line in lines if line)


def _json_safe(value):
    """Attachments as strict, bounded JSON (tensors to lists cut to a figure's size, NaN to None):
    a student's huge wrong map must not become a huge feedback.json."""
    from .attachments import json_safe

    return json_safe(value)


def session_fixtures(plugin: GradingPlugin) -> types.ModuleType:
    """The session-wide fixtures as a plugin module of plain functions (pytest reads fixtures
    from a module's or a class's namespace, and deprecates session fixtures as bound methods)."""

    @pytest.fixture(scope="session")
    def student() -> WorkerSession:
        return plugin.session

    @pytest.fixture(scope="session")
    def grading_config() -> GradingConfig:
        return plugin.config

    module = types.ModuleType("autograder_session_fixtures")
    module.student, module.grading_config = student, grading_config
    return module


def run_graders(graders_dir, plugin: GradingPlugin, select: str | None = None, collect_only: bool = False) -> int:
    """Run the hidden graders with pytest in this (trusted) process; returns pytest's exit code.
    ``collect_only``: only collect them (the plugin's results then hold names, parts and points)."""
    # Off: what students never see, and the unraisable/thread-exception plugins' garbage
    # collections after every test (a third of the grader's own time).
    off = ("cacheprovider", "terminal", "warnings", "logging", "unraisableexception", "threadexception")
    args = [str(graders_dir), *(arg for name in off for arg in ("-p", f"no:{name}")),
            "--rootdir", str(graders_dir), "-c", "/dev/null", "-W", "ignore"]
    if select:
        args += ["-k", select]
    if collect_only:
        args.append("--collect-only")
    code = pytest.main(args, plugins=[plugin, PlainReports(), session_fixtures(plugin)])
    return int(code)
