"""Which units of a submission a name needs: the cells a worker loads, and nothing else.

A worker that runs one manual function loads the import cell, that function's
cell and the cells its names come from (a helper in another cell, ``zero_pad``
called by ``conv2d_single``), so honest code that spreads over cells keeps
working while the other cells (a SimpleCNN built on ``nn.Conv2d``) stay out.
Read from the syntax tree, generously: a name used anywhere counts as needed.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass



@dataclass(frozen=True)
class UnitNames:
    binds: frozenset[str]  # names its top level defines (def, class, assignment, import, for, with…)
    needs: frozenset[str]  # every name it reads, anywhere
    parsed: bool


def unit_names(source: str) -> UnitNames:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return UnitNames(frozenset(), frozenset(), parsed=False)
    binds: set[str] = set()
    for statement in tree.body:
        binds |= _bound_at_top(statement)
    needs = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return UnitNames(frozenset(binds), frozenset(needs), parsed=True)


def _bound_at_top(statement) -> set[str]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    names = set()
    for node in ast.walk(statement):  # assignments, loops, with-as, walrus… also inside if/try blocks
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Global):
            names |= set(node.names)
    return names


def units_for(names: set[str], units: list[tuple[str, str]], always: str) -> list[str]:
    """The grade_ids of ``units`` ((grade_id, source) in order) that ``names`` need, in order.

    A unit that cannot be parsed is kept when it is named after a wanted name (its syntax
    error is then the reason the name is missing) or when nothing else can be told about it.
    ``always``: the locked import cell, which every unit may rely on.
    """
    info = {grade_id: unit_names(source) for grade_id, source in units}
    wanted, chosen = set(names), {always}
    changed = True
    while changed:
        changed = False
        for grade_id, _ in units:
            if grade_id in chosen:
                continue
            unit = info[grade_id]
            if grade_id in wanted or unit.binds & wanted or (not unit.parsed and not grade_id.isidentifier()):
                chosen.add(grade_id)
                wanted |= unit.needs
                changed = True
    return [grade_id for grade_id, _ in units if grade_id in chosen]
