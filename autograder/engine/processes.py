"""Ending a child process the kit started in its own session, with everything it started."""
from __future__ import annotations

import os
import signal
import subprocess


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process group that ``process`` leads (it was started with ``start_new_session=True``);
    a group already gone, or no longer ours to signal, is not an error. The caller reaps ``process``."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
