"""The benchmark's report: which section a row belongs to (a partial run keeps the
others' rows), one line per row, and each target stated as MET or MISS."""

from __future__ import annotations


def section_of(name: str) -> str:
    """Which section a row came from, by its name."""
    if name.startswith("SAC"):
        return "sac"
    if name.startswith("rollout"):
        return "rollouts"
    if name.startswith("model"):
        return "model"
    return "loop"


def fmt(row: dict) -> str:
    skip = {"name", "precision"}
    cells = []
    for k, v in row.items():
        if k in skip:
            continue
        cells.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}")
    return f"{row['name']:<62s} {row.get('precision', ''):>8s}  " + "  ".join(cells)


TARGETS = [  # (row name prefix, precision, key, minimum, what)
    ("rollout H=10", "fp32", "frac_of_mm", 0.70, "rollouts >= 70% of mm"),
    ("rollout H=10", "bf16", "frac_of_mm", 0.70, "rollouts >= 70% of mm"),
    ("model training", "fp32", "frac_of_mm", 0.60, "model training >= 60% of mm"),
    ("model training", "bf16", "frac_of_mm", 0.60, "model training >= 60% of mm"),
    ("SAC update 2x512", "fp32", "frac_of_mm", 0.75, "SAC 2x512 >= 75% of mm"),
    ("SAC update 2x512", "bf16", "frac_of_mm", 0.75, "SAC 2x512 >= 75% of mm"),
    ("SAC update 2x256", "fp32", "frac_of_mm", 0.60, "SAC 2x256 >= 60% of mm"),
    ("SAC update 2x256", "bf16", "frac_of_mm", 0.60, "SAC 2x256 >= 60% of mm"),
    ("rollout H=10 straightforward", "fp32", "speedup_of_batched", 20.0, "batched >= 20x naive"),
]


PEER_HALFCHEETAH_STEPS_PER_S = 3.65
"""The peer library (mbrl-lib) at its own HalfCheetah settings on this kind of machine, as
measured for issue #9; it is not installed or re-measured here."""


def check_targets(rows: list[dict]) -> list[str]:
    lines = []
    for prefix, prec, key, minimum, what in TARGETS:
        row = next((r for r in rows if r["name"].startswith(prefix) and r.get("precision") == prec
                    and key in r), None)
        if row:
            ok = row[key] >= minimum
            floor = (f" (its matmuls alone: {row['floor_frac_of_mm']:.3g}"
                     if key == "frac_of_mm" and "floor_frac_of_mm" in row else "")
            if floor and "bound_frac_of_mm" in row:
                floor += (f"; with eager PyTorch's {row['eager_ms']:.2f} ms per update: "
                          f"{row['bound_frac_of_mm']:.3g}")
            floor += ")" if floor else ""
            lines.append(f"{'MET ' if ok else 'MISS'} {what} [{prec}]: {row[key]:.3g}{floor}")

    def ratio(prefix, key):
        fp, bf = (next((r for r in rows if r["name"].startswith(prefix)
                        and r["precision"] == p and key in r), None) for p in ("fp32", "bf16"))
        return bf[key] / fp[key] if fp and bf else None

    cheetahs = [r for r in rows if r["name"].startswith("HalfCheetah")]
    for cheetah in (r for r in cheetahs if r.get("precision") != "fp32"):
        r = cheetah["env_steps_per_s"] / PEER_HALFCHEETAH_STEPS_PER_S
        lines.append(f"{'MET ' if r >= 1.8 else 'MISS'} full loop, HalfCheetah peer settings, "
                     f"{cheetah['precision']} >= 1.8x the peer's {PEER_HALFCHEETAH_STEPS_PER_S} "
                     f"env steps/s: {r:.2f}x")
    if cheetahs and all(r.get("precision") == "fp32" for r in cheetahs):
        # (where bf16 is not native the benchmark leaves it out; say so, not nothing)
        r = cheetahs[0]["env_steps_per_s"] / PEER_HALFCHEETAH_STEPS_PER_S
        lines.append(f"---- full loop, HalfCheetah peer settings: the 1.8x target is bf16's, "
                     f"which was not measured; fp32 ran {r:.2f}x the peer's "
                     f"{PEER_HALFCHEETAH_STEPS_PER_S} env steps/s")
    for prefix, key, minimum in (("SAC update 2x512", "updates_per_s", 1.5),
                                 ("SAC update 2x256", "updates_per_s", 1.5),
                                 ("rollout H=10", "transitions_per_s", 2.0)):
        r = ratio(prefix, key)
        if r is None:  # that section was not measured
            continue
        lines.append(f"{'MET ' if r >= minimum else 'MISS'} bf16 {prefix} >= {minimum}x fp32: {r:.2f}x")
    judged = [r for r in rows if any(r["name"].startswith(t[0]) for t in TARGETS)]
    if judged and all(r.get("precision") == "fp32" for r in judged):
        lines.append("---- the bf16 targets: bf16 was not measured (the default where it is "
                     "not native; --precisions fp32,bf16 measures it)")
    return lines
