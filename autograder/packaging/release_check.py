"""``release``: build the student release, then prove it before anyone sees it.

Checks, each a (name, passed, detail) row of the report:
- the reference solution (solutions/cnn_week1.py) scores full marks;
- the untouched release notebook (all stubs) scores zero;
- nothing of the solution leaks: no nbgrader markers (BEGIN/END SOLUTION, HIDDEN TESTS) and no
  line of a solution region in any released file, no solutions or graders shipped.
Only a release that passes every check is zipped for an LMS (``--zip``).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.config import KIT_ROOT, GradingConfig
from ..engine.notebook import all_cells, cell_source
from .zipfiles import write_zip

MARKERS = re.compile(r"(BEGIN|END) (SOLUTION|HIDDEN TESTS)")
FORBIDDEN_NAMES = re.compile(r"(solution|graders?|conftest|grading\.toml|gradebook)", re.IGNORECASE)
MIN_LEAK_LINE = 16  # shorter solution lines (``return out``) are too common to mean a leak


@dataclass
class ReleaseReport:
    folder: Path
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    zip_path: Path | None = None

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def text(self) -> str:
        lines = [f"Release {self.folder}"]
        lines += [f"  {'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}" for name, ok, detail in self.checks]
        if self.zip_path:
            lines.append(f"  zipped for the LMS: {self.zip_path}")
        lines.append("Release checked: ready for students." if self.passed else "Release NOT ready: fix the failures above.")
        return "\n".join(lines)


def release(config: GradingConfig, release_root: Path | None = None, zip_path: Path | None = None,
            generate: bool = True, kit_root: Path | None = None) -> ReleaseReport:
    """Generate (unless ``generate`` is False) and check the release; zip it when every check passes.
    ``kit_root``: the course folder with source/ and solutions/ (default: the assignment's)."""
    kit_root = Path(kit_root or config.definition.course_root)
    release_root = Path(release_root or kit_root / "release")
    if generate:
        from .release import generate_release
        folder = generate_release(kit_root, release_root, config.definition)
    else:
        folder = release_root / config.definition.name
    report = ReleaseReport(folder)
    report.checks += leak_checks(folder, kit_root / "source" / config.definition.name)
    notebook = folder / config.assignment.notebook
    report.checks += score_checks(config, config.definition.solution(), notebook)
    if zip_path and report.passed:
        report.zip_path = zip_release(folder, Path(zip_path))
    return report


def solution_lines(source_folder: Path) -> set[str]:
    """Stripped lines inside BEGIN/END SOLUTION regions of the source notebooks, minus shared ones."""
    inside, outside = set(), set()
    for path in Path(source_folder).glob("*.ipynb"):
        for cell in all_cells(json.loads(path.read_text(encoding="utf-8"))):
            in_region = False
            for line in cell_source(cell).splitlines():
                if "BEGIN SOLUTION" in line:
                    in_region = True
                elif "END SOLUTION" in line:
                    in_region = False
                elif line.strip():
                    (inside if in_region else outside).add(line.strip())
    return {line for line in inside - outside if len(line) >= MIN_LEAK_LINE and not line.startswith("#")}


def leak_checks(folder: Path, source_folder: Path) -> list[tuple[str, bool, str]]:
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    if not files:
        return [("the release has files", False, f"{folder} is empty or missing")]
    secrets = solution_lines(source_folder)
    markers, leaks = [], []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if MARKERS.search(text):
            markers.append(path.name)
        if path.suffix == ".ipynb":  # compare code lines, not JSON-escaped text
            text = "\n".join(cell_source(cell) for cell in all_cells(json.loads(text)))
        present = {line.strip() for line in text.splitlines()}
        leaks += [f"{path.name}: {line[:60]}" for line in sorted(secrets & present)]
    shipped = [str(p.relative_to(folder)) for p in files if FORBIDDEN_NAMES.search(p.name)]
    return [
        ("no solution markers in the release", not markers, ", ".join(markers)),
        ("no solution line in the release", not leaks, "; ".join(leaks[:5]) + (f" (+{len(leaks) - 5})" if len(leaks) > 5 else "")),
        ("no solutions, graders or gradebook shipped", not shipped, ", ".join(shipped)),
    ]


def score_checks(config: GradingConfig, reference: Path, notebook: Path) -> list[tuple[str, bool, str]]:
    """Grade the reference and the stubs (two grading processes at once) and compare with the ends of the scale."""
    with tempfile.TemporaryDirectory(prefix="cnn-release-check-") as scratch:
        jobs = {}
        for label, path in (("reference", reference), ("stubs", notebook)):
            out = Path(scratch) / label
            command = [sys.executable, "-m", "autograder", "--config", str(config.path), "grade", str(path),
                       "--out", str(out), "--quiet"]
            jobs[label] = (subprocess.Popen(command, cwd=KIT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT), out)
        scores = {}
        for label, (process, out) in jobs.items():
            output = process.communicate()[0].decode(errors="replace")
            try:
                scores[label] = json.loads((out / "results.json").read_text())
            except (OSError, ValueError):
                scores[label] = {"error": f"grading failed (exit {process.returncode}): {output[-300:]}"}
    checks = []
    for label, wanted in (("reference", "full"), ("stubs", "zero")):
        result = scores[label]
        if "error" in result:
            checks.append((f"the {label} score {wanted} marks", False, result["error"]))
            continue
        target = result["max_score"] if wanted == "full" else 0.0
        failed = [t["name"] for t in result["tests"] if (t["score"] < t["max_score"]) == (wanted == "full")]
        detail = f"{result['score']:g} / {result['max_score']:g}"
        if failed:
            detail += " — " + ("failed: " if wanted == "full" else "passed: ") + "; ".join(failed[:5])
        checks.append((f"the {label} score {wanted} marks", abs(result["score"] - target) < 1e-6, detail))
    return checks


def zip_release(folder: Path, zip_path: Path) -> Path:
    """The student release as ``<assignment>/...`` in a zip with fixed member times (reproducible)."""
    files = sorted(path for path in Path(folder).rglob("*") if path.is_file())
    return write_zip(zip_path, {f"{Path(folder).name}/{path.relative_to(folder).as_posix()}": path for path in files})
