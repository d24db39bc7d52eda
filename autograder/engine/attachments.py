"""Graders' figure data (``attach``) as small, strict JSON, whatever the student's code returned.

A wrong 3000×3000 map must not make feedback.json hundreds of megabytes: arrays
are cut to at most MAX_SIDE×MAX_SIDE per map (taking every k-th row and column),
MAX_LEADING maps and MAX_POINTS points of a 1-D series; the original shape of
any array cut that way is kept beside it, under ``<key>_shape``, for the report's text.
"""
from __future__ import annotations

import math

from .textsafe import clip, scrub

MAX_SIDE = 64  # rows and columns of one map kept
MAX_LEADING = 16  # maps (channels, filters) kept along each leading dimension
MAX_POINTS = 2048  # values of a 1-D series kept
MAX_DEPTH = 8  # nesting of dicts and lists beyond this is dropped
SHAPE_SUFFIX = "_shape"


def json_safe(value, depth: int = 0):
    """``value`` as JSON data: arrays and tensors to bounded lists, NaN and infinities to None."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        safe = {}
        for key, item in list(value.items())[:64]:
            key = clip(key, 100)
            safe[key] = json_safe(item, depth + 1)
            shape = original_shape(item)
            if shape is not None:
                safe[key + SHAPE_SUFFIX] = shape
        return safe
    if _is_array(value) or isinstance(value, (list, tuple)):
        value = bounded(value)
        if isinstance(value, list):
            return [json_safe(item, depth + 1) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return scrub(value, 2000)


def original_shape(value) -> list[int] | None:
    """The shape of ``value`` when ``bounded`` cuts it, else None."""
    shape = _shape(value)
    if shape is None or not _too_big(shape):
        return None
    return shape


def bounded(value):
    """An array, tensor or list cut to the limits above (as nested lists)."""
    shape = _shape(value)
    if shape is None or not _too_big(shape):
        return value.tolist() if _is_array(value) else list(value)
    if _is_array(value):
        return value[_cut(shape)].tolist()
    return _cut_list(value, len(shape))


def _is_array(value) -> bool:
    return hasattr(value, "tolist") and hasattr(value, "shape")


def _shape(value) -> list[int] | None:
    if _is_array(value):
        try:
            return [int(side) for side in value.shape]
        except (TypeError, ValueError):
            return None
    if not isinstance(value, (list, tuple)):
        return None
    shape = [len(value)]  # a nested list: its shape along the first item (ragged is fine)
    while value and isinstance(value[0], (list, tuple)) and len(shape) < MAX_DEPTH:
        value = value[0]
        shape.append(len(value))
    return shape


def _too_big(shape: list[int]) -> bool:
    if len(shape) == 1:
        return shape[0] > MAX_POINTS
    return any(side > MAX_LEADING for side in shape[:-2]) or any(side > MAX_SIDE for side in shape[-2:])


def _step(side: int, keep: int) -> int:
    return max(1, math.ceil(side / keep))


def _cut(shape: list[int]) -> tuple[slice, ...]:
    if len(shape) == 1:
        return (slice(None, None, _step(shape[0], MAX_POINTS)),)
    leading = tuple(slice(0, MAX_LEADING) for _ in shape[:-2])
    return leading + tuple(slice(None, None, _step(side, MAX_SIDE)) for side in shape[-2:])


def _cut_list(value, dims: int, level: int = 0):
    """``_cut`` for nested lists (which may be ragged), level by level."""
    if not isinstance(value, (list, tuple)):
        return value
    if dims == 1:
        kept = value[:: _step(len(value), MAX_POINTS)]
    elif level < dims - 2:
        kept = value[:MAX_LEADING]
    else:
        kept = value[:: _step(len(value), MAX_SIDE)]
    return [_cut_list(item, dims, level + 1) for item in kept]
