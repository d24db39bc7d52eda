"""``github-classroom``: a GitHub Actions workflow that runs the public checks in student repositories.

One step per part runs the public checks of that part on the student's notebook
(classroom-resources/autograding-command-grader) and the reporter
(classroom-resources/autograding-grading-reporter) sends the points to GitHub Classroom.
Public checks only: a student repository and its Actions logs are readable by the student, so
hidden tests and the reference solution never go there (they stay on Gradescope or the
instructor's machine, where ``grade-all`` runs them in the sandbox).
"""
from __future__ import annotations

import json

from ..engine.config import GradingConfig

HEADER = """\
# Written by `python -m autograder github-classroom`. Public checks only: everything in a student
# repository (this file, its logs) is visible to the student, so the hidden tests stay elsewhere.
name: Autograding Tests
on: [push, workflow_dispatch, repository_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the checks' dependencies (CPU torch)
        run: |
          python -m pip install --upgrade pip
          python -m pip install --extra-index-url https://download.pytorch.org/whl/cpu {requirements}
      - name: Write the check runner
        run: |
{runner}
"""

# Runs the notebook's import cell and graded cells (each on its own: one broken cell costs only its
# names), then the public checks of one part; exit 0 when they all pass.
CHECK_RUNNER = """\
import json, sys, traceback
sys.path.insert(0, ".")
from public_checks import run_checks
part, notebook, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
namespace = {"__name__": "__main__"}
for cell in json.load(open(notebook, encoding="utf-8"))["cells"]:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if cell.get("cell_type") == "code" and grade_id in names:
        try:
            exec("".join(cell["source"]), namespace)
        except Exception:
            traceback.print_exc()
sys.exit(0 if run_checks(part, namespace) else 1)
"""

STEP = """\
      - name: {title}
        id: {step_id}
        uses: classroom-resources/autograding-command-grader@v1
        with:
          test-name: {title}
          setup-command: ""
          command: "python .classroom_check.py {part} {notebook} {names}"
          timeout: {timeout}
          max-score: {points}
"""

REPORTER = """\
      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
{env}
        with:
          runners: {runners}
"""


def classroom_workflow(config: GradingConfig, requirements: str, timeout_minutes: int = 10) -> str:
    """The workflow's YAML text. ``requirements``: pip requirement specs (pinned) for the checks."""
    definition = config.definition
    steps, ids = [], []
    names = ",".join([definition.import_cell, *definition.graded_names])
    for key, part in config.parts.items():
        step_id = key.replace("_", "-")
        ids.append(step_id)
        steps.append(STEP.format(title=json.dumps(part.title), step_id=step_id, notebook=config.assignment.notebook,
                                 names=names, part=key, timeout=timeout_minutes, points=int(round(part.points))))
    env = "\n".join(f"          {i.upper().replace('-', '_')}_RESULTS: \"${{{{steps.{i}.outputs.result}}}}\"" for i in ids)
    runner = "          cat > .classroom_check.py <<'PY'\n" + "".join(
        f"          {line}\n" if line else "\n" for line in CHECK_RUNNER.splitlines()) + "          PY"
    return HEADER.format(requirements=requirements, runner=runner) + "".join(steps) + REPORTER.format(env=env, runners=",".join(ids))
