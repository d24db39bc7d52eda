"""``python -m autograder github``: Classroom 50's autograder, the roster grading workflow, the student workflow.

- Every generated workflow passes actionlint (with shellcheck on its ``run:`` scripts), and every action it
  uses is a version actionlint knows (so their inputs are checked) and not on the deprecated node20 runtime.
- The Classroom 50 autograder runs for real, as Classroom 50's runner runs it (working directory = the
  student's checkout, its environment variables), on the reference solution and on the untouched release,
  and writes a result.json that keeps classroom50/result/v1 (the facts are written out below: the
  schema is GPL-licensed and not copied here). Its folder holds the public checks only.
- The roster workflow's commands are the kit's own (parsed by the kit's real parser), and its fetch step,
  run for real against local git repositories, lays out what ``collect`` expects.

Needs actionlint and shellcheck: ``pip install -e '.[dev]'`` (scripts/setup.sh does).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder.cli import build_parser
from autograder.engine.config import load_config
from autograder.packaging import github

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "cnn_week1"
RELEASE = REPO / "release" / ASSIGNMENT
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name) or (str(BIN / name) if (BIN / name).is_file() else None)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]' (scripts/setup.sh does)")
    return found


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def kit(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, **kwargs)


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Everything the three targets write, through the real command line."""
    root = tmp_path_factory.mktemp("github")
    commands = [
        ("classroom50", "--config-repo", str(root / "classroom50"), "--classroom", "cnn", "--template", "org/cnn-week1"),
        ("roster-workflow", "--out", str(root / "grading" / ".github" / "workflows" / "grade-roster.yml")),
        ("roster-workflow", "--out", str(root / "custom.yml"), "--owner", "my-org", "--repo-prefix", "cnn-cnn-week1-",
         "--token-secret", "CLASSROOM50_SERVICE_TOKEN", "--roster", "cnn/roster.csv", "--jobs", "4", "--python", "3.12"),
        ("student-workflow", "--repo", str(root / "student")),
    ]
    for command in commands:
        done = kit("github", *command)
        assert done.returncode == 0, done.stdout + done.stderr
    return root


def workflows(root: Path) -> list[Path]:
    found = sorted(root.rglob("*.yml"))
    assert len(found) == 3, found
    return found


# ----- linting ------------------------------------------------------------------------------------------

def test_every_generated_workflow_passes_actionlint(generated):
    done = actionlint(*workflows(generated))
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_actionlint_really_checks_them(generated, tmp_path):
    """A broken copy fails: a typo in an action's input and an untrusted expression inlined in a script."""
    text = (generated / "custom.yml").read_text()
    broken = text.replace("if-no-files-found: error", "if-no-file-found: error", 1)
    broken = broken.replace("run: python -m autograder collect --downloads downloads",
                            "run: echo ${{ github.event.head_commit.message }}", 1)
    assert broken.count("if-no-file-found") == 1 and "head_commit" in broken
    (tmp_path / "broken.yml").write_text(broken)
    done = actionlint(tmp_path / "broken.yml")
    assert done.returncode != 0
    assert 'input "if-no-file-found" is not defined' in done.stdout and "untrusted" in done.stdout, done.stdout


@pytest.mark.parametrize("action", sorted(github.ACTIONS))
def test_actions_are_versions_actionlint_knows_and_not_node20(action, tmp_path):
    """actionlint knows the inputs of each version used (so it checked them above), and does not call
    its runtime deprecated (checkout@v4 and friends run on node20, which GitHub removes in 2026)."""
    uses = f"actions/{action.replace('_', '-')}@{github.ACTIONS[action]}"
    (tmp_path / "probe.yml").write_text(f"on: workflow_dispatch\njobs:\n  probe:\n    runs-on: ubuntu-latest\n"
                                        f"    steps:\n      - uses: {uses}\n        with:\n          no-such-input: x\n")
    done = actionlint(tmp_path / "probe.yml")
    assert f'input "no-such-input" is not defined in action "{uses}"' in done.stdout, done.stdout
    assert "deprecated" not in done.stdout and "retired" not in done.stdout, done.stdout


# ----- the roster workflow (the instructor's private grading repository) ---------------------------------

def run_steps(path: Path) -> list[dict]:
    workflow = yaml.safe_load(path.read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def kit_commands(path: Path) -> list[list[str]]:
    """Every ``python -m autograder ...`` command line of the workflow's run: scripts, split as bash would."""
    commands = []
    for step in run_steps(path):
        for line in step.get("run", "").splitlines():
            if "-m autograder" in line:
                words = shlex.split(line)
                assert words[:3] == ["python", "-m", "autograder"], line
                commands.append(words[3:])
    return commands


@pytest.mark.parametrize("name", ["grading/.github/workflows/grade-roster.yml", "custom.yml"])
def test_roster_workflow_runs_the_kits_real_commands(generated, name):
    commands = kit_commands(generated / name)
    assert [words[0] for words in commands] == ["collect", "grade-all", "export"]
    parser = build_parser()
    for words in commands:
        parser.parse_args(words)  # an unknown subcommand or option, or a bad value, exits here
        help_text = kit(words[0], "--help")
        assert help_text.returncode == 0, help_text.stderr
        for option in (word for word in words if word.startswith("--")):
            assert option in help_text.stdout, (option, words[0])
    export = next(words for words in commands if words[0] == "export")
    assert "--out" not in export  # so grades.csv is where the artifact step looks for it
    uploads = [step for step in run_steps(generated / name) if step.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads[0]["with"]["path"] == f"export/{ASSIGNMENT}/grades.csv"
    assert uploads[0]["with"]["name"] == f"grades-{ASSIGNMENT}"


def test_roster_workflow_gives_the_token_to_the_fetch_step_only(generated):
    for path in (generated / "custom.yml", generated / "grading/.github/workflows/grade-roster.yml"):
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {"contents": "read"}
        steps = run_steps(path)
        with_secrets = [step["name"] for step in steps if "secrets." in json.dumps(step)]
        assert with_secrets == ["Fetch the students' notebooks"]
        checkouts = [step for step in steps if step.get("uses", "").startswith("actions/checkout")]
        assert all(step["with"]["persist-credentials"] is False for step in checkouts)
    custom = {step["name"]: step for step in run_steps(generated / "custom.yml")}["Fetch the students' notebooks"]
    assert custom["env"]["TOKEN"] == "${{ secrets.CLASSROOM50_SERVICE_TOKEN }}"
    assert custom["env"]["OWNER"] == "my-org" and custom["env"]["PREFIX"] == "cnn-cnn-week1-"
    assert custom["env"]["ROSTER"] == "cnn/roster.csv"


def git(*args: str, cwd: Path, when: int | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="s", GIT_AUTHOR_EMAIL="s@example.org", GIT_COMMITTER_NAME="s",
               GIT_COMMITTER_EMAIL="s@example.org")
    if when:
        env.update(GIT_AUTHOR_DATE=f"@{when} +0000", GIT_COMMITTER_DATE=f"@{when} +0000")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def student_repository(server: Path, name: str, files: dict[str, bytes], when: int) -> None:
    work = server.parent / "work" / name
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    for relative, content in files.items():
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        (work / relative).write_bytes(content)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "submission", cwd=work, when=when)
    git("clone", "-q", "--bare", str(work), str(server / "my-org" / f"{name}.git"), cwd=server.parent)


def test_roster_fetch_step_lays_out_what_collect_expects(generated, tmp_path):
    """The fetch script, run by bash against local repositories (GITHUB_SERVER_URL points at them), then
    the kit's collect on its output."""
    fetch = {step["name"]: step for step in run_steps(generated / "custom.yml")}["Fetch the students' notebooks"]
    notebook = (RELEASE / f"{ASSIGNMENT}.ipynb").read_bytes()
    server = tmp_path / "server"
    (server / "my-org").mkdir(parents=True)
    student_repository(server, "cnn-cnn-week1-alice", {f"{ASSIGNMENT}.ipynb": notebook, "notes.md": b"x"}, 1_765_400_000)
    student_repository(server, "cnn-cnn-week1-Bob-2", {f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb": notebook}, 1_765_500_000)
    student_repository(server, "cnn-cnn-week1-carol", {"Untitled.ipynb": notebook}, 1_765_500_000)
    grading = tmp_path / "grading"
    (grading / "cnn").mkdir(parents=True)
    (grading / "cnn" / "roster.csv").write_text(
        "username,first_name,last_name,email,section,github_id\r\nalice,A,L,a@x.org,1,1\r\n\"Bob-2\",B,O,,1,2\r\n"
        "carol,C,A,,,3\r\ndave,D,A,,,4\r\n,pending,email,e@x.org,,\r\n")
    summary = tmp_path / "summary.md"
    env = {**{k: v for k, v in fetch["env"].items() if "${{" not in v}, "TOKEN": "s3cret-token", "REF": "",
           "GITHUB_SERVER_URL": f"file://{server}", "RUNNER_TEMP": str(tmp_path / "runner"),
           "GITHUB_STEP_SUMMARY": str(summary), "PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    (tmp_path / "runner").mkdir()
    done = subprocess.run(["bash", "-c", fetch["run"]], cwd=grading, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    downloads = grading / "downloads"
    assert sorted(p.name for p in downloads.iterdir()) == [f"Bob-2_{ASSIGNMENT}.ipynb", f"alice_{ASSIGNMENT}.ipynb"]
    assert (downloads / f"alice_{ASSIGNMENT}.ipynb").stat().st_mtime == 1_765_400_000  # the commit's time
    assert (downloads / f"alice_{ASSIGNMENT}.ipynb").read_bytes() == notebook
    text = summary.read_text()
    assert "Fetched 2 notebooks" in text and "carol (no cnn_week1.ipynb)" in text and "dave (no repository)" in text
    assert not (tmp_path / "runner" / "students").exists()  # the clones are gone
    assert "s3cret-token" not in done.stdout + done.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix not in (".pack", ".idx"):
            assert b"s3cret-token" not in path.read_bytes(), path

    course = tmp_path / "course"
    collected = kit("collect", "--downloads", str(downloads), "--course", str(course))
    assert collected.returncode == 0, collected.stdout + collected.stderr
    for student in ("alice", "Bob-2"):
        folder = course / "submitted" / student / ASSIGNMENT
        assert (folder / f"{ASSIGNMENT}.ipynb").read_bytes() == notebook
        assert (folder / "timestamp.txt").read_text().startswith("2025-12-")


def test_roster_fetch_step_refuses_to_run_without_the_token(generated, tmp_path):
    fetch = {step["name"]: step for step in run_steps(generated / "custom.yml")}["Fetch the students' notebooks"]
    env = {**{k: v for k, v in fetch["env"].items() if "${{" not in v}, "TOKEN": "", "REF": "",
           "RUNNER_TEMP": str(tmp_path), "GITHUB_STEP_SUMMARY": str(tmp_path / "s"), "PATH": os.environ["PATH"]}
    done = subprocess.run(["bash", "-c", fetch["run"]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "CLASSROOM50_SERVICE_TOKEN is not set" in done.stdout


# ----- the student repository's workflow ----------------------------------------------------------------

def test_student_workflow_runs_the_public_checks_runner_only(generated):
    student = generated / "student"
    files = sorted(str(p.relative_to(student)) for p in student.rglob("*") if p.is_file())
    assert files == [".github/public-checks/requirements.txt", ".github/public-checks/run_public_checks.py",
                     ".github/workflows/public-checks.yml"]
    runs = [step["run"] for step in run_steps(student / ".github/workflows/public-checks.yml") if "run" in step]
    assert runs[-1] == "python .github/public-checks/run_public_checks.py"
    assert ".github/public-checks/requirements.txt" in runs[0] and "download.pytorch.org/whl/cpu" in runs[0]
    assert_public_only(student)


# ----- Classroom 50 -------------------------------------------------------------------------------------

RESULT_KEYS = {"schema", "classroom", "assignment", "assignment_type", "owner", "submission", "commit", "release",
               "review", "datetime", "score", "max-score", "tests"}  # required by classroom50/result/v1
OPTIONAL_KEYS = {"graded_at", "submitted_by"}  # the only others: the root allows no additional property
UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ$")


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_result(document: dict) -> None:
    """classroom50/result/v1, as its schema and Classroom 50's runner (validate_result) check it."""
    assert RESULT_KEYS <= set(document) <= RESULT_KEYS | OPTIONAL_KEYS, set(document) ^ RESULT_KEYS
    assert document["schema"] == "classroom50/result/v1"
    for key in ("classroom", "assignment", "owner", "commit", "release", "review"):
        assert isinstance(document[key], str) and document[key], key
    assert document["assignment_type"] in ("individual", "group")
    assert document["submission"].startswith("submit/")
    assert UTC.match(document["datetime"]) and UTC.match(document.get("graded_at", document["datetime"]))
    assert is_int(document["score"]) and is_int(document["max-score"]) and document["score"] <= document["max-score"]
    assert isinstance(document["tests"], list) and document["tests"]
    for test in document["tests"]:
        assert isinstance(test["test-name"], str) and test["test-name"]
        assert isinstance(test["passed"], bool)
        assert is_int(test["score"]) and is_int(test["max-score"]) and test["score"] <= test["max-score"]
    assert document["score"] == sum(test["score"] for test in document["tests"])
    assert document["max-score"] == sum(test["max-score"] for test in document["tests"])


def assert_public_only(folder: Path) -> None:
    """Nothing of the hidden graders or the reference solution: only the release's public checks."""
    solution = (REPO / "solutions" / f"{ASSIGNMENT}.py").read_text()
    secret_lines = {line.strip() for line in solution.splitlines() if len(line.strip()) > 30 and not
                    line.strip().startswith(("#", '"""', "def ", "class ", "Args", "Returns"))}
    public = (RELEASE / "public_checks.py").read_text()
    for path in (p for p in folder.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "autograder.assignments" not in text, path
        leaked = {line for line in secret_lines if line in text and line not in public}
        assert not leaked, (path, sorted(leaked)[:3])


def test_classroom50_folder_holds_the_public_checks_only(generated):
    folder = generated / "classroom50" / "cnn" / "autograders" / "cnn-week1"
    assert sorted(p.name for p in folder.iterdir()) == ["autograder.py", "hints.py", "public_checks.py",
                                                         "requirements.txt", "run_public_checks.py"]
    for name in ("public_checks.py", "hints.py"):  # public_checks.py loads hints.py beside it
        assert (folder / name).read_bytes() == (RELEASE / name).read_bytes()
    assert_public_only(folder)
    for name in ("autograder.py", "run_public_checks.py"):
        compile((folder / name).read_text(), name, "exec")


def test_classroom50_assignments_entry(generated):
    document = json.loads((generated / "classroom50" / "cnn" / "assignments.json").read_text())
    assert document["schema"] == "classroom50/assignments/v1" and set(document) == {"schema", "assignments"}
    [entry] = document["assignments"]
    assert {"slug", "name", "mode", "autograder"} <= set(entry)
    assert re.match(r"^[a-z0-9][a-z0-9-]{1,38}$", entry["slug"]) and entry["slug"] == "cnn-week1"
    assert entry["mode"] == "individual" and entry["autograder"] == "default" and "tests" not in entry
    assert entry["template"] == {"owner": "org", "repo": "cnn-week1", "branch": "main"}
    assert entry["due"] == "2026-12-11T23:59:00Z"  # grading.toml's due date, in UTC
    assert set(entry["runtime"]) <= {"runs-on", "container", "python", "node", "java", "go", "rust", "apt"}


def test_classroom50_keeps_the_other_assignments_and_the_instructors_settings(config, tmp_path):
    manifest = tmp_path / "cnn" / "assignments.json"
    manifest.parent.mkdir()
    other = {"slug": "hello", "name": "Hello", "mode": "individual", "autograder": "default"}
    ours = {"slug": "cnn-week1", "name": "Week 1", "mode": "group", "max_group_size": 2, "autograder": "custom",
            "due": "2027-01-01T00:00:00Z", "tests": [{"name": "t", "type": "run", "run": "true", "points": 1}]}
    manifest.write_text(json.dumps({"schema": "classroom50/assignments/v1", "assignments": [other, ours]}))
    github.write_classroom50(config, tmp_path, "cnn")
    other_now, ours_now = json.loads(manifest.read_text())["assignments"]
    assert other_now == other
    assert ours_now["name"] == "Week 1" and ours_now["due"] == "2027-01-01T00:00:00Z"  # the instructor's
    assert ours_now["mode"] == "individual" and ours_now["autograder"] == "default" and "tests" not in ours_now
    with pytest.raises(ValueError, match="short name"):
        github.write_classroom50(config, tmp_path, "CNN Fall")


def test_fractional_points_become_integers(tmp_path):
    text = (REPO / "grading.toml").read_text()
    text, count = re.subn(r"(\[parts\.output_size\]\ntitle = [^\n]*\npoints = )10", r"\g<1>12.5", text)
    assert count == 1
    (tmp_path / "grading.toml").write_text(text)
    context = github.checks_context(load_config(tmp_path / "grading.toml"))
    assert context["scale"] == 100
    points = {part["key"]: part["points"] for part in context["parts"]}
    assert points["output_size"] == {"conv_output_size": 417, "same_padding": 417, "zero_pad": 416}
    assert all(is_int(value) for part in points.values() for value in part.values())


def classroom50_environment(tmp_path: Path) -> dict:
    """What Classroom 50's runner sets for autograder.py (its Advanced-Autograding contract)."""
    output = tmp_path / "github_output"
    output.write_text("")
    return {**os.environ, "CLASSROOM": "cnn", "ASSIGNMENT": "cnn-week1", "SUBMISSION_TAG": "submit/20261201T100000Z-abc1234",
            "USERNAME": "alice", "OWNER": "alice", "ASSIGNMENT_TYPE": "individual",
            "COMMIT_URL": "https://github.com/org/cnn-cnn-week1-alice/commit/abc1234",
            "RELEASE_URL": "https://github.com/org/cnn-cnn-week1-alice/releases/tag/submit/20261201T100000Z-abc1234",
            "REVIEW_URL": "https://github.com/org/cnn-cnn-week1-alice/pull/1", "GITHUB_OUTPUT": str(output),
            "PAGES_BASE_URL": "https://org.github.io/classroom50/cnn"}


def reference_notebook() -> bytes:
    text = (REPO / "solutions" / f"{ASSIGNMENT}.py").read_text()
    sections = re.split(r"(?m)^# --- cell (\S+) ---\n", text)
    cells = {sections[i]: sections[i + 1].rstrip() + "\n" for i in range(1, len(sections), 2)}
    notebook = json.loads((RELEASE / f"{ASSIGNMENT}.ipynb").read_text())
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and grade_id in cells and grade_id != "imports":
            cell["source"] = cells[grade_id]
    return json.dumps(notebook, indent=1).encode()


def run_bundle(generated: Path, checkout: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict, str]:
    """autograder.py as Classroom 50 runs it: from the unpacked bundle, in the student's checkout."""
    bundle = tmp_path / "bundle"
    shutil.copytree(generated / "classroom50" / "cnn" / "autograders" / "cnn-week1", bundle)
    env = classroom50_environment(tmp_path)
    done = subprocess.run([sys.executable, str(bundle / "autograder.py")], cwd=checkout, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads((checkout / "result.json").read_text())
    check_result(document)
    return done, document, Path(env["GITHUB_OUTPUT"]).read_text()


@pytest.mark.slow
def test_classroom50_autograder_gives_the_reference_full_marks(generated, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / f"{ASSIGNMENT}.ipynb").write_bytes(reference_notebook())
    done, document, output = run_bundle(generated, checkout, tmp_path)
    assert document["score"] == document["max-score"] == 100, [t["test-name"] for t in document["tests"] if not t["passed"]]
    assert len(document["tests"]) == 14 and all(t["passed"] for t in document["tests"])
    assert (document["classroom"], document["assignment"], document["owner"]) == ("cnn", "cnn-week1", "alice")
    assert "status=success" in output and "summary=public checks 100/100" in output
    assert "Public checks: 100 of 100" in (checkout / "release-body.md").read_text()


@pytest.mark.slow
def test_classroom50_autograder_on_the_untouched_release(generated, tmp_path):
    checkout = tmp_path / "checkout"
    shutil.copytree(RELEASE, checkout, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    # the bundle's own copy of the public checks is used, not whatever the student's repository holds
    (checkout / "public_checks.py").write_text("raise SystemExit('not these checks')\n")
    done, document, output = run_bundle(generated, checkout, tmp_path)
    assert document["score"] == 0 and document["max-score"] == 100
    assert {t["status"] for t in document["tests"]} == {"not done yet"}
    assert {t["max-score"] for t in document["tests"] if t["test-name"].endswith(": SimpleCNN")} == {15}
    assert "status=failure" in output and "⏳ conv2d_single: not implemented yet" in done.stdout


def test_classroom50_autograder_without_a_notebook(generated, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "Untitled.ipynb").write_bytes((RELEASE / f"{ASSIGNMENT}.ipynb").read_bytes())
    done, document, output = run_bundle(generated, checkout, tmp_path)
    assert document["score"] == 0 and document["max-score"] == 100 and len(document["tests"]) == 14
    assert "not found" in (checkout / "release-body.md").read_text() and "status=failure" in output


def bundle_module(generated: Path, name: str):
    path = generated / "classroom50" / "cnn" / "autograders" / "cnn-week1" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"c50_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_broken_cell_costs_its_own_function_and_a_hang_its_own_part(generated, tmp_path):
    runner = bundle_module(generated, "run_public_checks")
    notebook = json.loads(reference_notebook())
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id == "conv2d_volume":
            cell["source"] = "def conv2d_volume(volume, filters, bias=None, stride=1, padding=0)\n    return 1\n"
        if grade_id == "zero_pad":
            cell["source"] = "def zero_pad(x, pad):\n    while True:\n        pass\n"
    path = tmp_path / f"{ASSIGNMENT}.ipynb"
    path.write_text(json.dumps(notebook))
    manual = runner.run_part("manual_conv", path, timeout=120)
    assert manual["names"] == {"vertical_edge_filter": "passed", "horizontal_edge_filter": "passed",
                               "sobel_filter": "passed", "conv2d_single": "passed", "conv2d_volume": "failed"}
    assert "SyntaxError" in manual["output"]
    autograder = bundle_module(generated, "autograder")
    scored = {t["test-name"].split(": ")[-1]: t["score"] for t in autograder.tests_of([manual])}
    assert scored == {"vertical_edge_filter": 6, "horizontal_edge_filter": 6, "sobel_filter": 6, "conv2d_single": 6,
                      "conv2d_volume": 0}
    hung = runner.run_part("output_size", path, timeout=20)
    assert hung["names"]["zero_pad"] == "failed" and not hung["passed"]
    assert "did not finish within 20 s" in hung["output"]


# ----- the old command ----------------------------------------------------------------------------------

def test_the_github_classroom_command_is_gone():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["github-classroom", "--out", "classroom.yml"])
    with pytest.raises(ImportError):
        importlib.import_module("autograder.packaging.classroom")
