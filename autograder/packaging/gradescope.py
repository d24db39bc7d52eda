"""``gradescope``: the Gradescope autograder zip, and what runs inside it for each submission.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when it builds the
image (Ubuntu 22.04 by default), then ``/autograder/run_autograder`` per submission, which must
leave ``/autograder/results/results.json``. Both scripts are the files in
``templates/gradescope/``, shipped as they are: ``setup.sh`` builds ``/autograder/venv`` with the
image's own Python (3.10 to 3.13) and CPU torch, ``run_autograder`` calls :func:`run` below with
that environment.

The zip holds what grading needs and nothing a student must not see: the grading package,
grading.toml, the assignment's data loader, the student release notebook (its locked import cell is
restored from it, as nbgrader does) and, with ``with_mnist``, the four MNIST files. Never
``solutions/`` (the graders do not read the reference: their oracles are their own) and never a
source notebook: :func:`build_gradescope_zip` refuses to write a zip that would hold either.

Which file is graded (:func:`choose_submission`): students upload a folder, sometimes with an
``Untitled.ipynb`` or a renamed copy beside their work. The file holding the most of the
assignment's answer cells wins (found by ``grade_id`` as the grader finds them; in a ``.py`` the
contract's names), then the assignment's own notebook name, then ``.ipynb`` before ``.py``, then the
newest. The choice is said in the output students see; the sandbox mode and any missing protection
stay for the instructor (stdout and ``provenance`` in results.json, which Gradescope does not show).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ..engine.config import KIT_ROOT, GradingConfig
from .zipfiles import write_zip

TEMPLATES = Path(__file__).resolve().parent / "templates" / "gradescope"
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
# Only what grading needs: no Jupyter, no nbgrader on the grading image (tomli: Python 3.10 only).
GRADING_DEPENDENCIES = ("torch", "torchvision", "numpy", "matplotlib", "pytest", "jinja2", "markupsafe", "tomli")
SUBMISSION_SUFFIXES = (".ipynb", ".py")
MAX_DEPTH = 4  # folders below /autograder/submission that are searched (a zip of a folder of a folder…)
IGNORED_FOLDERS = (".ipynb_checkpoints", "__MACOSX", "__pycache__")


# ----- the zip ---------------------------------------------------------------------------------

def pinned_requirements(kit_root: Path = KIT_ROOT) -> str:
    """requirements.txt: the grading dependencies with the pins of pyproject.toml (markers kept)."""
    dependencies = tomllib.loads((kit_root / "pyproject.toml").read_text())["project"]["dependencies"]
    keep = [d for d in dependencies if re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower() in GRADING_DEPENDENCIES]
    return "\n".join(keep) + "\n"


def template(name: str) -> str:
    """The text of ``templates/gradescope/<name>`` (setup.sh, run_autograder)."""
    return (TEMPLATES / name).read_text(encoding="utf-8")


# Files of source/<assignment>/ the graders load by path and students have too (no answers in them).
SHARED_SOURCE = ("mnist_data.py", "hints.py")


def forbidden_members(names: list[str]) -> list[str]:
    """Members a Gradescope zip must never hold: the reference solutions and any source notebook."""
    return [name for name in names
            if PurePosixPath(name).parts[0] in ("solutions", "source") and PurePosixPath(name).name not in SHARED_SOURCE
            or (name.endswith(".ipynb") and not name.startswith("release/"))]


def zip_members(config: GradingConfig, with_mnist: bool = False, kit_root: Path = KIT_ROOT) -> dict[str, bytes | Path]:
    """Every member of the autograder zip: its name and its content (text, bytes or a file)."""
    definition = config.definition
    name = definition.name
    files: dict[str, bytes | Path] = {
        "setup.sh": template("setup.sh"), "run_autograder": template("run_autograder"),
        "requirements.txt": pinned_requirements(kit_root),
        "pyproject.toml": kit_root / "pyproject.toml",  # the kit's release, for each result's provenance
        "grading.toml": Path(config.path),
        # the locked import cell is restored from the release, as nbgrader does
        f"release/{name}/{definition.notebook_name}": definition.release_notebook(),
    }
    for shared in SHARED_SOURCE:  # the data loader and the hints, shared with the notebook (no answers in them)
        loader = definition.course_root / "source" / name / shared
        if loader.is_file():
            files[f"source/{name}/{shared}"] = loader
    package = kit_root / "autograder"
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[f"autograder/{path.relative_to(package).as_posix()}"] = path
    if with_mnist:
        mnist = config.data.mnist_directory(config.path)
        if mnist is None:
            raise FileNotFoundError("--with-mnist needs CNN_MNIST_DIR or [data] mnist_dir")
        for file in MNIST_FILES:
            files[f"mnist/{file}"] = mnist / file
    return files


def build_gradescope_zip(config: GradingConfig, zip_path: Path, with_mnist: bool = False,
                         kit_root: Path = KIT_ROOT) -> list[str]:
    """Write the autograder zip; return its member names."""
    files = zip_members(config, with_mnist, kit_root)
    leaked = forbidden_members(list(files))
    if leaked:
        raise ValueError(f"the Gradescope zip must not hold {', '.join(leaked)}")
    write_zip(zip_path, files, executable=("setup.sh", "run_autograder"))
    return list(files)


# ----- inside Gradescope: which file, then grade it --------------------------------------------

@dataclass
class Choice:
    """The file to grade (None: nothing gradable was submitted) and the candidates passed over."""

    chosen: Path | None
    ignored: list[Path] = field(default_factory=list)
    answers: int = 0  # answer cells (or contract names) the chosen file holds
    others: list[Path] = field(default_factory=list)  # files of other kinds, for the message


def candidates(folder: Path) -> tuple[list[Path], list[Path]]:
    """(.ipynb and .py files under ``folder``, every other file), hidden and checkpoint files left out."""
    found, others = [], []
    if not folder.is_dir():
        return found, others
    for root, dirs, files in os.walk(folder):
        depth = len(Path(root).relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in IGNORED_FOLDERS and depth < MAX_DEPTH)
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith(".") or not path.is_file() or path.is_symlink():
                continue
            (found if path.suffix.lower() in SUBMISSION_SUFFIXES else others).append(path)
    return found, others


def choose_submission(folder: str | Path, config: GradingConfig) -> Choice:
    """The submitted file to grade, by the assignment's answer cells and name, never alphabetically."""
    from ..engine.extract import extract  # light: no torch, never runs student code

    folder = Path(folder)
    files, others = candidates(folder)
    if not files:
        return Choice(None, others=others)
    definition = config.definition
    graded = set(definition.graded_names)
    notebook = config.assignment.notebook.lower()

    def rank(path: Path):
        answers = len({cell.grade_id for cell in extract(path, definition).cells} & graded)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = 0.0
        return (-answers, path.name.lower() != notebook, path.suffix.lower() != ".ipynb", -mtime,
                len(path.relative_to(folder).parts), str(path)), answers

    ranked = sorted((rank(path) + (path,) for path in files), key=lambda item: item[0])
    (_, answers, chosen), rest = ranked[0], ranked[1:]
    return Choice(chosen, [path for _, _, path in rest], answers, others)


def choice_note(choice: Choice, folder: Path) -> str:
    """What students read about which file was graded (empty when there was one file to grade)."""
    def rel(path: Path) -> str:
        return path.relative_to(folder).as_posix()

    if choice.chosen is None:
        seen = ", ".join(rel(path) for path in choice.others[:10]) or "no files at all"
        return (f"Nothing to grade: the submission has no notebook (.ipynb) or Python file (.py); it has {seen}. "
                "Submit your completed notebook.")
    if not choice.ignored:
        return ""
    note = f"Graded {rel(choice.chosen)}; not graded: {', '.join(rel(path) for path in choice.ignored[:10])}"
    note += " (and more)." if len(choice.ignored) > 10 else "."
    if choice.answers == 0:
        note += " None of these files holds the assignment's answer cells."
    return note


def run(submission: Path, results: Path, config: GradingConfig | None = None, python: str = sys.executable) -> int:
    """Gradescope's run_autograder: choose the file, grade it into ``results``; the grader's exit code."""
    from ..engine.config import load_config

    config = config or load_config()
    results.mkdir(parents=True, exist_ok=True)
    choice = choose_submission(submission, config)
    note = choice_note(choice, submission)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as work:
        if choice.chosen is not None:  # a copy: the student's folder is never touched
            target = Path(work) / choice.chosen.name
            shutil.copyfile(choice.chosen, target)
        else:  # a missing file: every part of the configuration gets zero with the reason
            target = Path(work) / f"no-submission-{config.assignment.notebook}"
        print(f"run_autograder: grading {choice.chosen or 'nothing (no .ipynb or .py submitted)'}"
              f" ({choice.answers} answer cells); passed over: {[str(p) for p in choice.ignored] or 'none'}", flush=True)
        done = subprocess.run([python, "-m", "autograder", "grade", str(target), "--out", str(results)],
                              cwd=KIT_ROOT)
    results_json = results / "results.json"
    if done.returncode == 0 and results_json.is_file():
        data = json.loads(results_json.read_text(encoding="utf-8"))
        if choice.chosen is None:
            data["output"] = note + "\n\n" + "Score: 0 / " + f"{data.get('max_score', 0):g}"
            for test in data.get("tests", []):  # not "could not be read: no such file"
                test["output"] = "Not graded: nothing was submitted."
        elif note:
            data["output"] = (note + "\n\n" + data.get("output", "")).rstrip()
        from ..engine.results import write_json_atomic

        write_json_atomic(results_json, data)
        mode = data.get("provenance", {}).get("sandbox_mode")
        missing = data.get("provenance", {}).get("missing_protections") or []
        print(f"run_autograder: sandbox mode {mode}; missing protections: {'; '.join(missing) or 'none'} "
              "(for the instructor: Gradescope shows stdout and provenance only to staff)", flush=True)
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.packaging.gradescope",
                                     description="Inside Gradescope's image: grade the submission folder.")
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("run", help="choose the submitted file and grade it (run_autograder)")
    grade.add_argument("--submission", type=Path, default=Path("/autograder/submission"))
    grade.add_argument("--results", type=Path, default=Path("/autograder/results"))
    pick = commands.add_parser("choose", help="print the file that would be graded, then those passed over")
    pick.add_argument("--submission", type=Path, default=Path("/autograder/submission"))
    args = parser.parse_args(argv)
    if args.command == "choose":
        from ..engine.config import load_config

        choice = choose_submission(args.submission, load_config())
        print(choice.chosen or "")
        for path in choice.ignored:
            print(path)
        return 0
    return run(args.submission, args.results)


if __name__ == "__main__":
    sys.exit(main())
