"""Reads a run's TensorBoard scalars back (TensorBoard's own event reader)."""

from __future__ import annotations

import logging
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tb_logging


class _ResumePurges(logging.Filter):
    """A resumed run's event file starts at its checkpoint's step + 1 (`purge_step`), and the
    reader drops what the interrupted sitting logged after that checkpoint, as intended; it
    warns about each such purge as if TensorFlow had restarted. Other warnings pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Detected out of order event.step")


def read_scalars(run_dir: Path | str) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(env step, value), ...]} for every scalar in the run directory."""
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    quiet = _ResumePurges()
    tb_logging.get_logger().addFilter(quiet)
    try:
        acc.Reload()
    finally:
        tb_logging.get_logger().removeFilter(quiet)
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
