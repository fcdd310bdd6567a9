"""Worker processes end with the command that started them, even when that command is killed (kill -9)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int | None) -> None:
    """Ask the kernel to kill this process when its parent dies; a worker left behind would hold the plan
    store open and keep the next run waiting. `parent` is the pid the worker was forked from: if it is
    already gone (the parent died while the worker started), leave at once. A forkserver's worker is the
    server's child, not the command's, so it passes None: the server itself ends with the command, and
    the kernel then ends the worker. Elsewhere than Linux the workers are daemonic and end with a parent
    that exits normally."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            return
    if parent is not None and os.getppid() != parent:
        os._exit(0)
