"""Running nbgrader from the kit's Python: its command line and the environment it needs.

nbgrader runs ``alembic`` by name (to create or upgrade a gradebook database), so the folder of
this interpreter (a venv's ``bin/``) must be on PATH even when the venv was never activated.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

BIN_DIR = os.path.dirname(sys.executable)


def nbgrader_command(*args: str) -> list[str]:
    """``nbgrader ARGS`` of this interpreter's environment."""
    return [os.path.join(BIN_DIR, "nbgrader"), *args]


def nbgrader_env(**extra: str) -> dict[str, str]:
    """The environment for an nbgrader subprocess: this one, BIN_DIR first on PATH, plus ``extra``."""
    return {**os.environ, "PATH": BIN_DIR + os.pathsep + os.environ.get("PATH", ""), **extra}


@contextlib.contextmanager
def nbgrader_path() -> Iterator[None]:
    """For nbgrader's Python API in this process (the gradebook, which starts ``alembic``): the PATH
    of ``nbgrader_env`` while the block runs, the caller's own PATH again after it."""
    before = os.environ.get("PATH")
    os.environ["PATH"] = nbgrader_env()["PATH"]
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = before
