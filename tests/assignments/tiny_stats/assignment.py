"""tiny_stats: the smallest complete assignment, a second one next to week 1 that proves the engine
knows no assignment (tests/test_second_assignment.py takes it through release, grade, grade-all and
export). It is everything an assignment folder needs, in one file: the contract (part keys, graded
names, the locked import cell, the routines the hand-written function may not call), its own
grading.toml section, and the data its workers may read. grading.toml points here with
``[assignment] path = "."``; this folder is then also the course folder (source/, release/,
solutions/, submitted/, cnnkit/, export/).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.engine.assignment import Assignment, ForbiddenRoutines, SettingsSection
from autograder.engine.config import between

HERE = Path(__file__).resolve().parent
SERIES_FILE = "series.csv"  # the daily temperatures the smoothing task reads inside the sandbox

# ----- the contract: part key -> graded names (= the solution cells' grade_id), in notebook order --
IMPORT_CELL_ID = "imports"
PARTS: dict[str, tuple[str, ...]] = {
    "summaries": ("mean", "variance", "normalise"),
    "smoothing": ("moving_average", "exponential_smoothing"),
}


# ----- the assignment's own grading.toml section: [smoothing] --------------------------------------
@dataclass(frozen=True)
class Smoothing:
    window: int = 7  # the window of the moving average graded on the data file


SECTIONS = {"smoothing": SettingsSection(Smoothing, {"window": between(1, 30)})}


def _worker_files(config) -> dict[str, Path]:
    """The files a worker may read, by the name it sees them under (in ``options.data_dir``)."""
    return {SERIES_FILE: HERE / SERIES_FILE}


ASSIGNMENT = Assignment(
    name="tiny_stats",
    parts=PARTS,
    import_cell=IMPORT_CELL_ID,
    graders_dir=HERE / "graders",
    # moving_average is written by hand (graded with Watch.MANUAL): no library convolution,
    # running sum or sliding window, neither in the cell's code nor, at run time, in its worker.
    forbidden=ForbiddenRoutines(names=r"convolve|correlat|cumsum|sliding_window"),
    worker_tasks=HERE / "worker",
    worker_files=_worker_files,
    settings=SECTIONS,
)
