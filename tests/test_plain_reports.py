"""The grading plugin's own test reports (plugin.PlainReports): outcomes as pytest decides them,
without pytest's formatted traceback, which nobody reads and which would carry a grader's source."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from autograder.engine.grade import GraderError, grade

REFERENCE = Path(__file__).resolve().parents[1] / "solutions" / "cnn_week1.py"

GRADERS = '''
import pytest
from autograder.engine.failures import GradingFailure

pytestmark = pytest.mark.part("output_size")

def test_passes(student):
    """a test that passes"""
    assert student.call("same_padding", 3) == 1

def test_fails(student):
    """a test that fails with the grader's words"""
    secret_expected_value = 12345
    raise GradingFailure(f"same_padding(3) is wrong")

def test_skipped(student):
    """a test the grader skips"""
    pytest.skip("not today")

@pytest.mark.xfail(reason="a grader may mark one")
def test_expected_to_fail(student):
    """a test expected to fail"""
    assert False
'''


def write_graders(folder, module: str, extra: str = ""):
    """A graders folder; ``module``: a file name no other test of this process used (pytest keeps modules)."""
    folder.mkdir()
    (folder / f"{module}.py").write_text(textwrap.dedent(GRADERS) + extra)
    return folder


def test_outcomes_and_words_without_pytests_traceback(tmp_path, sandbox_config, fork_server):
    graders = write_graders(tmp_path / "graders", "test_plain_outcomes")
    result = grade(REFERENCE, tmp_path / "out", sandbox_config, graders_dir=graders, server=fork_server)
    by_name = {test.name: test for test in result.tests}
    assert by_name["a test that passes"].passed
    failed = by_name["a test that fails with the grader's words"]
    assert not failed.passed and failed.summary == "same_padding(3) is wrong"
    assert by_name["a test the grader skips"].summary == "The test was skipped."
    assert not by_name["a test expected to fail"].passed
    written = (tmp_path / "out" / "results.json").read_text() + (tmp_path / "out" / "feedback.json").read_text()
    assert "secret_expected_value" not in written and "test_plain_outcomes" not in written


def test_a_graders_own_error_is_still_a_host_fault_naming_it(tmp_path, sandbox_config, fork_server):
    graders = write_graders(tmp_path / "graders", "test_plain_broken", "\n\ndef test_broken(student):\n    {}['missing']\n")
    with pytest.raises(GraderError, match="KeyError: 'missing'"):
        grade(REFERENCE, tmp_path / "out", sandbox_config, graders_dir=graders, server=fork_server)
