"""TensorBoard scalars (x axis: environment steps), HParams, a progress bar and a console line.

The progress bar (tqdm) shows env steps, recent return, horizon and steps/s; it switches
itself off when the output is not a terminal (log files, sweeps), where the one console
line per evaluation remains. Every console line also goes to the run's train.log.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm


class RunLogger:
    def __init__(self, run_dir: Path, console: bool = True, purge_step: int | None = None,
                 total_steps: int | None = None, start_step: int = 0):
        # purge_step: on resume, TensorBoard drops events at steps >= it from the old files.
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)
        self.console = console
        self.log_file = open(run_dir / "train.log", "a", buffering=1)  # noqa: SIM115
        self.bar = None
        if console and total_steps is not None and sys.stderr.isatty():
            self.bar = tqdm(total=total_steps, initial=start_step, unit="step",
                            dynamic_ncols=True, mininterval=1.0)

    def scalars(self, prefix: str, values: Mapping[str, float | Tensor], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"{prefix}/{name}", float(value), step)

    def histogram(self, tag: str, values: Tensor, step: int) -> None:
        self.writer.add_histogram(tag, values.detach().float().cpu(), step)

    def text(self, tag: str, text: str) -> None:
        self.writer.add_text(tag, text, 0)

    def progress(self, step: int, status: Mapping[str, str | float]) -> None:
        """Advance the bar to `step` and show `status` beside it."""
        if self.bar is None:
            return
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix(status, refresh=False)

    def line(self, message: str, console: bool = True) -> None:
        """`message` to train.log and, unless `console=False`, to the console."""
        self.log_file.write(message + "\n")
        if not (self.console and console):
            return
        if self.bar is not None:
            self.bar.write(message)
        else:
            print(message, flush=True)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.writer.close()
        self.log_file.close()
