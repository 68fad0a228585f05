"""SIGINT and SIGTERM as a request to checkpoint and stop, not a kill mid-step.

The loop polls the request between iterations, checkpoints and returns; the entry point then
exits 128 + the signal number, so a sweep stops too. A second SIGINT interrupts at once.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from mbpo.logger import RunLogger

STOPPED_BY: list[int] = []
"""The signal that stopped a run in this process, if one did: the entry point then starts
no further job, as a launcher's worker (joblib's) would otherwise go on to the next job of
a sweep that was told to stop. `train()` from Python ignores it (a notebook's Ctrl-C must
not refuse its next run)."""


def stop_requested_before() -> int:
    """The signal that stopped an earlier run in this process, or 0."""
    return STOPPED_BY[0] if STOPPED_BY else 0


@contextlib.contextmanager
def stop_on_signals(log: RunLogger) -> Iterator[list[int]]:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop; a second SIGINT interrupts."""
    requested = [0]  # the signal that asked, 0 while none has

    def handler(signum: int, _frame: object) -> None:
        requested[0] = signum
        STOPPED_BY[:] = [signum]
        log.line(f"received {signal.Signals(signum).name}: checkpointing and stopping")
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_DFL)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[sig] = signal.signal(sig, handler)
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
