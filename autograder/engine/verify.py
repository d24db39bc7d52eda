"""``verify``: re-grade a submission and say, test by test, whether the recorded results.json is
reproduced to the cent, and whether what produced it (kit, configuration, graders, submission,
libraries) is what grades now. A disputed grade is checked by grading it again, not by trust.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .config import GradingConfig, load_config
from .results import read_results

# Provenance fields that, when they differ, mean the re-grade ran under other conditions.
COMPARED = ("kit_version", "kit_release", "grading_toml_sha256", "config_sha256", "graders_sha256",
            "submission_sha256", "python", "torch", "numpy", "select")


@dataclass
class Verification:
    recorded: dict  # OUTDIR/results.json
    runs: list[dict] = field(default_factory=list)  # each re-grade's results.json
    differences: list[str] = field(default_factory=list)  # one line per test (or total) whose score differs
    provenance: list[str] = field(default_factory=list)  # one line per provenance field that differs

    @property
    def identical(self) -> bool:
        return not self.differences

    def text(self) -> str:
        lines = [f"{len(self.runs)} re-grade(s) of {len(self.recorded['tests'])} tests: "
                 + ("every score identical to the cent." if self.identical else
                    f"{len(self.differences)} score(s) differ:")]
        lines += [f"  {line}" for line in self.differences]
        if self.provenance:
            lines += ["Provenance differs (the re-grade ran under other conditions):"]
            lines += [f"  {line}" for line in self.provenance]
        else:
            lines += ["Provenance: same kit, configuration, graders, submission and library versions."]
        return "\n".join(lines)


def cents(value) -> int:
    return round(float(value) * 100)


def compare(recorded: dict, run: dict, label: str) -> list[str]:
    """Lines naming each test whose score in ``run`` is not ``recorded``'s to the cent."""
    want = {test["name"]: test.get("score", 0) for test in recorded["tests"]}
    got = {test["name"]: test.get("score", 0) for test in run["tests"]}
    lines = []
    for name in [*want, *(name for name in got if name not in want)]:
        if name not in got or name not in want:
            lines.append(f"{name}: {'not in the re-grade' if name not in got else 'not in the recorded results'} ({label})")
        elif cents(want[name]) != cents(got[name]):
            lines.append(f"{name}: recorded {float(want[name]):g}, {label} gave {float(got[name]):g}")
    if cents(recorded.get("score", 0)) != cents(run.get("score", 0)):
        lines.append(f"total: recorded {float(recorded.get('score', 0)):g}, {label} gave {float(run.get('score', 0)):g}")
    return lines


def provenance_changes(recorded: dict, run: dict) -> list[str]:
    was, now = recorded.get("provenance") or {}, run.get("provenance") or {}
    if not was:
        return ["the recorded results.json has no provenance (graded by an older kit)"]
    return [f"{key}: recorded {was.get(key)!r}, now {now.get(key)!r}" for key in COMPARED if was.get(key) != now.get(key)]


def verify(out_dir: str | Path, submission: str | Path, config: GradingConfig | None = None, runs: int = 1,
           server=None) -> Verification:
    """Re-grade ``submission`` ``runs`` times (in temporary folders, with the tests the recorded grade
    selected) and compare each with ``out_dir/results.json``. Raises OSError/ValueError when that file
    cannot be read, and ``GraderError`` when a re-grade fails for the grader's or the host's reasons."""
    from .grade import grade

    recorded = read_results(Path(out_dir) / "results.json")
    config = config or load_config()
    select = (recorded.get("provenance") or {}).get("select")
    verification = Verification(recorded)
    own_server = server is None and runs > 1
    if own_server:  # several re-grades share one warm fork-server (one torch import)
        server = _warm_server(config)
    try:
        for number in range(1, runs + 1):
            with tempfile.TemporaryDirectory(prefix="cnnkit-verify-") as scratch:
                grade(submission, scratch, config, select=select, server=server)
                run = read_results(Path(scratch) / "results.json")
            verification.runs.append(run)
            verification.differences += compare(recorded, run, f"re-grade {number}" if runs > 1 else "the re-grade")
            for line in provenance_changes(recorded, run):
                if line not in verification.provenance:
                    verification.provenance.append(line)
    finally:
        if own_server and server is not None:
            server.close()
    return verification


def _warm_server(config: GradingConfig):
    from .grade import GraderError, fork_server

    try:
        server = fork_server(config)
        server.start()
    except Exception as error:  # MNIST missing, no sandbox: the host's fault, never a verdict
        raise GraderError(f"the fork-server for the re-grades could not start: {error}") from error
    return server
