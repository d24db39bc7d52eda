"""The Gradescope autograder: what the zip holds (never the answers), its two scripts, and which
submitted file run_autograder grades (by answer cells and the assignment's name, never alphabetically).

The end-to-end proof on Gradescope's own images (a debootstrap root filesystem of Ubuntu 22.04 and
24.04, root, no user namespaces) is scripts/gradescope_sim/prove.sh, its log in bench/gradescope_sim.log.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.engine.config import load_config
from autograder.packaging import gradescope
from autograder.packaging.gradescope import build_gradescope_zip, choice_note, choose_submission, forbidden_members

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "cnn_week1"
SOURCE_NOTEBOOK = REPO / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASE_NOTEBOOK = REPO / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SOLUTION = REPO / "solutions" / f"{ASSIGNMENT}.py"


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, config, mnist_dir):
    path = tmp_path_factory.mktemp("gs") / "autograder.zip"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_MNIST_DIR", str(mnist_dir))
        names = build_gradescope_zip(config, path, with_mnist=True)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(names)
        return {name: archive.read(name) for name in names}


# ----- the zip ---------------------------------------------------------------------------------

def test_the_zip_holds_only_what_grading_needs(bundle):
    allowed = re.compile(r"^(setup\.sh|run_autograder|requirements\.txt|pyproject\.toml|grading\.toml"
                         rf"|release/{ASSIGNMENT}/{ASSIGNMENT}\.ipynb|source/{ASSIGNMENT}/(mnist_data|hints)\.py"
                         r"|mnist/[a-z0-9-]+\.gz|autograder/.+)$")
    assert [name for name in bundle if not allowed.match(name)] == []
    assert not [name for name in bundle if name.startswith(("solutions/", "tests/", "submitted/", "cnnkit/"))]
    assert [name for name in bundle if name.endswith(".ipynb")] == [f"release/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"]
    assert bundle[f"release/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"] == RELEASE_NOTEBOOK.read_bytes()
    assert b"BEGIN SOLUTION" not in bundle[f"release/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"]
    assert {"setup.sh", "run_autograder", "grading.toml", "requirements.txt"} <= set(bundle)


def test_no_line_of_the_reference_solution_ships(bundle):
    """Not under any name: every distinctive line of solutions/ is absent from every member."""
    release = RELEASE_NOTEBOOK.read_text(encoding="utf-8")
    lines = {line.strip() for line in SOLUTION.read_text(encoding="utf-8").splitlines()}
    distinctive = [line for line in lines if len(line) >= 30 and not line.startswith(("#", "def ", "class ", "import ",
                                                                                        "from ", '"""', "raise "))
                   and line not in release
                   and not re.fullmatch(r"self\.\w+ = nn\.\w+\([\d, =a-z]*\)", line)]  # the contract's own layers
    assert len(distinctive) >= 10, "the check needs solution lines to look for"
    texts = {name: data.decode("utf-8", "replace") for name, data in bundle.items() if not name.startswith("mnist/")}
    leaks = {(name, line) for name, text in texts.items() for line in distinctive if line in text}
    assert leaks == set()


def test_a_zip_that_would_hold_the_answers_is_refused(tmp_path, config, monkeypatch):
    assert forbidden_members(["solutions/cnn_week1.py", "source/cnn_week1/cnn_week1.ipynb", "x/notes.ipynb",
                              "source/cnn_week1/mnist_data.py", "release/cnn_week1/cnn_week1.ipynb"]) == [
        "solutions/cnn_week1.py", "source/cnn_week1/cnn_week1.ipynb", "x/notes.ipynb"]
    members = gradescope.zip_members(config)
    monkeypatch.setattr(gradescope, "zip_members", lambda *a, **k: {**members, "solutions/cnn_week1.py": SOLUTION})
    with pytest.raises(ValueError, match="solutions/cnn_week1.py"):
        build_gradescope_zip(config, tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists()


def test_graders_that_mention_solutions_do_not_pull_them_in(tmp_path, config, monkeypatch):
    """The old kit shipped solutions/ whenever a grader contained the word; nothing reads it now."""
    graders = tmp_path / "graders"
    shutil.copytree(config.definition.graders_dir, graders)
    (graders / "test_zz_mention.py").write_text('NOTE = "the solutions folder is never read"\n')
    mentioning = dataclasses.replace(config, definition=dataclasses.replace(config.definition, graders_dir=graders))
    names = build_gradescope_zip(mentioning, tmp_path / "a.zip")
    assert not [name for name in names if name.startswith("solutions/")]
    assert not hasattr(gradescope, "graders_need_solutions")


def test_requirements_are_the_grader_pins_with_tomli_for_python_310(bundle):
    requirements = bundle["requirements.txt"].decode().splitlines()
    assert "torch==2.14.1" in requirements and "torchvision==0.29.1" in requirements
    assert "tomli>=1.1; python_version < '3.11'" in requirements
    assert not [line for line in requirements if line.split("=")[0].split(">")[0] in ("nbgrader", "jupyter")]


# ----- the scripts -----------------------------------------------------------------------------

def test_the_scripts_are_the_template_files_executable(tmp_path, bundle):
    for name in ("setup.sh", "run_autograder"):
        assert bundle[name] == (gradescope.TEMPLATES / name).read_bytes()
        assert subprocess.run(["bash", "-n", str(gradescope.TEMPLATES / name)]).returncode == 0
    build_gradescope_zip(load_config(), tmp_path / "x.zip")
    with zipfile.ZipFile(tmp_path / "x.zip") as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755 and modes["grading.toml"] == 0o644


def test_setup_builds_a_virtual_environment_and_never_pip_installs_system_wide():
    text = (gradescope.TEMPLATES / "setup.sh").read_text()
    code = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert any(re.match(r'python3 -m venv "\$VENV"', line) for line in code)
    pip_calls = [line for line in code if "pip install" in line]
    assert pip_calls and all(line.startswith(('"$VENV/bin/python" -m pip', 'if ! "$VENV/bin/python" -m pip'))
                             for line in pip_calls), pip_calls
    assert "--break-system-packages" not in text
    assert "https://download.pytorch.org/whl/cpu" in text  # CPU torch on the real platform
    assert "(3, 10) <= sys.version_info[:2] <= (3, 13)" in text  # 22.04's 3.10 and 24.04's 3.12 alike


def test_run_autograder_uses_the_virtual_environment_and_the_chooser():
    text = (gradescope.TEMPLATES / "run_autograder").read_text()
    assert 'PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"' in text
    assert "-m autograder.packaging.gradescope run" in text
    assert "sort" not in text and "head -n 1" not in text  # never the alphabetically first file


# ----- which file is graded --------------------------------------------------------------------

def _untitled(path: Path) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('scratch')")]), path)
    return path


def test_the_assignment_notebook_wins_over_an_untitled_one(tmp_path, config):
    folder = tmp_path / "submission"
    folder.mkdir()
    shutil.copy(SOURCE_NOTEBOOK, folder / f"{ASSIGNMENT}.ipynb")
    _untitled(folder / "Untitled.ipynb")
    _untitled(folder / "A first try.ipynb")  # alphabetically first, newest
    choice = choose_submission(folder, config)
    assert choice.chosen == folder / f"{ASSIGNMENT}.ipynb"
    assert choice.answers == len(config.definition.graded_names)
    assert sorted(p.name for p in choice.ignored) == ["A first try.ipynb", "Untitled.ipynb"]
    assert choice_note(choice, folder) == (f"Graded {ASSIGNMENT}.ipynb; not graded: A first try.ipynb, Untitled.ipynb.")


def test_a_single_notebook_of_another_name_with_the_answer_cells_is_graded(tmp_path, config):
    folder = tmp_path / "submission"
    (folder / "work").mkdir(parents=True)
    shutil.copy(SOURCE_NOTEBOOK, folder / "work" / "my homework (1).ipynb")
    _untitled(folder / "Untitled.ipynb")
    (folder / "notes.txt").write_text("hello")
    choice = choose_submission(folder, config)
    assert choice.chosen == folder / "work" / "my homework (1).ipynb"


def test_more_answer_cells_win_then_the_name_then_the_notebook(tmp_path, config):
    folder = tmp_path / "submission"
    folder.mkdir()
    notebook = nbformat.read(SOURCE_NOTEBOOK, as_version=4)
    notebook.cells = [cell for cell in notebook.cells
                      if cell.metadata.get("nbgrader", {}).get("grade_id") not in ("SimpleCNN", "feature_maps")]
    nbformat.write(notebook, folder / f"{ASSIGNMENT}.ipynb")  # the right name, two answers fewer
    shutil.copy(SOURCE_NOTEBOOK, folder / "cnn_week1 (2).ipynb")
    assert choose_submission(folder, config).chosen == folder / "cnn_week1 (2).ipynb"
    shutil.copy(SOURCE_NOTEBOOK, folder / f"{ASSIGNMENT}.ipynb")  # now both hold every answer: the name
    assert choose_submission(folder, config).chosen == folder / f"{ASSIGNMENT}.ipynb"
    only_py = tmp_path / "py"
    only_py.mkdir()
    shutil.copy(SOLUTION, only_py / "answers.py")
    _untitled(only_py / "Untitled.ipynb")
    assert choose_submission(only_py, config).chosen == only_py / "answers.py"


def test_checkpoints_and_hidden_files_are_never_graded(tmp_path, config):
    folder = tmp_path / "submission"
    (folder / ".ipynb_checkpoints").mkdir(parents=True)
    (folder / "__MACOSX").mkdir()
    shutil.copy(SOURCE_NOTEBOOK, folder / ".ipynb_checkpoints" / f"{ASSIGNMENT}-checkpoint.ipynb")
    shutil.copy(SOURCE_NOTEBOOK, folder / "__MACOSX" / f"._{ASSIGNMENT}.ipynb")
    shutil.copy(SOURCE_NOTEBOOK, folder / f".{ASSIGNMENT}.ipynb")
    _untitled(folder / "Untitled.ipynb")
    choice = choose_submission(folder, config)
    assert choice.chosen == folder / "Untitled.ipynb" and choice.ignored == []


def test_nothing_to_grade_says_so(tmp_path, config):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(b"%PDF-1.4")
    choice = choose_submission(folder, config)
    assert choice.chosen is None
    assert choice_note(choice, folder).startswith("Nothing to grade: the submission has no notebook (.ipynb) or "
                                                  "Python file (.py); it has report.pdf.")
    assert choose_submission(tmp_path / "absent", config).chosen is None


# ----- run_autograder, off Gradescope ----------------------------------------------------------

def _run_autograder(bundle: dict, root: Path, files: dict[str, Path | None]) -> dict:
    for name, data in bundle.items():
        (root / "source" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "source" / name).write_bytes(data)
    (root / "submission").mkdir()
    for name, origin in files.items():
        if origin is None:
            _untitled(root / "submission" / name)
        else:
            shutil.copy(origin, root / "submission" / name)
    env = {k: v for k, v in os.environ.items() if k != "CNN_MNIST_DIR"}  # the zip's own MNIST copy is used
    env.update(AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "run_autograder: sandbox mode" in done.stdout  # for the instructor (stdout is staff-only)
    return json.loads((root / "results" / "results.json").read_text())


@pytest.mark.slow
def test_run_autograder_grades_the_right_notebook_of_two(tmp_path, bundle):
    results = _run_autograder(bundle, tmp_path, {"Untitled.ipynb": None, f"{ASSIGNMENT}.ipynb": SOURCE_NOTEBOOK})
    assert results["score"] == results["max_score"] == 100.0, [t["name"] for t in results["tests"]
                                                                if t["status"] != "passed"]
    assert results["output"].startswith(f"Graded {ASSIGNMENT}.ipynb; not graded: Untitled.ipynb.")
    assert "lacked" not in json.dumps({k: v for k, v in results.items() if k != "provenance"})


@pytest.mark.slow
def test_run_autograder_on_an_empty_submission_gives_zero_with_the_reason(tmp_path, bundle):
    results = _run_autograder(bundle, tmp_path, {})
    assert results["score"] == 0 and results["max_score"] == 100.0
    assert results["output"].startswith("Nothing to grade: the submission has no notebook (.ipynb)")
    assert {test["output"] for test in results["tests"]} == {"Not graded: nothing was submitted."}
    assert {test["tags"][0] for test in results["tests"]} == set(load_config().parts)


# ----- what students see of the sandbox ----------------------------------------------------------

def test_an_isolation_notice_is_for_the_instructor_only():
    """Inside Gradescope's container (no namespaces) some protections are missing: provenance and the
    terminal report (Gradescope's stdout, staff-only) say which; the output and feedback.html do not."""
    from autograder.engine.feedback_html import render_feedback
    from autograder.engine.report import summary
    from autograder.engine.results import SubmissionResult

    missing = ["network isolation", "a private process namespace"]
    result = SubmissionResult(submission="cnn_week1.ipynb", kind="notebook", tests=[],
                              parts={"manual_conv": ("Edges", 30.0)}, missing_protections=missing,
                              provenance={"sandbox_mode": "uid", "missing_protections": missing})
    shown = result.to_gradescope()
    assert "network isolation" not in json.dumps({k: v for k, v in shown.items() if k != "provenance"})
    assert shown["provenance"]["missing_protections"] == missing
    assert "network isolation" not in render_feedback(result.to_feedback_data())
    assert "network isolation" in summary(result)
