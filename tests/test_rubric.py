"""The rubric (part, test, points, what it checks): generated from the graders and grading.toml by one
function, printed by ``python -m autograder rubric``, and kept in the README as generated text."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from autograder.engine.config import load_config
from autograder.engine.grader_names import grader_test_names
from autograder.engine.rubric import grader_tests, markdown, rubric_markdown, rubric_rows
from conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
MARKERS = re.compile(r"<!-- rubric:start[^\n]*-->\n(.*?)<!-- rubric:end -->", re.S)


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def collected(config):
    return grader_tests(config)


def test_the_readme_rubric_is_the_generated_one(config):
    found = MARKERS.findall(README.read_text(encoding="utf-8"))
    assert len(found) == 1, "README.md needs one rubric between <!-- rubric:start ... --> and <!-- rubric:end -->"
    assert found[0] == rubric_markdown(config), (
        "README.md's rubric is out of date: paste the output of `python -m autograder rubric` between its markers")


def test_the_command_prints_it(config):
    done = subprocess.run([sys.executable, "-m", "autograder", "rubric"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == rubric_markdown(config)


def test_every_grader_test_is_a_row_with_its_share_of_its_part(config, collected):
    rows = rubric_rows(collected, {key: (part.title, part.points) for key, part in config.parts.items()})
    assert {row.test for row in rows} == grader_test_names(config.definition.graders_dir).exact
    for key, part in config.parts.items():
        assert round(sum(row.points for row in rows if row.part == key), 2) == part.points
    visible = [row for row in rows if not row.hidden]
    assert visible and all(row.checks for row in visible), [row.test for row in visible if not row.checks]
    assert any(row.hidden for row in rows) and all(row.checks == "" for row in rows if row.hidden)


def test_hidden_tests_show_their_name_and_points_only(config, collected):
    hidden = [test for test in collected if test.hidden]
    text = rubric_markdown(config)
    for test in hidden:
        line = next(line for line in text.splitlines() if f"| {test.name} |" in line)
        assert line.endswith(f"| {test.max_score:g} | *hidden test: name and points only* |")


def test_a_table_cell_cannot_break_the_table():
    rows = rubric_rows([{"name": "a | b", "part": "p", "max_score": 1.0, "checks": "x\n| y", "hidden": False}],
                       {"p": ("P", 1.0)})
    assert markdown(rows).splitlines()[2] == "| P (1) | a \\| b | 1 | x \\| y |"
