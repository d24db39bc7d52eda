"""Every corpus case graded by the real graders: a bug costs only its own tests, an attack nothing.

Per case (tests/corpus/cases.py): the tests of the functions the case breaks lose points, every
other graded test keeps full marks, results.json is valid and says exactly what the grader
computed, and nothing the submission started or wrote survives grading. Most cases run only
the graders of the parts they need (``select=``); a few are full grades, accuracy gate included.
Expected scores come from grading.toml through ``load_config``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import sys
from pathlib import Path

import pytest

from autograder.config import load_config
from autograder.contract import GRADED_NAMES, PART_OF, PARTS
from autograder.grade import GRADERS_DIR, grade
from conftest import wait_until

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
    source = config.mnist_directory() / "t10k-images-idx3-ubyte.gz"
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
        if case.notebook:
            cases.notebook_text(case, SOURCE_NOTEBOOK)
        else:
            compile(cases.module_source(case, "1"), case.name, "exec")


def test_reference_gets_full_marks(tmp_path, config):
    """The corpus's base is right: graded in full, every part gets all of grading.toml's points."""
    result = grade(cases.REFERENCE, tmp_path / "out", config)
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    check_results_json(data, result, config)
    failed = [f"{t.name}: {t.summary}" for t in result.tests if not t.passed]
    assert failed == []
    for part, settings in config.parts.items():
        assert result.part_score(part) == pytest.approx(settings.points)
    assert result.score == pytest.approx(config.max_score)


@pytest.mark.parametrize("case", cases.CASES, ids=lambda case: case.name)
def test_corpus_case(case, tmp_path, config, request):
    marker = str(10 ** 9 + secrets.randbelow(10 ** 9))
    planted = request.getfixturevalue("planted") if case.needs_planted else Path("/nonexistent")
    if case.notebook:
        submission = tmp_path / "submission.ipynb"
        submission.write_text(cases.notebook_text(case, SOURCE_NOTEBOOK))
    else:
        submission = tmp_path / "submission.py"
        submission.write_text(cases.module_source(case, marker, str(planted), str(KIT_ROOT)))
    out_dir = tmp_path / "out"
    guessed_results = [Path("/autograder/results/results.json"), Path("/tmp/results.json"),
                       Path.home() / "results.json", KIT_ROOT / "results.json", Path.cwd() / "results.json"]
    existed = {path: path.exists() for path in guessed_results}

    result = grade(submission, out_dir, config, select=selection(case))

    # results.json: valid, complete, and exactly the grader's own result
    text = (out_dir / "results.json").read_text()
    data = json.loads(text)
    check_results_json(data, result, config)
    written = {path.name for path in out_dir.iterdir()}
    assert "results.json" in written and written <= GRADER_OUTPUTS, written
    assert f"FAKE-{marker}" not in text

    # the tests of the broken functions fail, every other graded test passes
    ran = [test for test in result.tests if test.selected]
    assert ran, "the selection ran no test"
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
    assert descendants(os.getpid()) == [] or wait_until(lambda: descendants(os.getpid()) == [])
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
