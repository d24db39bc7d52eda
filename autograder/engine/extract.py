"""Turn a submission (.ipynb or .py, any case of suffix) into the code units the sandbox will run.

Only the locked import cell and the solution cells whose ``grade_id`` is a
contract name are kept (code elsewhere in a notebook is neither graded nor
run). The import cell is the release's own, as nbgrader restores locked cells.
A ``.py`` is split into its contract definitions and the runs of other
top-level code between them, in file order. Each unit stays separate, so one
that does not compile, hangs or crashes costs only the names it defines.
IPython syntax is rewritten the way a kernel would, minus the shell (magics.py).
Nothing here executes student code, nothing needs torch, and no content raises.
"""
from __future__ import annotations

import ast
import functools
import io
import json
import re
import stat
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from .assignment import Assignment
from .magics import transform
from .notebook import cell_source, cells_by_grade_id, code_cells
from .notebook import grade_id as cell_grade_id
from .textsafe import scrub

MAX_SUBMISSION_BYTES = 200 * 1024 * 1024  # a notebook bigger than this is refused unread
WHOLE_FILE_ID = "<submission>"  # a .py as one unit (it does not parse), and the prefix of its units
SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
MODULE_CELL = re.compile(r"(?m)^# --- cell (\S+) ---\n")  # heads each cell of ``Submission.as_module``


class Problem(str):
    """What was wrong with a submission: the sentence the student reads, and which graded name it
    concerns (``name``, None for the whole submission), so that a test of that name can say why
    the name is missing without reading the sentence."""

    name: str | None

    def __new__(cls, text: str, name: str | None = None) -> "Problem":
        problem = super().__new__(cls, text)
        problem.name = name
        return problem


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
    problems: list[Problem] = field(default_factory=list)  # plain-language, shown to the student
    text: str = ""  # a .py submission's whole text (its units split it)

    @property
    def cell_ids(self) -> list[str]:
        return [cell.grade_id for cell in self.cells]

    def source_of(self, name: str) -> str | None:
        """The code to read for ``name``'s static checks: its cell, or a whole .py (helpers included)."""
        if self.kind == "python":
            return self.text
        return next((cell.source for cell in self.cells if cell.grade_id == name), None)

    def as_module(self, strip_markers: bool = False) -> str:
        """All kept cells as one Python module (for reading, or the exported solutions)."""
        parts = []
        for cell in self.cells:
            source = strip_solution_markers(cell.source) if strip_markers else cell.source
            parts.append(f"# --- cell {cell.grade_id} ---\n{source.strip(chr(10)).rstrip()}\n")
        return "\n\n".join(parts)


def module_cells(text: str) -> dict[str, str]:
    """grade_id -> code, for a module written by ``Submission.as_module`` (the exported solutions)."""
    parts = MODULE_CELL.split(text)
    return dict(zip(parts[1::2], parts[2::2]))


def is_file_unit(grade_id: str) -> bool:
    """Whether ``grade_id`` names top-level code of a .py (``<submission>`` or ``<submission>:N``)."""
    return grade_id == WHOLE_FILE_ID or grade_id.startswith(f"{WHOLE_FILE_ID}:")


def _unreadable(problem: str) -> Submission:
    return Submission("unreadable", problems=[Problem(problem)])


def extract(path: str | Path, assignment: Assignment, locked_imports: bool = True) -> Submission:
    """Read ``path`` as a notebook or a Python file of ``assignment``; never raises for bad content.

    ``locked_imports=False`` keeps the notebook's own import cell (for the source notebook itself).
    """
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return _unreadable("The submission is not a regular file.")
        if info.st_size > MAX_SUBMISSION_BYTES:
            return _unreadable(_too_big(info.st_size))
        with path.open("rb") as stream:
            raw = stream.read(MAX_SUBMISSION_BYTES + 1)  # the file may grow after stat
    except OSError as error:
        return _unreadable(f"The submission could not be read: {error.strerror or error}.")
    if len(raw) > MAX_SUBMISSION_BYTES:
        return _unreadable(_too_big(len(raw)))
    if not raw.strip():
        return _unreadable("The submission is empty.")
    is_python = path.suffix.lower() == ".py"
    text = _decode(raw, is_python)
    if text is None:
        return _unreadable("The submission is not text (it looks like a binary file): submit the .ipynb notebook.")
    if "\x00" in text:
        return _unreadable("The submission contains NUL bytes: it is not a notebook or Python file.")
    if is_python:
        return _extract_python(text, assignment.graded_names)
    return _extract_notebook(text, assignment, locked_imports)


def _too_big(size: int) -> str:
    return (f"The file is {size / 2**20:.0f} MiB, more than the {MAX_SUBMISSION_BYTES // 2**20} MiB "
            "a submission may be; clear the notebook's outputs and submit again.")


def _decode(raw: bytes, is_python: bool) -> str | None:
    """UTF-8 (a BOM allowed), or for a .py the encoding its coding line declares."""
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(raw).readline)[0] if is_python else "utf-8-sig"
        return raw.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return None


# ----- .py ---------------------------------------------------------------------------------------

def _extract_python(text: str, graded: tuple[str, ...]) -> Submission:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # the worker reports the error
        return Submission("python", cells=[CodeCell(WHOLE_FILE_ID, text)], text=text)
    lines = text.split("\n")
    units: list[tuple[str, int, int]] = []  # (grade_id, first line, last line)
    last_definition = {_defined_name(node, graded): node for node in tree.body if _defined_name(node, graded)}
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        name = _defined_name(node, graded)
        if name and last_definition[name] is node:  # a name defined twice: the last one counts
            units.append((name, first, node.end_lineno))
        elif units and is_file_unit(units[-1][0]):
            units[-1] = (units[-1][0], units[-1][1], node.end_lineno)
        else:
            units.append((f"{WHOLE_FILE_ID}:{first}", first, node.end_lineno))
    cells = [CodeCell(grade_id, "\n" * (first - 1) + "\n".join(lines[first - 1:last]) + "\n")
             for grade_id, first, last in units]
    return Submission("python", cells=cells, text=text)


def _defined_name(node: ast.stmt, graded: tuple[str, ...]) -> str | None:
    is_definition = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    return node.name if is_definition and node.name in graded else None


# ----- .ipynb ------------------------------------------------------------------------------------

def _extract_notebook(text: str, assignment: Assignment, locked_imports: bool) -> Submission:
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as error:
        return _unreadable(
            f"The notebook file is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}). "
            "It was probably damaged by editing it as text; download it again from Jupyter.")
    except RecursionError:
        return _unreadable("The notebook file nests its data too deeply to be a Jupyter notebook.")
    except (ValueError, MemoryError) as error:  # e.g. an integer of thousands of digits
        return _unreadable(f"The notebook file could not be read ({str(error)[:200]}).")
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        return _unreadable("The file is JSON but not a Jupyter notebook (it has no list of cells).")

    found: dict[str, str] = {}
    problems: list[Problem] = []
    for cell in code_cells(notebook):
        grade_id = cell_grade_id(cell)
        if grade_id not in assignment.graded_names and grade_id != assignment.import_cell:
            continue
        if grade_id in found:
            problems.append(Problem(f"The notebook has two cells with grade_id {grade_id!r}; only the first was graded.",
                                    grade_id))
            continue
        found[grade_id] = scrub(cell_source(cell))  # a lone surrogate ("\ud800") cannot be compiled

    submission = Submission("notebook", problems=problems)
    own_imports = found.get(assignment.import_cell)
    imports = _locked_import_cell(own_imports, assignment, problems) if locked_imports else own_imports
    if imports is not None:
        submission.cells.append(_code_cell(assignment.import_cell, imports, problems))
    else:
        problems.append(Problem("The locked import cell is missing; graded cells were run without it."))
    for name in assignment.graded_names:
        if name in found:
            submission.cells.append(_code_cell(name, found[name], problems))
        else:
            problems.append(Problem(
                f"The cell for {name} (grade_id {name!r}) is missing: it was deleted or its metadata was "
                "changed. Copy it back from a fresh copy of the assignment.", name))
    return submission


def _code_cell(grade_id: str, source: str, problems: list[Problem]) -> CodeCell:
    transformed = transform(source)
    problems += [Problem(f"In the cell {grade_id}, {problem}.", grade_id) for problem in transformed.problems]
    return CodeCell(grade_id, transformed.source)


def _locked_import_cell(students: str | None, assignment: Assignment, problems: list[Problem]) -> str | None:
    """The release's import cell, as nbgrader restores locked cells; the student's if the kit lacks it."""
    release = release_import_cell(assignment.release_notebook(), assignment.import_cell)
    if release is None:
        return students
    if students is None:
        problems.append(Problem("The locked import cell was missing; the assignment's own import cell was used."))
    elif students.split() != release.split():
        problems.append(Problem("The locked import cell was changed; it was graded as the assignment has it "
                                "(add imports you need inside your own cells)."))
    return release


@functools.lru_cache(maxsize=4)
def release_import_cell(path: Path, import_cell: str) -> str | None:
    """The source of the release notebook's ``imports`` cell (read once), or None if unavailable."""
    try:
        notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    cell = cells_by_grade_id(notebook).get(import_cell)
    return None if cell is None else cell_source(cell)


def neutralise_magics(source: str) -> str:
    """``source`` with IPython syntax rewritten as a kernel would, minus the shell (see magics.py)."""
    return transform(source).source


def strip_solution_markers(source: str) -> str:
    """Drop nbgrader's ``### BEGIN/END SOLUTION`` lines, keeping the solution between them."""
    return "\n".join(line for line in source.splitlines() if not SOLUTION_MARKERS.match(line)) + "\n"
