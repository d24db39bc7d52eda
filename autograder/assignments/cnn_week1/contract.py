"""The assignment's fixed names (shared/assignment-api.md), defined once for every module."""
from __future__ import annotations

ASSIGNMENT = "cnn_week1"
IMPORT_CELL_ID = "imports"  # the locked cell whose code every graded cell may rely on

# Part key -> the names a submission must define for it, in notebook order.
PARTS: dict[str, tuple[str, ...]] = {
    "manual_conv": (
        "vertical_edge_filter",
        "horizontal_edge_filter",
        "sobel_filter",
        "conv2d_single",
        "conv2d_volume",
    ),
    "output_size": ("conv_output_size", "same_padding", "zero_pad"),
    "pooling": ("max_pool2d", "avg_pool2d"),
    "simple_cnn": ("SimpleCNN",),
    "training_loop": ("train_one_epoch", "evaluate"),
    "feature_maps": ("feature_maps",),
}

GRADED_NAMES: tuple[str, ...] = tuple(name for names in PARTS.values() for name in names)
PART_OF: dict[str, str] = {name: part for part, names in PARTS.items() for name in names}

# Functions that must do their work by hand (the contract's no-library-routine rule).
MANUAL_FUNCTIONS = ("conv2d_single", "conv2d_volume", "zero_pad", "max_pool2d", "avg_pool2d")
