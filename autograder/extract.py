"""Turn a submission (.ipynb or .py) into the code cells the sandbox will run.

Only the locked import cell and the solution cells whose ``grade_id`` is a
contract name are kept (code elsewhere in a notebook is neither graded nor
run). Each cell stays separate, so a cell that does not compile, hangs or
crashes costs only the names it defines. IPython magics and shell escapes are
commented out: they mean nothing outside a kernel and must not run commands.
Nothing here executes student code, and nothing here needs torch.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .contract import GRADED_NAMES, IMPORT_CELL_ID

MAX_SUBMISSION_BYTES = 200 * 1024 * 1024  # a notebook bigger than this is refused unread
WHOLE_FILE_ID = "<submission>"  # the one "cell" of a .py submission
SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
_SHELL_ASSIGNMENT = re.compile(r"^\s*[\w.,\s]+=\s*!")


@dataclass
class CodeCell:
    """One unit of student code: run on its own, judged on its own."""

    grade_id: str
    source: str


@dataclass
class Submission:
    """What could be read from a submission, and what was wrong with it."""

    kind: str  # "notebook", "python" or "unreadable"
    cells: list[CodeCell] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # plain-language, shown to the student

    @property
    def cell_ids(self) -> list[str]:
        return [cell.grade_id for cell in self.cells]

    def as_module(self, strip_markers: bool = False) -> str:
        """All kept cells as one Python module (for reading, or the exported solutions)."""
        parts = []
        for cell in self.cells:
            source = strip_solution_markers(cell.source) if strip_markers else cell.source
            parts.append(f"# --- cell {cell.grade_id} ---\n{source.rstrip()}\n")
        return "\n\n".join(parts)


def extract(path: str | Path) -> Submission:
    """Read ``path`` as a notebook or a Python file; never raises for bad content."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SUBMISSION_BYTES:
            return Submission("unreadable", problems=[
                f"The file is {size / 2**20:.0f} MiB, more than the {MAX_SUBMISSION_BYTES // 2**20} MiB "
                "a submission may be; clear the notebook's outputs and submit again."])
        raw = path.read_bytes()
    except OSError as error:
        return Submission("unreadable", problems=[f"The submission could not be read: {error.strerror}."])
    if not raw.strip():
        return Submission("unreadable", problems=["The submission is empty."])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Submission("unreadable", problems=[
            "The submission is not text (it looks like a binary file): submit the .ipynb notebook."])
    if "\x00" in text:
        return Submission("unreadable", problems=["The submission contains NUL bytes: it is not a notebook or Python file."])
    if path.suffix == ".py":
        return Submission("python", cells=[CodeCell(WHOLE_FILE_ID, text)])
    return _extract_notebook(text)


def _extract_notebook(text: str) -> Submission:
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as error:
        return Submission("unreadable", problems=[
            f"The notebook file is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}). "
            "It was probably damaged by editing it as text; download it again from Jupyter."])
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        return Submission("unreadable", problems=["The file is JSON but not a Jupyter notebook (it has no list of cells)."])

    found: dict[str, str] = {}
    problems: list[str] = []
    for cell in notebook["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        grade_id = _grade_id(cell)
        if grade_id not in GRADED_NAMES and grade_id != IMPORT_CELL_ID:
            continue
        if grade_id in found:
            problems.append(f"The notebook has two cells with grade_id {grade_id!r}; only the first was graded.")
            continue
        found[grade_id] = neutralise_magics(_cell_source(cell))

    submission = Submission("notebook", problems=problems)
    if IMPORT_CELL_ID in found:
        submission.cells.append(CodeCell(IMPORT_CELL_ID, found[IMPORT_CELL_ID]))
    else:
        problems.append("The locked import cell is missing; graded cells were run without it.")
    for name in GRADED_NAMES:
        if name in found:
            submission.cells.append(CodeCell(name, found[name]))
        else:
            problems.append(
                f"The cell for {name} (grade_id {name!r}) is missing: it was deleted or its metadata was "
                "changed. Copy it back from a fresh copy of the assignment.")
    return submission


def _grade_id(cell: dict) -> str | None:
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def neutralise_magics(source: str) -> str:
    """Comment out IPython magics (``%``, ``%%``) and shell escapes (``!cmd``, ``x = !cmd``)."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return "\n".join(f"# (cell magic removed by the grader) {line}" for line in lines) + "\n"
    kept = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or _SHELL_ASSIGNMENT.match(line):
            indent = line[: len(line) - len(stripped)]
            kept.append(f"{indent}pass  # (magic removed by the grader) {stripped}")
        else:
            kept.append(line)
    return "\n".join(kept) + ("\n" if source.endswith("\n") else "")


def strip_solution_markers(source: str) -> str:
    """Drop nbgrader's ``### BEGIN/END SOLUTION`` lines, keeping the solution between them."""
    return "\n".join(line for line in source.splitlines() if not SOLUTION_MARKERS.match(line)) + "\n"
