"""Grade one submission: extract, start the sandboxed worker, run the graders, write results.

This process is the trusted side: it never runs student code itself, it only
talks to the workers. Its own failures and the host's (no configuration, an
output directory it cannot write, a worker that cannot start, MNIST missing, a
grader that raised) raise ``GraderError`` and write no results.json: they are
never a student's score. Anything wrong with the submission ends up in
results.json instead. A grading job passes its warm ``ForkServer`` to grade
many submissions with one torch import.
"""
from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING

# Only light modules here: the worker is launched before pytest, matplotlib and torch load,
# so that its start-up (it imports torch) overlaps with the grader's own.
from .config import GradingConfig, load_config
from .extract import extract
from .failures import HostFault
from .sandbox import ForkServer
from .session import WorkerSession

if TYPE_CHECKING:
    from .results import SubmissionResult

class GraderError(RuntimeError):
    """The grader itself cannot do its job (not the submission's fault)."""


def grade(submission_path: str | Path, out_dir: str | Path, config: GradingConfig | None = None,
          select: str | None = None, graders_dir: Path | None = None,
          server: ForkServer | None = None) -> "SubmissionResult":
    """Grade ``submission_path`` and write ``out_dir/results.json`` (and feedback data).

    ``server``: a grading job's warm fork-server; without one, a fork-server is started
    for this submission and closed after it. ``graders_dir``: the assignment's graders unless given.
    """
    started = time.monotonic()
    config = config or load_config()
    graders_dir = graders_dir or config.definition.graders_dir
    out_dir = _writable_dir(out_dir)
    submission = extract(submission_path, config.definition)
    extracted = time.monotonic()
    own_server = server is None
    try:
        if own_server:  # it imports torch while pytest and the graders load here
            server = fork_server(config, with_data=bool(submission.cells))
            if submission.cells:
                server.start()
        return _grade_with(server, submission, submission_path, out_dir, config, select, graders_dir,
                           started, extracted)
    except HostFault as fault:
        raise GraderError(str(fault)) from fault
    finally:
        if own_server and server is not None:
            server.close()


def fork_server(config: GradingConfig, with_data: bool = True) -> ForkServer:
    """A fork-server for ``config``'s assignment (not started): its worker tasks, forbidden routines
    and the data its workers may read (prepared here; a failure is the host's, never a grade)."""
    definition = config.definition
    try:
        data = definition.files_for_workers(config) if with_data else {}
    except Exception as error:  # a missing or damaged data set (MNIST) is the host's problem
        raise GraderError(f"The data the workers read could not be prepared: {error}") from error
    return ForkServer(config.sandbox, data, definition.worker_tasks, definition.forbidden)


def _grade_with(server, submission, submission_path, out_dir, config, select, graders_dir,
                started, extracted) -> "SubmissionResult":
    from .feedback_html import write_feedback
    from .plugin import GradingPlugin, run_graders
    from .provenance import provenance
    from .results import SubmissionResult, apply_same_mistake, write_result

    session = WorkerSession(submission, config, server)
    _limit_torch_threads(config.sandbox.threads())
    plugin = GradingPlugin(session, config)
    try:
        code = run_graders(graders_dir, plugin, select)
    finally:
        session.close()
    if plugin.host_faults:
        raise GraderError("No grade was recorded: the grader or the host failed, not the submission:\n"
                          + "\n".join(plugin.host_faults))
    if plugin.collection_errors or code not in (0, 1) or not plugin.results:
        raise GraderError("The graders could not run:\n" + "\n".join(plugin.collection_errors or [f"pytest exit {code}"]))

    tests = [plugin.results[node] for node in plugin.order]
    apply_same_mistake(tests, config.scoring.same_mistake)  # one diagnosed mistake, charged once
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
        missing_protections=session.protections.missing(),
        execution_time=time.monotonic() - started, timings=timings,
        resources=_peak_memory(session),
        provenance=provenance(config, submission_path, server, tests, select),
        same_mistake=config.scoring.same_mistake)
    write_result(out_dir, result)
    write_feedback(out_dir)  # OUT/feedback.html, the student's report (never raises for drawing problems)
    return result


def _limit_torch_threads(threads: int) -> None:
    """The grader's own tensor work (references, test-set accuracy) shares the job's cores."""
    import torch

    torch.set_num_threads(threads)


def _peak_memory(session: WorkerSession) -> dict[str, float]:
    peaks = {"grader_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
             "workers_started": float(session.workers_started)}
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
