"""Small PNG figures for the feedback report, drawn from graders' attachments.

Each ``draw_*`` function takes one attachment value exactly as it is stored in
feedback.json and returns a ``data:image/png;base64,...`` URI, or raises
``ValueError`` when the value cannot be drawn. Figures are built on a bare
``Figure`` with the Agg canvas: no pyplot, no global backend switch.
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 80
MAX_SIDE = 96  # heatmaps larger than this are subsampled: a figure, not a data dump
PASS_COLOUR, FAIL_COLOUR, INK = "#1a7f37", "#c62828", "#444444"


def _png_uri(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _as_map(value) -> np.ndarray | None:
    """A 2-D float array (None -> NaN), or None when the value is not a 2-D map."""
    if value is None:
        return None
    try:
        array = np.array(value, dtype=np.float64)  # None inside becomes nan
    except (TypeError, ValueError):
        return None
    while array.ndim > 2 and array.shape[0] == 1:  # (1, H, W) -> (H, W)
        array = array[0]
    return array if array.ndim == 2 and 0 not in array.shape else None


def _limits(*arrays: np.ndarray | None) -> tuple[float, float]:
    finite = [a[np.isfinite(a)] for a in arrays if a is not None]
    finite = [a for a in finite if a.size]
    if not finite:
        return 0.0, 1.0
    low, high = min(float(a.min()) for a in finite), max(float(a.max()) for a in finite)
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _panel(axes, array: np.ndarray | None, label: str, note: str, **style) -> None:
    axes.set_title(label, fontsize=11)
    axes.set_xticks([]), axes.set_yticks([])
    if array is None:
        axes.text(0.5, 0.5, note, ha="center", va="center", fontsize=10, transform=axes.transAxes)
        axes.set_facecolor("#f3f3f3")
        return
    step = max(1, math.ceil(max(array.shape) / MAX_SIDE))
    image = axes.imshow(array[::step, ::step], interpolation="nearest", **style)
    axes.figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04).ax.tick_params(labelsize=8)


def draw_feature_maps(value: dict) -> str:
    """Input, expected, yours and (yours - expected) as four small heatmaps, two by two."""
    if not isinstance(value, dict):
        raise ValueError("feature_maps must be a dict")
    source, expected, yours = (_as_map(value.get(key)) for key in ("input", "expected", "yours"))
    if expected is None:
        raise ValueError("feature_maps needs an 'expected' 2-D map")
    low, high = _limits(expected, yours)
    difference, why = None, "no output to compare" if yours is None else ""
    # A map too big to keep was thinned by the grader (attachments.py); "<key>_shape" keeps its real size.
    your_shape = _real_shape(value, "yours", yours)
    expected_shape = _real_shape(value, "expected", expected)
    if yours is not None and your_shape != expected_shape:
        why = f"shape {_size_text(your_shape)}\nexpected {_size_text(expected_shape)}"
    elif yours is not None:
        difference = yours - expected
    figure = Figure(figsize=(4.8, 4.4))  # a 2×2 grid: readable at a phone's width without zooming
    axes = figure.subplots(2, 2).ravel()
    _panel(axes[0], source, "input", "no input", cmap="gray")
    _panel(axes[1], expected, "expected", "", cmap="viridis", vmin=low, vmax=high)
    _panel(axes[2], yours, "yours", "no output\n(see the message)", cmap="viridis", vmin=low, vmax=high)
    span = max(abs(v) for v in _limits(difference)) if difference is not None else 1.0
    _panel(axes[3], difference, "yours − expected", why, cmap="RdBu_r", vmin=-span, vmax=span)
    figure.tight_layout()
    return _png_uri(figure)


def _real_shape(value: dict, key: str, array: np.ndarray | None) -> tuple[int, ...] | None:
    shape = value.get(f"{key}_shape")
    if isinstance(shape, list) and shape and all(isinstance(side, int) for side in shape):
        return tuple(side for side in shape if side != 1) or (1,)
    return None if array is None else tuple(array.shape)


def _size_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(side) for side in shape)


def draw_loss_curve(value) -> str:
    """The loss per batch over the grading budget (``value``: a list, or {"losses", "batches"})."""
    losses, batches = (value.get("losses"), value.get("batches")) if isinstance(value, dict) else (value, None)
    if not isinstance(losses, list) or not losses:
        raise ValueError("loss_curve needs a non-empty list of losses")
    y = np.array([np.nan if v is None else v for v in losses], dtype=np.float64)
    if isinstance(batches, (int, float)) and batches >= len(y):
        x, label = np.linspace(1, int(batches), len(y)), "batch"
    else:  # a plain list may be downsampled: show progress, not a batch number that could be wrong
        x, label = np.linspace(0, 100, len(y)), "% of the training budget"
    figure = Figure(figsize=(4.6, 2.8))
    axes = figure.subplots()
    axes.plot(x, y, color="#1f5fa8", linewidth=1.2)
    if not np.isfinite(y).all():
        axes.text(0.98, 0.95, "gaps: loss was NaN or infinite", ha="right", va="top", fontsize=10,
                  color=FAIL_COLOUR, transform=axes.transAxes)
    axes.set_xlabel(label, fontsize=10), axes.set_ylabel("training loss", fontsize=10)
    axes.tick_params(labelsize=10)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return _png_uri(figure)


def draw_accuracy(value: dict) -> str:
    """One horizontal bar: the accuracy reached, with the threshold as a line."""
    if not isinstance(value, dict) or not isinstance(value.get("threshold"), (int, float)):
        raise ValueError("accuracy needs a numeric 'threshold'")
    reached, threshold = value.get("reached"), float(value["threshold"])
    measured = isinstance(reached, (int, float)) and math.isfinite(reached)
    # Zoom in near the threshold, so 97.9 against 97.0 is visible, not a hair's width apart.
    low = max(0.0, 5 * math.floor((min(reached, threshold) if measured else threshold) / 5 - 1))
    figure = Figure(figsize=(4.6, 1.5))
    axes = figure.subplots()
    colour = INK
    if measured:  # the numbers go in the title, where no bar or line can cover them
        colour = PASS_COLOUR if reached >= threshold else FAIL_COLOUR
        axes.barh([0], [max(reached, low) - low], left=low, height=0.6, color=colour)
    title = f"reached {reached:.2f} %" if measured else "no accuracy measured"
    axes.set_title(f"{title}, needed {threshold:g} %", loc="left", fontsize=11, color=colour, fontweight="bold")
    axes.axvline(threshold, color=INK, linestyle="--", linewidth=1.5)
    axes.set_xlim(low, 100), axes.set_ylim(-0.5, 0.5), axes.set_yticks([])
    axes.set_xlabel("test accuracy (%)", fontsize=10)
    axes.tick_params(labelsize=10)
    figure.tight_layout()
    return _png_uri(figure)
