"""``github``: grading on GitHub after GitHub Classroom (discontinued on 2026-08-28).

Three things, each rendered from the templates in ``templates/github/`` (nothing is a string in here):

- ``classroom50``: for Classroom 50, GitHub Classroom's open-source successor, the assignment's entry
  of ``<classroom>/assignments.json`` and the per-assignment autograder folder
  ``<classroom>/autograders/<slug>/`` (``autograder.py``, the public-checks runner, ``public_checks.py``
  of the release, ``requirements.txt``). Classroom 50 publishes that folder as a tarball on the
  classroom's *public* GitHub Pages site and runs it in the student's own repository, so it holds the
  public checks only; its score (integers, as Classroom 50 requires) is the public checks' score.
- ``roster-workflow``: a plain GitHub Actions workflow for the instructor's *private* grading
  repository (a private copy of this kit): it fetches every student repository of a roster with a
  token secret, ``collect``s the notebooks into ``submitted/<student>/<assignment>/``, grades them
  with the hidden graders in the sandbox (``grade-all``) and publishes ``grades.csv`` (``export``) as
  an artifact. This is where the grade comes from.
- ``student-workflow``: for a student repository on plain GitHub, a workflow that runs the public
  checks on every push (the runner and its requirements go beside it in ``.github/public-checks/``).

The templates are Jinja2 with ``{= value =}`` for values (and ``{#= =#}`` for comments), so that
GitHub's ``${{ ... }}`` expressions and bash's ``${#array[@]}`` in them pass through untouched.
"""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from ..engine.config import GradingConfig

TEMPLATES = Path(__file__).resolve().parent / "templates" / "github"
# Current major versions, known to actionlint 1.17.0 (which checks their inputs) and not on the
# deprecated node20 runtime (checkout@v4, setup-python@v5, upload-artifact@v4 and cache@v4 are).
ACTIONS = {"checkout": "v6", "setup_python": "v6", "upload_artifact": "v7", "cache": "v5"}
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # CPU wheels: runners have no GPU, and they are far smaller
TORCH_MIN = "2.2"  # the oldest torch the student side supports
CHECKS_FOLDER = ".github/public-checks"  # in a student repository: the runner and its requirements
STUDENT_WORKFLOW = ".github/workflows/public-checks.yml"
CLASSROOM50_PYTHON = "3.12"  # the Python of Classroom 50's grade job (its runtime block)
CLASSROOM50_BUDGET = 600  # seconds for all parts: Classroom 50 stops the grade job after 15 minutes, install included
PART_TIMEOUT = 180  # seconds for one part's public checks
SHORT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}$")  # Classroom 50's slug and classroom name rule
KIT_KEYS = ("slug", "mode", "autograder", "runtime")  # keys of an assignments.json entry the kit always sets
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                              variable_start_string="{=", variable_end_string="=}",
                              comment_start_string="{#=", comment_end_string="=#}",
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def render(template_name: str, /, **context) -> str:
    """The text of ``templates/github/<template_name>`` with ``context`` filled in."""
    return _environment().get_template(template_name).render(actions=ACTIONS, torch_index=TORCH_INDEX,
                                                        torch_min=TORCH_MIN, **context)


def default_slug(config: GradingConfig) -> str:
    return config.definition.name.replace("_", "-").lower()


def _scale(config: GradingConfig) -> int:
    """1 when every part's points are whole numbers, else 100 (Classroom 50 scores are integers)."""
    return 1 if all(float(part.points).is_integer() for part in config.parts.values()) else 100


def _split(points: int, names: tuple[str, ...]) -> dict[str, int]:
    """``points`` over ``names`` in whole numbers, as evenly as possible (the first names get the rest)."""
    base, rest = divmod(points, len(names))
    return {name: base + (1 if index < rest else 0) for index, name in enumerate(names)}


def checks_context(config: GradingConfig) -> dict:
    """What the public-checks templates need: the assignment, its notebook and parts."""
    definition, scale = config.definition, _scale(config)
    parts = []
    for key, names in definition.parts.items():
        part = config.parts[key]
        parts.append({"key": key, "title": part.title, "names": list(names),
                      "points": _split(round(part.points * scale), tuple(names))})
    return {"assignment": definition.name, "notebook": config.assignment.notebook, "import_cell": definition.import_cell,
            "parts": parts, "scale": scale, "part_timeout": PART_TIMEOUT}


def public_checks_source(config: GradingConfig) -> Path:
    """The release's public_checks.py: what students already have, and all that a bundle may hold."""
    path = config.definition.release_notebook().parent / "public_checks.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build the release first (python -m autograder release)")
    return path


def public_checks_files(config: GradingConfig) -> dict[str, str]:
    """The runner of the public checks and its requirements.txt."""
    context = checks_context(config)
    return {"run_public_checks.py": render("run_public_checks.py.j2", **context),
            "requirements.txt": render("requirements-checks.txt.j2", **context)}


# ----- Classroom 50 ---------------------------------------------------------------------------------

def _due_utc(config: GradingConfig) -> str:
    if not config.assignment.due:
        return ""
    moment = datetime.fromisoformat(config.assignment.due).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def classroom50_entry(config: GradingConfig, slug: str, template: str | None = None, branch: str = "main") -> dict:
    """The assignment's entry of ``<classroom>/assignments.json`` (schema classroom50/assignments/v1)."""
    owner, _, repo = (template or "").partition("/")
    if template and not (owner and repo and "/" not in repo):
        raise ValueError(f"--template must be OWNER/REPO, not {template!r}")
    text = render("classroom50-assignment.json.j2", slug=slug, name=_display_name(config), description=_description(config),
                  template={"owner": owner, "repo": repo, "branch": branch} if template else None,
                  due=_due_utc(config), python=CLASSROOM50_PYTHON)
    return json.loads(text)


def _display_name(config: GradingConfig) -> str:
    """The release notebook's title (its first ``# `` heading), else the assignment's name."""
    try:
        cells = json.loads(config.definition.release_notebook().read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        cells = []
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            for line in ("".join(source) if isinstance(source, list) else source).splitlines():
                if line.startswith("# ") and len(line[2:].strip().encode()) <= 100:
                    return line[2:].strip()
    return config.definition.name


def _description(config: GradingConfig) -> str:
    return "; ".join(part.title for part in config.parts.values())


def classroom50_bundle(config: GradingConfig, slug: str) -> dict[str, str | bytes]:
    """The files of ``<classroom>/autograders/<slug>/``: public checks only (Classroom 50 publishes them)."""
    context = checks_context(config)
    files: dict[str, str | bytes] = {"autograder.py": render("classroom50-autograder.py.j2", slug=slug,
                                                             budget=CLASSROOM50_BUDGET, **context)}
    files.update(public_checks_files(config))
    files["public_checks.py"] = public_checks_source(config).read_bytes()
    shared_hints = public_checks_source(config).with_name("hints.py")  # public_checks.py loads it by path
    if shared_hints.is_file():
        files["hints.py"] = shared_hints.read_bytes()
    return files


def write_classroom50(config: GradingConfig, config_repo: Path, classroom: str, slug: str | None = None,
                      template: str | None = None, branch: str = "main") -> list[Path]:
    """Write the autograder folder into a checkout of the classroom50 repository and merge the entry
    into ``<classroom>/assignments.json`` (created when missing; an entry with the same slug is replaced,
    every other entry and key is kept). Returns the files written."""
    slug = slug or default_slug(config)
    for label, value in (("classroom", classroom), ("slug", slug)):
        if not SHORT_NAME.match(value):
            raise ValueError(f"the {label} {value!r} is not a Classroom 50 short name "
                             "(lowercase letters, digits and '-', 2 to 39 characters)")
    entry = classroom50_entry(config, slug, template, branch)
    folder = Path(config_repo) / classroom
    written = write_files(folder / "autograders" / slug, classroom50_bundle(config, slug))
    manifest = folder / "assignments.json"
    document = {"schema": "classroom50/assignments/v1", "assignments": []}
    if manifest.is_file():
        document = json.loads(manifest.read_text(encoding="utf-8"))
        if document.get("schema") != "classroom50/assignments/v1" or not isinstance(document.get("assignments"), list):
            raise ValueError(f"{manifest} is not a classroom50/assignments/v1 document")
    entries = document["assignments"]
    previous = next((item for item in entries if item.get("slug") == slug), None)
    if previous is None:
        entries.append(entry)
    else:  # what the instructor set (name, dates, template, feedback PR…) stays; the kit's own keys are refreshed
        merged = {**entry, **previous, **{key: entry[key] for key in KIT_KEYS}}
        merged.pop("tests", None)  # declarative tests and an autograder.py exclude each other
        entries[entries.index(previous)] = merged
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return written + [manifest]


# ----- plain GitHub Actions -------------------------------------------------------------------------

def roster_workflow(config: GradingConfig, roster: str = "roster.csv", owner: str | None = None,
                    prefix: str | None = None, token_secret: str = "STUDENT_REPOS_TOKEN", jobs: int = 2,
                    python: str | None = None, timeout_minutes: int = 300, retention_days: int = 90) -> str:
    """The workflow of the private grading repository: fetch → collect → grade-all → export → artifact."""
    if not SECRET_NAME.match(token_secret):
        raise ValueError(f"--token-secret must be a secret's name (letters, digits, _), not {token_secret!r}")
    for label, value in (("--roster", roster), ("--owner", owner or "x"), ("--repo-prefix", prefix or "x")):
        if not re.fullmatch(r"[A-Za-z0-9._/-]+", value):
            raise ValueError(f"{label} may hold only letters, digits and . _ / -, not {value!r}")
    return render("roster-workflow.yml.j2", assignment=config.definition.name, notebook=config.assignment.notebook,
                  roster=roster, owner=owner or "${{ github.repository_owner }}",
                  owner_text=owner or "<owner of this repository>",
                  prefix=default_slug(config) + "-" if prefix is None else prefix, token_secret=token_secret,
                  jobs=jobs, python=python or f"{sys.version_info.major}.{sys.version_info.minor}",
                  timeout_minutes=timeout_minutes, retention_days=retention_days)


def student_workflow_files(config: GradingConfig, python: str = CLASSROOM50_PYTHON,
                           timeout_minutes: int = 20) -> dict[str, str]:
    """The files of a student (template) repository: the workflow and, beside it, the checks' runner."""
    files = {STUDENT_WORKFLOW: render("student-workflow.yml.j2", assignment=config.definition.name, python=python,
                                      folder=CHECKS_FOLDER, timeout_minutes=timeout_minutes)}
    files.update({f"{CHECKS_FOLDER}/{name}": text for name, text in public_checks_files(config).items()})
    return files


def write_files(root: Path, files: dict[str, str | bytes]) -> list[Path]:
    written = []
    for name, content in files.items():
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
