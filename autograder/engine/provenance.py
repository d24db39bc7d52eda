"""What produced a grade, recorded in every result: when a student disputes a score, the result
names the kit, configuration, graders, submission bytes, libraries, gate seed and sandbox that made
it, and ``verify`` can re-grade under the same conditions and compare.

The digests here are also what grade-all keys its rows by (``batch.digests``): one implementation.
"""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from dataclasses import asdict
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from .files import sha256_file
from .config import KIT_ROOT, GradingConfig, grading_digest

GATE_SEED_KEY = "gate_seed_index"  # the attachment the accuracy gate leaves: which pool seed it drew
# Equal in a previous result and a part re-grade, or the two are not grades of the same thing.
SAME_GRADE_KEYS = ("submission_sha256", "config_sha256", "graders_sha256", "kit_release")


def graders_digest(folder: Path) -> str:
    """SHA-256 over the graders' file names and bytes (any edit to a hidden test changes it)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def kit_release() -> str:
    """The kit's release (pyproject.toml's version): bumped when the engine changes how it grades."""
    try:
        return str(tomllib.loads((KIT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, ValueError, KeyError):
        try:
            from importlib.metadata import version

            return version("cnn-week1-kit")
        except Exception:  # not installed as a package either (e.g. a Gradescope zip)
            return "unknown"


@cache
def kit_version() -> str:
    """``git describe`` of the kit when it is a git checkout (exact commit, ``-dirty`` if edited),
    else its release. Once per process: it describes the code this process loaded."""
    if (KIT_ROOT / ".git").exists():
        try:
            done = subprocess.run(["git", "-C", str(KIT_ROOT), "describe", "--tags", "--always", "--dirty"],
                                  capture_output=True, text=True, timeout=10,
                                  env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})  # never takes index.lock
            if done.returncode == 0 and done.stdout.strip():
                return f"{kit_release()}+git.{done.stdout.strip()}"
        except (OSError, subprocess.SubprocessError):
            pass
    return kit_release()


def sha256_of(path: str | Path) -> str:
    """The file's SHA-256, or "" when it cannot be read (a missing submission is graded too)."""
    try:
        return sha256_file(path)
    except OSError:
        return ""


def library_versions() -> dict[str, str]:
    """The versions loaded in this process; a driver that never imported them (grade-all recording a
    zero row) reads the installed ones instead of paying for ``import torch``."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("torch", "numpy"):
        try:
            found[name] = sys.modules[name].__version__ if name in sys.modules else version(name)
        except (AttributeError, PackageNotFoundError):
            found[name] = "unknown"
    return found


def provenance(config: GradingConfig, submission: str | Path, server=None, tests=(), select: str | None = None) -> dict:
    """The provenance of one grade. ``server``: the ``ForkServer`` that ran the workers (None when no
    student code ran); ``tests``: the graded ``TestResult``s (the gate's seed index is read from them)."""
    seeds = [test.attachments[GATE_SEED_KEY] for test in tests if GATE_SEED_KEY in test.attachments]
    protections = getattr(server, "protections", None)
    return {
        "kit_version": kit_version(), "kit_release": kit_release(),
        "grading_toml_sha256": sha256_of(config.path) if config.path else "",
        "config_sha256": grading_digest(config), "graders_sha256": graders_digest(config.definition.graders_dir),
        "submission_sha256": sha256_of(submission),
        **library_versions(),
        GATE_SEED_KEY: seeds[0] if seeds else None,
        "select": select,
        "sandbox_mode": getattr(server, "mode", None),
        "protections": asdict(protections) if protections is not None else None,
        "missing_protections": protections.missing() if protections is not None else [],
        "cpu_count": os.cpu_count(),
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
