"""fp32 CPU matmuls through oneDNN instead of MKL, kept only where they stay fp32.

PyTorch's CPU build sends fp32 mm/bmm to MKL; on an AMD Zen 5 CPU MKL ran this project's
shapes at less than half of oneDNN's speed (docs/performance.md). The one switch that
routes them to oneDNN, `torch.backends.mkldnn.matmul.fp32_precision = "bf16"`, *permits*
bf16 arithmetic, which a CPU with AMX would take; so `select` keeps it only if a probe
on this machine gives fp32-sized errors, and falls back to MKL otherwise. While it is set,
`torch.get_float32_matmul_precision()` raises (torch refuses to mix its two precision
APIs), which torch.compile's max-autotune mode calls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BACKENDS = ("auto", "mkl", "onednn")
PROBE_SHAPES = ((7, 256, 200, 200), (7, 2048, 200, 200), (2, 256, 256, 256), (1, 64, 14, 512),
                (1, 1, 11, 256))
"""[members, rows, in, out]: a minibatch and a rollout chunk of an ensemble layer, a
twin-critic layer, a first layer, and acting on one observation."""
CHECKED_ROWS = 256
TOLERANCE = 1e-4
"""Largest error allowed, relative to the largest |entry| of the exact product: fp32
arithmetic gives about 1e-6 on these shapes, bf16 products about 1e-2."""


def _setting():
    return getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)


def available() -> bool:
    """Whether the switch exists (torch >= 2.9) and takes effect: oneDNN enabled and a CPU
    that torch lets run oneDNN's bf16 path (elsewhere the setting would change nothing)."""
    try:
        bf16_path = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        bf16_path = False
    return (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
            and hasattr(_setting(), "fp32_precision") and bf16_path)


def probe_error() -> float:
    """Largest relative error against fp64, under the current setting, of the project's
    matmul calls: bmm, baddbmm and linear forward, and a weight gradient's transposed bmm.
    Rows of a product are independent, so the forward checks compare the first
    CHECKED_ROWS rows only: the fp64 copies of 2048-row inputs raised a run's peak memory by
    about 0.2 GiB."""
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for members, rows, n_in, n_out in PROBE_SHAPES:
        x = torch.randn(members, rows, n_in, generator=generator)
        w = torch.randn(members, n_in, n_out, generator=generator) / n_in ** 0.5
        b = torch.randn(members, 1, n_out, generator=generator)
        g = torch.randn(members, rows, n_out, generator=generator)
        top = slice(0, CHECKED_ROWS)
        exact = torch.bmm(x[:, top].double(), w.double())
        worst = max(worst,
                    relative_error(torch.bmm(x, w)[:, top], exact),
                    relative_error(torch.baddbmm(b, x, w)[:, top], exact + b.double()),
                    relative_error(F.linear(x[0], w[0].t().contiguous(), b[0, 0])[top],
                                   exact[0] + b[0, 0].double()),
                    relative_error(torch.bmm(x.transpose(1, 2), g),
                                   torch.bmm(x.double().transpose(1, 2), g.double())))
    return worst


def relative_error(got: torch.Tensor, exact: torch.Tensor) -> float:
    """Largest |got - exact| relative to the largest |exact|."""
    return float((got.double() - exact).abs().max() / exact.abs().max())


def select(backend: str) -> tuple[str, str]:
    """Set the process-wide fp32 CPU matmul backend; returns (backend in use, why). `auto`
    and `onednn` both take oneDNN where the probe passes and MKL elsewhere;
    `onednn` is the explicit request, so its fallback reads as a refusal. A run sets the
    backend either way, so runs sharing a process (Hydra's basic launcher) do not inherit."""
    if backend not in BACKENDS:
        raise ValueError(f"fp32_matmul must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if not available():
        return "mkl", "" if backend == "mkl" else "oneDNN's switch has no effect in this build or CPU"
    _setting().fp32_precision = "none"  # torch's default: MKL for fp32
    if backend == "mkl":
        return "mkl", ""
    _setting().fp32_precision = "bf16"
    error = probe_error()
    if error > TOLERANCE:
        _setting().fp32_precision = "none"
        return "mkl", f"oneDNN would round to bf16 here (probe error {error:.1e})"
    return "onednn", f"probe error {error:.1e}"
