"""Grade one submission: extract, start the sandboxed worker, run the graders, write results.

This process is the trusted side: it never runs student code itself, it only
talks to the worker. Its own failures (no configuration, an output directory
it cannot write) raise ``GraderError``; anything wrong with the submission
ends up in results.json instead.
"""
from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING

# Only light modules here: the worker is launched before pytest, matplotlib and torch load,
# so that its start-up (it imports torch) overlaps with the grader's own.
from .config import GradingConfig, load_config
from .data_cache import training_arrays
from .extract import extract
from .session import WorkerSession

if TYPE_CHECKING:
    from .results import SubmissionResult

GRADERS_DIR = Path(__file__).resolve().parent / "graders"


class GraderError(RuntimeError):
    """The grader itself cannot do its job (not the submission's fault)."""


def grade(submission_path: str | Path, out_dir: str | Path, config: GradingConfig | None = None,
          select: str | None = None, graders_dir: Path = GRADERS_DIR) -> "SubmissionResult":
    """Grade ``submission_path`` and write ``out_dir/results.json`` (and feedback data)."""
    started = time.monotonic()
    config = config or load_config()
    out_dir = _writable_dir(out_dir)
    submission = extract(submission_path)
    extracted = time.monotonic()
    session = WorkerSession(submission, config, training_arrays(config) if submission.cells else {})
    session.launch()  # the worker imports torch while pytest and the graders load here
    from .feedback_html import write_feedback
    from .plugin import GradingPlugin, run_graders
    from .results import SubmissionResult, write_json_atomic

    _limit_torch_threads(config.sandbox.threads())
    plugin = GradingPlugin(session, config)
    try:
        code = run_graders(graders_dir, plugin, select)
    finally:
        session.close()
    if plugin.collection_errors or code not in (0, 1) or not plugin.results:
        raise GraderError("The graders could not run:\n" + "\n".join(plugin.collection_errors or [f"pytest exit {code}"]))

    tests = [plugin.results[node] for node in plugin.order]
    timings = {"extraction": extracted - started}
    if session.startup_seconds is not None:
        timings["worker startup"] = session.startup_seconds
    for test in tests:
        timings[f"part {test.part}"] = timings.get(f"part {test.part}", 0.0) + test.seconds
    problems = list(submission.problems)
    if session.restarts:
        problems.append(f"The process running your code had to be restarted {session.restarts} time(s) "
                        "(after a crash, a hang or too much output); see the failed tests.")
    result = SubmissionResult(
        submission=str(submission_path), kind=submission.kind, tests=tests,
        parts={key: (part.title, part.points) for key, part in config.parts.items()},
        problems=problems,
        missing_protections=session.protections.missing() if session.protections else [],
        execution_time=time.monotonic() - started, timings=timings,
        resources=_peak_memory(session))
    write_json_atomic(out_dir / "results.json", result.to_gradescope())
    write_json_atomic(out_dir / "feedback.json", result.to_feedback_data())
    write_feedback(out_dir)  # OUT/feedback.html, the student's report (never raises for drawing problems)
    return result


def _limit_torch_threads(threads: int) -> None:
    """The grader's own tensor work (references, test-set accuracy) shares the job's cores."""
    import torch

    torch.set_num_threads(threads)


def _peak_memory(session: WorkerSession) -> dict[str, float]:
    peaks = {"grader_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if session.worker_peak_rss_mb is not None:
        peaks["worker_peak_rss_mb"] = session.worker_peak_rss_mb
    return peaks


def _writable_dir(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise GraderError(f"Cannot write to the output directory {out_dir}: {error.strerror or error}.") from error
    return out_dir
