"""Peak resident memory, measured from a chosen moment: for scripts/benchmark.py and tests.

The process's peak (getrusage's ru_maxrss, /proc's VmHWM) only grows, so a measurement
after an earlier, larger one would see the old peak. Linux resets it on request.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from pathlib import Path


def reset_peak_rss(release_freed: bool = False) -> bool:
    """Start a new count of the process's peak resident memory, so that a measurement sees
    its own peak, not an earlier one's. `release_freed` first hands back to the OS what was
    freed before (gc, then glibc's malloc_trim: mbpo.allocator keeps freed memory). False
    where it cannot reset."""
    if release_freed:
        gc.collect()
        try:
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # another libc
            pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
