"""fp32 CPU matmuls through oneDNN instead of MKL, kept only where they stay fp32.

PyTorch's CPU build sends fp32 mm/bmm to MKL; on an AMD Zen 5 CPU MKL ran this project's
shapes at less than half of oneDNN's speed (README, Performance). The one switch that
routes them to oneDNN, `torch.backends.mkldnn.matmul.fp32_precision = "bf16"`, *permits*
bf16 arithmetic, which a CPU with AMX would take; so `use_onednn` keeps it only if a probe
on this machine gives fp32-sized errors, and falls back to MKL otherwise.
"""

from __future__ import annotations

import torch

BACKENDS = ("mkl", "onednn")
PROBE_SHAPES = ((7, 256, 200, 200), (2, 256, 256, 256), (1, 64, 14, 512))
"""[members, rows, in, out]: an ensemble layer, a twin-critic layer, a first layer."""
TOLERANCE = 1e-4
"""Largest error allowed, relative to the largest |entry| of the exact product: fp32
arithmetic gives about 1e-6 on these shapes, bf16 products about 1e-2."""


def _setting():
    return getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)


def available() -> bool:
    """Whether this torch has oneDNN and the fp32-precision switch (torch >= 2.9)."""
    return torch.backends.mkldnn.is_available() and hasattr(_setting(), "fp32_precision")


def probe_error() -> float:
    """Largest relative error of fp32 bmm and linear (the project's matmul calls) against
    fp64, under the current setting."""
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for members, rows, n_in, n_out in PROBE_SHAPES:
        x = torch.randn(members, rows, n_in, generator=generator)
        w = torch.randn(members, n_in, n_out, generator=generator) / n_in ** 0.5
        exact = torch.bmm(x.double(), w.double())
        pairs = ((torch.bmm(x, w), exact),
                 (torch.nn.functional.linear(x[0], w[0].t().contiguous()), exact[0]))
        for got, want in pairs:
            worst = max(worst, float((got.double() - want).abs().max() / want.abs().max()))
    return worst


def select(backend: str) -> tuple[str, str]:
    """Set the process-wide fp32 CPU matmul backend; returns (backend in use, why). A run
    sets it either way, so runs sharing a process (Hydra's basic launcher) do not inherit."""
    if backend not in BACKENDS:
        raise ValueError(f"fp32_matmul must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if not available():
        return "mkl", "" if backend == "mkl" else "oneDNN switch not in this torch build"
    _setting().fp32_precision = "ieee"
    if backend == "mkl":
        return "mkl", ""
    _setting().fp32_precision = "bf16"
    error = probe_error()
    if error > TOLERANCE:
        _setting().fp32_precision = "ieee"
        return "mkl", f"oneDNN would round to bf16 here (probe error {error:.1e})"
    return "onednn", f"probe error {error:.1e}"
