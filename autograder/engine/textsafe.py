"""Student-derived text made safe to store and show: bounded, valid Unicode, no terminal escapes.

Anything a submission controls (exception types and messages, printed output,
reprs, file names) can be megabytes long, hold lone surrogates that UTF-8
cannot encode, or carry ANSI/OSC escapes that would drive the instructor's
terminal. Every writer of results, feedback and reports passes such text
through here.
"""
from __future__ import annotations

import json
import math
import re

TEXT_LIMIT = 4000  # characters of one student-derived message kept by default
_SURROGATES = re.compile("[\ud800-\udfff]")
# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), other two-character escapes, then any
# remaining C0/C1 control (tab and newline kept), DEL, and bidirectional overrides (Trojan Source).
_TERMINAL_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clip(text, limit: int = TEXT_LIMIT) -> str:
    """``text`` as a str of at most about ``limit`` characters, lone surrogates replaced by U+FFFD."""
    text = text if isinstance(text, str) else _str(text)
    if len(text) > limit:
        text = f"{text[:limit]}… [{len(text) - limit:,} more characters cut]"
    return _SURROGATES.sub("\ufffd", text)


def for_terminal(text, limit: int = TEXT_LIMIT) -> str:
    """``clip`` plus every escape sequence and control character (but tab and newline) removed."""
    return _TERMINAL_ESCAPES.sub("", clip(text, limit))


def scrub(data, limit: int | None = None):
    """A copy of JSON-like ``data`` whose strings (keys too) are clipped to ``limit`` (None: no cut)
    and hold no lone surrogates; any other leaf that is not JSON becomes its clipped ``str``."""
    if isinstance(data, str):
        return clip(data, limit) if limit is not None else _SURROGATES.sub("\ufffd", data)
    if isinstance(data, dict):
        return {scrub(str(key), limit): scrub(value, limit) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        if all(type(value) is float for value in data):  # figure data: millions of plain floats
            return [value if math.isfinite(value) else None for value in data]
        return [scrub(value, limit) for value in data]
    if data is None or isinstance(data, bool):
        return data
    if isinstance(data, int):  # JSON cannot carry a 5,000-digit int (Python refuses to print it)
        return data if data.bit_length() <= 64 else _finite(float(data) if data.bit_length() < 1024 else None)
    if isinstance(data, float):
        return _finite(data)
    return clip(data, limit or TEXT_LIMIT)


def json_size(data) -> int:
    """Bytes of ``data`` as compact UTF-8 JSON (results.write_json_atomic indents only small files)."""
    return len(dumps(data).encode("utf-8", "replace"))


def dumps(data, indent: int | None = None) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)


def fit(data, max_bytes: int, limit: int = TEXT_LIMIT, floor: int = 200):
    """``scrub(data, limit)`` with ``limit`` halved until the JSON fits ``max_bytes`` or reaches
    ``floor``; the caller drops bulk data (attachments) if even that is too big."""
    fitted = scrub(data, limit)
    size = json_size(fitted)
    while size > max_bytes and limit > floor:
        limit = max(floor, limit // 2)
        fitted, before = scrub(fitted, limit), size
        size = json_size(fitted)
        if size == before:  # no string was that long: clipping further cannot help
            break
    return fitted


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _str(value) -> str:
    try:
        return str(value)
    except Exception as error:  # a repr that raises (a hostile __str__, a 5,000-digit int)
        return f"<unprintable {type(value).__name__}: {type(error).__name__}>"
