"""A notebook's JSON as nbgrader marks it: each cell's ``grade_id`` and source, cells found by grade_id.

The kit's one reader of notebook cells (extraction, the release checks, the tests, the benchmarks).
It takes any JSON: a malformed cell simply has no grade_id and an empty source, nothing raises.
Two copies live where this package is not installed, in what students run: the release's
``test_public_checks.py`` and the GitHub check runner (packaging/templates/github/run_public_checks.py.j2).
"""
from __future__ import annotations


def grade_id(cell) -> str | None:
    """``metadata.nbgrader.grade_id`` of ``cell`` when it is a string, else None."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    value = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return value if isinstance(value, str) else None


def cell_source(cell) -> str:
    """The cell's source as one string (a notebook stores it as one string or a list of lines)."""
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def all_cells(notebook) -> list[dict]:
    """The cells of ``notebook`` (parsed JSON or an nbformat node) in order; [] when it has no list of cells."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    return [cell for cell in cells if isinstance(cell, dict)] if isinstance(cells, list) else []


def code_cells(notebook) -> list[dict]:
    return [cell for cell in all_cells(notebook) if cell.get("cell_type") == "code"]


def cells_by_grade_id(notebook, code_only: bool = True) -> dict[str, dict]:
    """grade_id -> the first cell that has it (code cells only, unless ``code_only`` is False)."""
    found: dict[str, dict] = {}
    for cell in code_cells(notebook) if code_only else all_cells(notebook):
        name = grade_id(cell)
        if name is not None:
            found.setdefault(name, cell)
    return found
