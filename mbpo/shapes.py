"""Few distinct matmul shapes: row counts padded up to a multiple.

On a CPU, oneDNN runs every bf16 matmul (and the fp32 ones with `fp32_matmul=auto|onednn`), and it
builds and caches a primitive, with buffers of its own, for each shape it meets. Row counts
that change all the time, rollout chunks shrinking as samples terminate and holdout sets
growing with the data, made a run's resident memory climb by about 20 MiB every 500 steps
of a small Hopper run with no end in sight; with their rows padded it grows far less
(docs/performance.md). The padding rows are zeros, seen only by the networks, and sliced
off. Ten seeded runs logged the same numbers to the last bit with and without it
(docs/results/shapes-check), so it is on by default (`row_padding`); fp32 MKL sums may
still round differently, by about 1e-10, with more rows. An epoch's last minibatch still
has any row count: filling it up would change what the model trains on.
"""

from __future__ import annotations

import torch
from torch import Tensor


def padded_rows(rows: int, multiple: int) -> int:
    return -(-rows // multiple) * multiple


def pad_rows(x: Tensor, multiple: int) -> Tensor:
    """x [rows, ...] with zero rows appended up to a multiple of `multiple`."""
    extra = padded_rows(x.shape[0], multiple) - x.shape[0]
    return x if extra == 0 else torch.cat([x, x.new_zeros(extra, *x.shape[1:])])
