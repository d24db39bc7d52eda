"""What the engine knows of an assignment: one object, handed to it by the configuration.

The engine (extract, sandbox, session, graders' runner, results, reports) and the class and
packaging tools never import an assignment's code. An assignment is a folder with an
``assignment.py`` that defines ``ASSIGNMENT = Assignment(...)``: its contract (part keys and
graded names, the locked import cell, the functions to be written by hand and the routines
they may not call), its hidden graders, the tasks its workers can run, the data its workers
may read and the settings it adds to grading.toml. The dependency goes one way: assignment →
engine. The kit's own assignments live in ``autograder/assignments/<name>/``; grading.toml's
``[assignment] path`` points at any other folder.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = KIT_ROOT / "autograder" / "assignments"


class AssignmentError(RuntimeError):
    """The assignment named by the configuration cannot be found or is not well formed."""


@dataclass(frozen=True)
class ForbiddenRoutines:
    """Library routines that the hand-written functions may not call (regular expressions).

    ``names`` is matched against every name the student's code reads (the grader's static
    check) and against operator names at PyTorch's dispatcher and numpy's functions (the
    worker's own defence); ``padding_names``/``padding_ops`` are refused too in functions
    graded with ``Watch.MANUAL_NO_PAD``. ``modules`` cannot be imported in a manual worker.
    """

    names: str = ""
    padding_names: str = ""
    padding_ops: str = ""
    modules: tuple[str, ...] = ()

    def as_plan(self) -> dict:
        return {"names": self.names, "padding_names": self.padding_names, "padding_ops": self.padding_ops,
                "modules": list(self.modules)}


@dataclass(frozen=True)
class SettingsSection:
    """A grading.toml section an assignment adds: its dataclass (defaults = calibrated values)
    and a check per setting that returns a message when a value is wrong."""

    kind: type
    checks: dict[str, Callable] = field(default_factory=dict)
    in_digest: bool = True  # False: where the host keeps things, not what is graded


@dataclass(frozen=True)
class Assignment:
    name: str  # release/<name>/<name>.ipynb, source/<name>/, solutions/<name>.py
    parts: dict[str, tuple[str, ...]]  # part key -> graded names, in notebook order
    import_cell: str  # grade_id of the locked cell whose code every graded cell may rely on
    graders_dir: Path
    forbidden: ForbiddenRoutines = ForbiddenRoutines()
    worker_tasks: Path | None = None  # a folder with tasks.py (``TASKS``), imported once per fork-server
    worker_files: Callable[[object], dict[str, Path]] | None = None  # config -> files workers may read
    settings: dict[str, SettingsSection] = field(default_factory=dict)
    student_files: tuple[str, ...] = ()  # files of source/<name>/ shipped beside the notebook
    # Where source/<name>/, release/<name>/ and solutions/<name>.py live: set by ``load_assignment``
    # (the kit's root for its own assignments, the folder of an assignment given by path).
    course_root: Path = KIT_ROOT

    @cached_property
    def graded_names(self) -> tuple[str, ...]:
        return tuple(name for names in self.parts.values() for name in names)

    @cached_property
    def part_of(self) -> dict[str, str]:
        return {name: part for part, names in self.parts.items() for name in names}

    @property
    def notebook_name(self) -> str:
        return f"{self.name}.ipynb"

    def release_notebook(self) -> Path:
        return self.course_root / "release" / self.name / self.notebook_name

    def source_notebook(self) -> Path:
        return self.course_root / "source" / self.name / self.notebook_name

    def solution(self) -> Path:
        return self.course_root / "solutions" / f"{self.name}.py"

    def files_for_workers(self, config) -> dict[str, Path]:
        return dict(self.worker_files(config)) if self.worker_files else {}


def load_assignment(name: str, path: Path | None = None) -> Assignment:
    """The ``ASSIGNMENT`` of ``path/assignment.py`` (default: the kit's ``assignments/<name>``)."""
    folder = Path(path) if path else BUILT_IN / name
    module_file = folder / "assignment.py"
    if not module_file.is_file():
        raise AssignmentError(f"No assignment {name!r}: {module_file} does not exist.")
    if path is None:  # a package of the kit: its modules import each other relatively
        module = importlib.import_module(f"autograder.assignments.{name}.assignment")
    elif (folder / "__init__.py").is_file():  # a package: its modules may import each other relatively
        package = _module_from_file(f"kit_assignment_{name}", folder / "__init__.py", folder)
        module = importlib.import_module(f"{package.__name__}.assignment")
    else:
        module = _module_from_file(f"kit_assignment_{name}", module_file)
    assignment = getattr(module, "ASSIGNMENT", None)
    if not isinstance(assignment, Assignment):
        raise AssignmentError(f"{module_file} defines no ASSIGNMENT = Assignment(...).")
    if assignment.name != name:
        raise AssignmentError(f"{module_file} defines the assignment {assignment.name!r}, not {name!r}.")
    return replace(assignment, course_root=folder.resolve() if path else KIT_ROOT)


def _module_from_file(module_name: str, module_file: Path, package_folder: Path | None = None):
    if module_name in sys.modules:
        return sys.modules[module_name]
    locations = [str(package_folder)] if package_folder else None
    spec = importlib.util.spec_from_file_location(module_name, module_file, submodule_search_locations=locations)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(module_name, None)
        raise
    return module
