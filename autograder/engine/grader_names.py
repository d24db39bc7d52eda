"""The names the grader tests will report, read from their source without importing or running them.

grading.toml hides tests by name, and a hidden name with a typo silently leaves that test visible
with its inputs, so the configuration is checked against these names. A name is what
``plugin._name_of`` gives a test: the first line of its docstring (else the function's name),
followed by `` [<id>]`` for each case of a parametrised test. Parsing with ``ast`` keeps
``load_config`` cheap (no torch import, no pytest collection).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path



@dataclass
class GraderNames:
    exact: set[str] = field(default_factory=set)
    # parametrised tests whose ids cannot be worked out statically: any "<base> [<id>]" is accepted
    any_id: set[str] = field(default_factory=set)

    def __contains__(self, name: str) -> bool:
        if name in self.exact:
            return True
        base, _, rest = name.partition(" [")
        return base in self.any_id and rest.endswith("]")

    def all(self) -> list[str]:
        return sorted(self.exact | {f"{base} [...]" for base in self.any_id})


def grader_test_names(graders_dir: Path) -> GraderNames:
    """Every test name under ``graders_dir`` (``test_*.py``: module-level and ``Test*`` class tests)."""
    names = GraderNames()
    for path in sorted(Path(graders_dir).glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _test_functions(tree):
            doc = (ast.get_docstring(node, clean=False) or "").strip()
            base = doc.splitlines()[0].strip() if doc else node.name
            cases = _parametrize_calls(node)
            if not cases:
                names.exact.add(base)
                continue
            ids = _static_ids(cases[0]) if len(cases) == 1 else None
            if ids is None:
                names.any_id.add(base)
            else:
                names.exact.update(f"{base} [{case}]" for case in ids)
    return names


def _test_functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            yield from (item for item in node.body
                        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"))


def _parametrize_calls(node) -> list[ast.Call]:
    return [d for d in node.decorator_list
            if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "parametrize"]


def _static_ids(call: ast.Call) -> list[str] | None:
    """pytest's ids for one ``parametrize`` when they are literal: explicit ``ids=[...]``, or
    str/int/float/bool/None values joined by ``-``. None when pytest would have to compute them."""
    keywords = {k.arg: k.value for k in call.keywords}
    try:
        if "ids" in keywords:
            ids = ast.literal_eval(keywords["ids"])
            return [str(i) for i in ids] if all(isinstance(i, str) for i in ids) else None
        values = ast.literal_eval(keywords.get("argvalues", call.args[1] if len(call.args) > 1 else None))
        argnames = ast.literal_eval(keywords.get("argnames", call.args[0]))
    except (ValueError, TypeError, SyntaxError, IndexError):
        return None
    several = isinstance(argnames, (list, tuple)) or "," in str(argnames)
    ids = []
    for value in values:
        parts = value if several else (value,)
        if not all(isinstance(p, (str, int, float, bool, type(None))) for p in parts):
            return None
        ids.append("-".join(p if isinstance(p, str) else str(p) for p in parts))
    if len(set(ids)) != len(ids) or any(not i.isascii() for i in ids):
        return None  # pytest would disambiguate or escape them
    return ids
