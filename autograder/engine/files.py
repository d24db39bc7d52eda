"""Files as the kit writes and identifies them: written whole or not at all, and their SHA-256."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Union

Content = Union[bytes, str, Callable[[BinaryIO], object]]


def write_atomic(path: Path, data: Content, mode: int = 0o644) -> Path:
    """Write ``path`` so that a reader (or a crash) sees the old file or the new one, never half of one.

    ``data`` is bytes, text (UTF-8; a lone surrogate that got this far becomes "?", not a crash) or a
    function that writes into the binary stream it is given (``np.save``). The file is synced before
    it replaces the old one; ``mode``: mkstemp makes files private, results and caches are for others
    (the course staff, the sandbox's unprivileged user) to read. Returns ``path``.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            if callable(data):
                data(stream)
            else:
                stream.write(data.encode("utf-8", "replace") if isinstance(data, str) else data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (OSError when it cannot be read)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
