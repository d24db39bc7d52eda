"""CNN week 1 as the engine sees it: contract, hidden graders, worker tasks, data and settings."""
from __future__ import annotations

from pathlib import Path

from ...engine.assignment import Assignment, ForbiddenRoutines
from .contract import IMPORT_CELL_ID, PARTS
from .settings import SECTIONS

HERE = Path(__file__).resolve().parent


def _training_arrays(config) -> dict[str, Path]:
    from .data import training_arrays  # numpy and the MNIST reader only when a grade needs them

    return training_arrays(config)


ASSIGNMENT = Assignment(
    name="cnn_week1",
    parts=PARTS,
    import_cell=IMPORT_CELL_ID,
    graders_dir=HERE / "graders",
    forbidden=ForbiddenRoutines(
        names=r"conv(?!ert)|pool|unfold|im2col|correlat",  # conv2d, MaxPool2d, np.correlate… (not "convert")
        padding_names=r"pad",  # F.pad, np.pad, ZeroPad2d… (refused in zero_pad only)
        padding_ops=r"^(pad|_pad_\w+|constant_pad_nd|reflection_pad\w*|replication_pad\w*|pad_sequence)$",
        modules=("scipy.signal", "scipy.ndimage"),
    ),
    worker_tasks=HERE / "worker",
    worker_files=_training_arrays,
    settings=SECTIONS,
    student_files=("mnist_data.py", "hints.py", "public_checks.py", "test_public_checks.py"),
)
