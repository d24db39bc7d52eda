"""The engine knows no assignment: it imports with the week-1 package gone, and nothing outside an
assignment's folder imports one. The dependency goes one way, assignment → engine."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "autograder"
ENGINE_PARTS = ("engine", "classwork", "packaging")


def engine_modules(root: Path) -> list[str]:
    """Dotted names of every engine, class-workflow and packaging module, and the command line."""
    names = ["autograder.cli"]  # (__main__ would run the command line)
    for part in ENGINE_PARTS:
        for path in sorted((root / part).rglob("*.py")):
            if "runtime" in path.relative_to(root).parts:
                continue  # the sandbox's own modules import each other flat, inside the sandbox
            names.append(".".join(("autograder",) + path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"))
    return names


def test_no_engine_module_imports_an_assignment():
    offenders = []
    for part in ENGINE_PARTS + ("cli.py",):
        for path in sorted((PACKAGE / part).rglob("*.py")) if (PACKAGE / part).is_dir() else [PACKAGE / part]:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom):
                    target = ("." * node.level) + (node.module or "")
                    if "assignments" in target.split(".") or any(alias.name == "assignments" for alias in node.names):
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno} from {target}")
                elif isinstance(node, ast.Import):
                    offenders += [f"{path.relative_to(REPO)}:{node.lineno} import {alias.name}"
                                  for alias in node.names if ".assignments" in alias.name]
    assert offenders == []


def test_the_engine_imports_with_the_week1_package_absent(tmp_path):
    copy = tmp_path / "autograder"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "cnn_week1"))
    assert not (copy / "assignments" / "cnn_week1").exists()
    modules = engine_modules(copy)
    assert len(modules) > 30, modules
    script = ("import importlib, sys\n"
              f"for name in {modules!r}:\n"
              "    importlib.import_module(name)\n"
              "import autograder\n"
              "assert autograder.__file__.startswith(sys.path[0]), autograder.__file__\n"
              "leaked = sorted(name for name in sys.modules if name.startswith('autograder.assignments.'))\n"
              "print('loaded', len(sys.modules), 'leaked', leaked)\n"
              "sys.exit(1 if leaked else 0)\n")
    done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + script],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "leaked []" in done.stdout
