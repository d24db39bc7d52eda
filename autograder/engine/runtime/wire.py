"""The message format between the grader and the sandboxed worker.

Messages are JSON with tensors and arrays as base64 bytes plus dtype and
shape. Reading one can never run code (unlike pickle), so whatever a hostile
submission sends back is only ever data to the grader. A frame is a header of
two 4-byte big-endian numbers, the payload's length and the request id it
answers, then the JSON bytes: the reader checks both before it reads a byte
of the payload.

This file is bind-mounted into the sandbox: it imports nothing from the
autograder package, and torch/numpy only where a value needs them.
"""
from __future__ import annotations

import base64
import json
import os
import sys
from dataclasses import dataclass

MAX_FRAME_BYTES = 32 * 1024 * 1024  # the largest legitimate reply (trained weights) is under 1 MB
MAX_DEPTH = 32
_SAFE_DTYPES = {"float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"}


@dataclass(frozen=True)
class Opaque:
    """A value the worker could not send as data: only its type name and a short repr arrive."""

    type_name: str
    text: str


@dataclass(frozen=True)
class NumpyValue:
    """A numpy array sent back where a tensor was expected (decoded as ``array``)."""

    array: object  # numpy.ndarray


class WireError(ValueError):
    """A message that breaks the format: treated as a misbehaving worker, never trusted."""


# ----- encoding (worker side) -------------------------------------------------------------

def encode(value) -> bytes:
    return json.dumps(_to_json(value, 0), separators=(",", ":")).encode("utf-8")


def _to_json(value, depth):
    if depth > MAX_DEPTH:
        return {"__opaque__": ["nested too deeply", "..."]}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return {"__tensor__": _tensor_fields(value, torch)}
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        return {"__ndarray__": _array_fields(value)}
    if numpy is not None and isinstance(value, numpy.generic):
        return _to_json(value.item(), depth + 1)
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(item, depth + 1) for item in value]}
    if isinstance(value, list):
        return [_to_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {"__dict__": [[_to_json(k, depth + 1), _to_json(v, depth + 1)] for k, v in value.items()]}
    return {"__opaque__": [_type_name(value), _short_repr(value)]}


def _tensor_fields(tensor, torch) -> dict:
    """A tensor (subclasses read as plain tensors, per the contract) as dtype, shape and bytes."""
    with torch._C.DisableTorchFunctionSubclass():
        plain = torch.Tensor.as_subclass(tensor, torch.Tensor).detach().cpu()
        fields = {"requires_grad": bool(tensor.requires_grad), "type": _type_name(tensor)}
        if plain.is_complex() or str(plain.dtype).replace("torch.", "") not in _SAFE_DTYPES:
            fields["converted_from"] = str(plain.dtype).replace("torch.", "")
            plain = plain.to(torch.float32) if not plain.is_complex() else plain.real.to(torch.float32)
        fields.update(_array_fields(plain.contiguous().numpy()))
    return fields


def _array_fields(array) -> dict:
    dtype = str(array.dtype)
    if dtype not in _SAFE_DTYPES:
        array, dtype = array.astype("float64"), "float64"
    return {"dtype": dtype, "shape": list(array.shape),
            "data": base64.b64encode(array.tobytes(order="C")).decode("ascii")}


def _type_name(value) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__


def _short_repr(value) -> str:
    try:
        text = repr(value)
    except BaseException:  # a hostile __repr__ must not break the reply
        text = "<repr failed>"
    return text if len(text) <= 200 else text[:200] + "…"


# ----- decoding (grader side) -------------------------------------------------------------

def decode(data: bytes):
    """Turn a frame back into Python data; tensors become plain float/int torch tensors."""
    try:
        return _from_json(json.loads(data.decode("utf-8")), 0)
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as error:  # bad base64, shapes, pairs
        raise WireError(f"unreadable message: {error}") from error


def _from_json(node, depth):
    if depth > MAX_DEPTH + 2:
        raise WireError("message nested too deeply")
    if isinstance(node, list):
        return [_from_json(item, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) != 1:
        raise WireError("malformed tagged value")
    (tag, body), = node.items()
    if tag == "__tensor__":
        import torch

        tensor = torch.from_numpy(_array_from(body).copy())
        return _in_sent_dtype(tensor, body.get("converted_from"), torch)
    if tag == "__ndarray__":
        return NumpyValue(_array_from(body).copy())
    if tag == "__tuple__":
        return tuple(_from_json(item, depth + 1) for item in _expect(body, list))
    if tag == "__dict__":
        pairs = _expect(body, list)
        result = {}
        for pair in pairs:
            key, value = _expect(pair, list)
            key = _from_json(key, depth + 1)
            if not isinstance(key, (str, int, float, bool, type(None), tuple)):
                key = repr(key)
            result[key] = _from_json(value, depth + 1)
        return result
    if tag == "__opaque__":
        type_name, text = _expect(body, list)
        return Opaque(str(type_name), str(text))
    raise WireError(f"unknown tag {tag!r}")


def _in_sent_dtype(tensor, converted_from, torch):
    """The tensor back in the dtype the student returned (complex64, bfloat16…), which the wire
    carried as float32, so that the contract's dtype rule sees it; the imaginary part is not sent."""
    if converted_from is None:
        return tensor
    name = str(converted_from)[:40]
    dtype = getattr(torch, name, None)
    if isinstance(dtype, torch.dtype):
        try:
            return tensor.to(dtype)
        except (RuntimeError, NotImplementedError, TypeError):
            pass
    return Opaque(f"torch.Tensor of dtype {name}", f"a tensor of shape {tuple(tensor.shape)} and dtype {name}")


def _array_from(body):
    import numpy

    body = _expect(body, dict)
    dtype = body.get("dtype")
    if dtype not in _SAFE_DTYPES:
        raise WireError(f"dtype {dtype!r} is not allowed")
    shape = tuple(int(n) for n in _expect(body.get("shape"), list))
    raw = base64.b64decode(_expect(body.get("data"), str), validate=True)
    array = numpy.frombuffer(raw, dtype=dtype)
    if array.size != int(numpy.prod(shape, dtype=numpy.int64)):
        raise WireError("tensor bytes do not match its shape")
    return array.reshape(shape)


def _expect(value, kind):
    if not isinstance(value, kind):
        raise WireError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


# ----- framing -----------------------------------------------------------------------------

def write_frame(fd: int, payload: bytes, request_id: int) -> None:
    data = len(payload).to_bytes(4, "big") + request_id.to_bytes(4, "big") + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_header(fd: int) -> tuple[int, int] | None:
    """(payload size, request id) of the next frame, or None at a clean end of stream."""
    header = _read_exact(fd, 8)
    if header is None:
        return None
    if len(header) < 8:
        raise WireError("stream ended inside a frame header")
    size, request_id = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")
    if size > MAX_FRAME_BYTES:
        raise WireError(f"frame of {size} bytes is larger than allowed")
    return size, request_id


def read_payload(fd: int, size: int) -> bytes:
    payload = _read_exact(fd, size)
    if payload is None or len(payload) < size:
        raise WireError("stream ended inside a frame")
    return payload


def read_frame(fd: int) -> tuple[int, bytes] | None:
    """The next frame as (request id, payload), or None at end of stream."""
    header = read_header(fd)
    if header is None:
        return None
    size, request_id = header
    return request_id, read_payload(fd, size)


def _read_exact(fd: int, size: int) -> bytes | None:
    """``size`` bytes; fewer if the stream ends part-way; None if it ends before the first."""
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return b"".join(chunks) if chunks else None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
