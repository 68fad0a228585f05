"""TensorBoard scalars (x axis: environment steps) and a short console line per epoch."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import Tensor
from torch.utils.tensorboard import SummaryWriter


class RunLogger:
    def __init__(self, run_dir: Path, console: bool = True, purge_step: int | None = None):
        # purge_step: on resume, TensorBoard drops events at steps >= it from the old files.
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)
        self.console = console

    def scalars(self, prefix: str, values: Mapping[str, float | Tensor], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"{prefix}/{name}", float(value), step)

    def text(self, tag: str, text: str) -> None:
        self.writer.add_text(tag, text, 0)

    def line(self, message: str) -> None:
        if self.console:
            print(message, flush=True)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
