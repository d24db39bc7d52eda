"""Every corpus case graded by the real graders: a bug costs only its own tests, an attack nothing.

Per case (tests/corpus/cases.py): the tests of the functions the case breaks lose points, every
other graded test keeps full marks, results.json is valid and says exactly what the grader
computed, and nothing the submission started or wrote survives grading. Most cases run only
the graders of the parts they need (``select=``); a few are full grades, accuracy gate included.
Expected scores come from grading.toml through ``load_config``.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path

import pytest

from autograder.engine.config import load_config
from autograder.assignments.cnn_week1.contract import GRADED_NAMES, PART_OF, PARTS
from autograder.engine.grade import grade
from autograder.engine.report import summary
from autograder.assignments.cnn_week1.settings import mnist_directory
from conftest import shown_docstring_lines, wait_until
from week1 import WEEK1

GRADERS_DIR = WEEK1.graders_dir

KIT_ROOT = Path(__file__).resolve().parents[1]
SOURCE_NOTEBOOK = KIT_ROOT / "source" / "cnn_week1" / "cnn_week1.ipynb"
GATE_TEST = "test_accuracy_gate"
GRADER_OUTPUTS = {"results.json", "feedback.json", "feedback.html"}  # all grade() writes into the out dir


def _load_cases():
    spec = importlib.util.spec_from_file_location("corpus_cases", KIT_ROOT / "tests" / "corpus" / "cases.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


cases = _load_cases()


@pytest.fixture(scope="session")
def config():
    os.environ.setdefault("CNN_MNIST_DIR", str(KIT_ROOT.parent / "shared" / "datasets" / "mnist"))
    return load_config(KIT_ROOT / "grading.toml")


@pytest.fixture(scope="session")
def server(config):
    """One warm fork-server (one torch import) for every grade of the corpus, as a grading job has."""
    from autograder.engine.grade import fork_server

    with fork_server(config) as forks:
        forks.ready()
        forks.corpus_own_processes = set(descendants(os.getpid()))  # the server itself, before any worker
        yield forks


@pytest.fixture(scope="session")
def graded_twins() -> dict:
    """(case name, selection) -> per-test (name, score, status) of an already graded case."""
    return {}


def part_files() -> dict[str, set[str]]:
    """Part key -> grader modules that score it (read from their ``pytest.mark.part`` markers)."""
    found: dict[str, set[str]] = {}
    for module in sorted(GRADERS_DIR.glob("test_*.py")):
        for part in re.findall(r"mark\.part\(\s*[\"'](\w+)[\"']", module.read_text()):
            found.setdefault(part, set()).add(module.name)
    return found


def selection(case) -> str | None:
    """The pytest -k expression grading only what the case needs (None: everything)."""
    if case.parts is None:
        return None
    files = part_files()
    parts = set(case.parts) | {PART_OF[name] for name in case.broken}
    missing = [part for part in parts if part not in files]
    assert not missing, f"no grader module scores {missing} yet"
    expression = "(" + " or ".join(sorted({name for part in parts for name in files[part]})) + ")"
    return expression if case.gate else f"{expression} and not {GATE_TEST}"


def descendants(pid: int) -> list[int]:
    """Live (non-zombie) processes below ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if stat[0] != "Z":
                children.setdefault(int(stat[1]), []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children.get(child, [])
    return found


def processes_with(marker: str) -> list[str]:
    hits = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except (FileNotFoundError, ProcessLookupError):
                continue
            if marker in cmdline:
                hits.append(f"{entry.name}: {cmdline}")
    return hits


def files_with(marker: str, folders: list[Path]) -> list[Path]:
    hits = []
    for folder in folders:
        try:
            hits += [path for path in folder.iterdir() if marker in path.name]
        except OSError:
            pass
    return hits


def check_results_json(data: dict, result, config) -> None:
    """results.json is valid Gradescope JSON that says exactly what the grader computed."""
    assert data["score"] == pytest.approx(sum(test["score"] for test in data["tests"]), abs=1e-3)
    assert data["max_score"] == pytest.approx(config.max_score)
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility", "tags"}
        assert test["status"] in ("passed", "failed") and len(test["tags"]) == 1
    for part, settings in config.parts.items():  # every part, its tests' points adding up to grading.toml's
        tests = [test for test in data["tests"] if test["tags"] == [part]]
        assert tests, f"part {part} is missing from results.json"
        assert sum(test["max_score"] for test in tests) == pytest.approx(settings.points, abs=1e-3)
    assert [(t["name"], t["score"], t["status"]) for t in data["tests"]] == \
        [(t.name, round(t.score, 4), t.status) for t in result.tests]
    assert data["score"] == result.score


@pytest.fixture
def planted(config):
    """A real copy of the MNIST test images in /tmp (removed afterwards), for the cases that hunt for it."""
    folder = Path("/tmp") / f"corpus-planted-{secrets.token_hex(4)}"
    folder.mkdir()
    folder.chmod(0o755)
    source = mnist_directory(config) / "t10k-images-idx3-ubyte.gz"
    shutil.copyfile(source, folder / source.name)
    (folder / source.name).chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_corpus_is_big_and_every_case_builds():
    names = [case.name for case in cases.CASES]
    assert len(names) >= 25 and len(set(names)) == len(names)
    assert sum(case.parts is None for case in cases.CASES) <= 5  # full grades are expensive
    for case in cases.CASES:
        assert set(case.broken) <= set(GRADED_NAMES), case.name
        if cases.is_notebook(case):
            cases.notebook_text(case, SOURCE_NOTEBOOK)
        else:
            compile(cases.module_source(case, "1"), case.name, "exec")


def test_reference_gets_full_marks(tmp_path, config, server):
    """The corpus's base is right: graded in full, every part gets all of grading.toml's points."""
    result = grade(cases.REFERENCE, tmp_path / "out", config, server=server)
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    check_results_json(data, result, config)
    failed = [f"{t.name}: {t.summary}" for t in result.tests if not t.passed]
    assert failed == []
    for part, settings in config.parts.items():
        assert result.part_score(part) == pytest.approx(settings.points)
    assert result.score == pytest.approx(config.max_score)


def write_submission(case, folder: Path, marker: str, planted: Path) -> Path:
    if cases.is_notebook(case):
        submission = folder / (case.filename or "submission.ipynb")
        submission.write_text(cases.notebook_text(case, SOURCE_NOTEBOOK, marker, str(KIT_ROOT)))
    else:
        submission = folder / (case.filename or "submission.py")
        submission.write_text(cases.module_source(case, marker, str(planted), str(KIT_ROOT)))
    return submission


def outcomes(result) -> list[tuple[str, float, str]]:
    return [(test.name, round(test.score, 4), test.status) for test in result.tests if test.selected]


def twin_outcomes(case, select, config, server, graded_twins, folder: Path) -> list[tuple[str, float, str]]:
    """What the undisguised cheat ``case.same_as`` scores on the same selection (graded once)."""
    key = (case.same_as, select)
    if key not in graded_twins:
        twin = next(other for other in cases.CASES if other.name == case.same_as)
        folder.mkdir()
        submission = write_submission(twin, folder, "0", Path("/nonexistent"))
        graded_twins[key] = outcomes(grade(submission, folder / "out", config, select=select, server=server))
    return graded_twins[key]


def strings_in(value) -> str:
    """Every string (keys included) of decoded JSON, one per line: what a reader of the file sees."""
    if isinstance(value, str):
        return value + "\n"
    if isinstance(value, dict):
        return "".join(strings_in(k) + strings_in(v) for k, v in value.items())
    if isinstance(value, list):
        return "".join(strings_in(item) for item in value)
    return ""


def grader_lines() -> set[str]:
    """Distinctive code lines of the graders and the worker's model (none may reach a student)."""
    files = [*GRADERS_DIR.glob("*.py"), *WEEK1.worker_tasks.glob("*.py")]
    found = set()
    for path in files:
        for line in path.read_text().splitlines():
            line = line.strip()
            if len(line) >= 40 and not line.startswith(("#", '"', "'", "f\"", "f'")) and "{" not in line:
                found.add(line)
    return found - shown_docstring_lines(GRADERS_DIR)


def hidden_conv_inputs() -> list[str]:
    """The first values of every hidden random conv2d_single image, formatted as the leak case prints them."""
    import torch

    spec = importlib.util.spec_from_file_location("corpus_manual_conv", GRADERS_DIR / "test_manual_conv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    texts = []
    for seed, h, w, *_ in module.single_cases():
        image = torch.randn(h, w, generator=torch.Generator().manual_seed(seed))
        texts.append(" ".join(f"{v:.4f}" for v in image.flatten()[:5].tolist()))
    return texts


@pytest.mark.parametrize("case", cases.CASES, ids=lambda case: case.name)
def test_corpus_case(case, tmp_path, config, server, graded_twins, request):
    marker = str(10 ** 9 + secrets.randbelow(10 ** 9))
    planted = request.getfixturevalue("planted") if case.needs_planted else Path("/nonexistent")
    submission = write_submission(case, tmp_path, marker, planted)
    out_dir = tmp_path / "out"
    guessed_results = [Path("/autograder/results/results.json"), Path("/tmp/results.json"),
                       Path.home() / "results.json", KIT_ROOT / "results.json", Path.cwd() / "results.json"]
    existed = {path: path.exists() for path in guessed_results}
    if case.time_budget is not None:
        config = dataclasses.replace(config, sandbox=dataclasses.replace(config.sandbox, time_budget=case.time_budget))

    started = time.monotonic()
    result = grade(submission, out_dir, config, select=selection(case), server=server)
    assert time.monotonic() - started < case.max_seconds, "grading took longer than the case allows"

    # results.json: valid, complete, small, and exactly the grader's own result
    text = (out_dir / "results.json").read_text()
    data = json.loads(text)
    check_results_json(data, result, config)
    written = {path.name for path in out_dir.iterdir()}
    assert "results.json" in written and written <= GRADER_OUTPUTS, written
    assert f"FAKE-{marker}" not in text
    assert (out_dir / "results.json").stat().st_size <= 1_000_000
    assert not (out_dir / "feedback.json").exists() or (out_dir / "feedback.json").stat().st_size <= 4_000_000

    # nothing leaked: no grader code in what students get, no terminal escapes for the instructor
    shown = strings_in(data)
    if (out_dir / "feedback.json").exists():
        shown += strings_in(json.loads((out_dir / "feedback.json").read_text()))
    leaked = [line for line in grader_lines() if line in shown]
    assert leaked == [], f"grader code reached the results: {leaked[:3]}"
    terminal = summary(result, verbose=True, colour=False)
    assert not any(control in terminal for control in ("\x1b", "\x07", "\x9b")), "escapes reach the terminal"
    if case.leak_probe:
        assert "RECORDED" in shown, "the visible failure that should carry the recorded inputs is not there"
        seen_hidden = [values for values in hidden_conv_inputs() if values in shown]
        assert seen_hidden == [], f"hidden test inputs reached the results: {seen_hidden[:2]}"

    ran = [test for test in result.tests if test.selected]
    assert ran, "the selection ran no test"
    if case.unreadable:  # nothing could be graded: zero everywhere, and results.json says why
        assert result.score == 0 and not any(test.passed for test in ran)
        assert result.problems and "notebook" in " ".join(result.problems).lower()
        assert result.problems[0][:40] in shown, "results.json does not say why"
        return

    # the exact score: the plain cheat's for a disguised one, else from the tests that must fail
    if case.same_as:
        assert outcomes(result) == twin_outcomes(case, selection(case), config, server, graded_twins,
                                                 tmp_path / "twin")
    if case.fails:
        if case.fails == "all":
            failing = {test.name for test in ran if any(name in test.name for name in case.broken)}
        else:
            failing = {test.name for test in ran if any(fragment in test.name for fragment in case.must_fail)}
        assert failing or not case.broken, "the case names no test that must fail"
        assert {test.name: test.passed for test in ran} == {test.name: test.name not in failing for test in ran}
        # a test failed only by a mistake charged in another test keeps its points ([scoring] same_mistake)
        expected = sum(test.max_score for test in ran if test.name not in failing or test.same_mistake_as)
        assert sum(test.score for test in ran) == pytest.approx(expected, abs=1e-3)

    # the tests of the broken functions fail, every other graded test passes
    about_broken = {test.name: any(name in test.name for name in case.broken) for test in ran}
    collateral = [f"{test.name}: {test.summary}" for test in ran if not test.passed and not about_broken[test.name]]
    assert collateral == [], f"{case.name} cost points outside its broken functions"
    for name in case.broken:
        mine = [test for test in ran if name in test.name]
        assert mine and not all(test.passed for test in mine), f"no test of {name} failed"
    for fragment in case.must_fail:
        named = [test for test in ran if fragment in test.name]
        assert named and not any(test.passed for test in named), f"'{fragment}…' should fail"

    # per part: untouched parts keep full marks (all of grading.toml's points in a full grade)
    touched = {PART_OF[name] for name in case.broken}
    for part in {test.part for test in ran}:
        deserved = sum(test.max_score for test in ran if test.part == part)
        if case.parts is None:
            assert deserved == pytest.approx(config.parts[part].points)
        if part in touched:
            assert result.part_score(part) < deserved
        else:
            assert result.part_score(part) == pytest.approx(deserved), part

    # nothing left behind: no process, no file, no results.json elsewhere
    left = lambda: set(descendants(os.getpid())) - server.corpus_own_processes  # workers and what they started
    assert left() == set() or wait_until(lambda: left() == set()), left()
    assert processes_with(marker) == [] or wait_until(lambda: processes_with(marker) == []), processes_with(marker)
    around = [Path("/tmp"), Path.home(), Path.cwd(), KIT_ROOT, tmp_path, Path("/autograder/results")]
    assert files_with(marker, around) == []
    for path, was_there in existed.items():
        assert path.exists() == was_there, path
    if case.leaves_marker:  # the case did try: its text holds the marker it would have left
        assert marker in submission.read_text()




def test_part_files_cover_every_part():
    """The selection expressions above find a grader module for every contract part."""
    assert set(part_files()) == set(PARTS)
