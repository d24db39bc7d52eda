"""A progress display for long batches: a live bar on a terminal, plain lines elsewhere (logs, CI)."""
from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """``start``, then ``finished`` once per item, then ``close``. Writes to ``stream`` (stderr)."""

    def __init__(self, total: int = 0, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.total, self.done, self.failures, self.width = total, 0, 0, width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()

    def start(self, total: int, skipped: int = 0) -> None:
        self.total, self.started = total, time.monotonic()
        note = f" ({skipped} unchanged, kept)" if skipped else ""
        self._line(f"grading {total} submission(s){note}", final=True)

    def eta(self) -> str:
        if not self.done:
            return "?"
        return _duration((time.monotonic() - self.started) / self.done * (self.total - self.done))

    def finished(self, name: str, status: str, seconds: float, failed: bool = False) -> None:
        self.done += 1
        self.failures += bool(failed)
        counts = f"{self.done}/{self.total}, failures {self.failures}, ETA {self.eta()}"
        if self.tty:
            filled = int(self.width * self.done / max(1, self.total))
            self._line(f"[{'#' * filled}{'.' * (self.width - filled)}] {counts}  last: {name} {status}")
        else:
            self._line(f"[{self.done}/{self.total}] {name}: {status} in {seconds:.1f} s "
                       f"(failures {self.failures}, ETA {self.eta()})", final=True)

    def close(self, interrupted: bool = False) -> None:
        elapsed = _duration(time.monotonic() - self.started)
        word = "interrupted" if interrupted else "done"
        self._line(f"{word}: {self.done}/{self.total} graded in {elapsed}, failures {self.failures}", final=True)

    def _line(self, text: str, final: bool = False) -> None:
        try:
            if self.tty:
                self.stream.write("\r\033[K" + text + ("\n" if final else ""))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except OSError:  # the terminal went away (SIGHUP, a closed SSH session): grading goes on
            self.tty = False
