"""Reads a run's TensorBoard scalars back (TensorBoard's own event reader)."""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read_scalars(run_dir: Path | str) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(env step, value), ...]} for every scalar in the run directory."""
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
