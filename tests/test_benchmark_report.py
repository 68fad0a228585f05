"""The benchmark's verdicts and its refusals: targets judged on hand-made rows, and bad flags
refused in one line with exit status 2 before anything is measured or written."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bench_timing  # noqa: E402
from bench_targets import PEER_HALFCHEETAH_STEPS_PER_S, check_targets, fmt  # noqa: E402
from bench_timing import default_precisions  # noqa: E402
from script_args import names_from  # noqa: E402


def sac_row(precision: str, frac: float, updates_per_s: float) -> dict:
    return {"name": "SAC update 2x512", "precision": precision, "frac_of_mm": frac,
            "floor_frac_of_mm": 0.9, "bound_frac_of_mm": 0.8, "eager_ms": 1.25,
            "updates_per_s": updates_per_s}


def test_each_target_is_met_or_missed_by_its_own_row():
    rows = [sac_row("fp32", 0.80, 100.0), sac_row("bf16", 0.50, 170.0)]
    assert check_targets(rows[:1])[-1].startswith("---- the bf16 targets: bf16 was not measured")
    lines = check_targets(rows)
    assert ("MET  SAC 2x512 >= 75% of mm [fp32]: 0.8 (its matmuls alone: 0.9; with eager "
            "PyTorch's 1.25 ms per update: 0.8)") in lines
    assert any(line.startswith("MISS SAC 2x512 >= 75% of mm [bf16]: 0.5") for line in lines)
    assert "MET  bf16 SAC update 2x512 >= 1.5x fp32: 1.70x" in lines
    # Sections that were not measured get no line, neither MET nor MISS.
    assert len(lines) == 3


def test_the_full_loop_is_judged_against_the_peer_in_every_precision_but_fp32():
    rate = 1.8 * PEER_HALFCHEETAH_STEPS_PER_S
    for k, verdict in ((1.01, "MET "), (0.99, "MISS")):
        rows = [{"name": "HalfCheetah-v5, peer settings", "precision": p,
                 "env_steps_per_s": rate * f} for p, f in (("fp32", 0.5), ("bf16", k))]
        lines = check_targets(rows)
        assert len(lines) == 1 and lines[0].startswith(
            f"{verdict} full loop, HalfCheetah peer settings, bf16 >= 1.8x"), lines


def test_a_row_prints_on_one_line_with_floats_to_three_digits():
    line = fmt({"name": "rollout H=10", "precision": "bf16", "gflops": 123.456, "epochs": 7})
    assert "\n" not in line and line.startswith("rollout H=10")
    assert line.endswith("bf16  gflops=123  epochs=7")


def test_a_list_flag_keeps_each_known_name_once_in_order():
    parse = names_from(("sac", "rollouts", "model", "loop"))
    assert parse("model, sac,model") == ["model", "sac"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown 'gpu'; choose from sac"):
        parse("sac,gpu")


@pytest.mark.cli
@pytest.mark.parametrize("flags, named", [
    (["--sections", "sac,gpu"], "argument --sections: unknown 'gpu'; choose from sac, rollouts, "
                                "model, loop"),
    (["--loop-precisions", "fp16"], "argument --loop-precisions: unknown 'fp16'; choose from "
                                    "fp32, bf16"),
    (["--sections", ""], "argument --sections: unknown ''"),
    (["--precisions", "fp16"], "argument --precisions: unknown 'fp16'; choose from fp32, "
                               "bf16"),
    (["--threads", "-1"], "argument --threads: '-1' is not a whole number >= 0"),
    (["--device", "gpu"], "argument --device: 'gpu' is not cpu, cuda or cuda:N"),
    (["--device", "cuda:64"], "argument --device: 'cuda:64', but torch sees"),
])
def test_a_bad_flag_is_refused_before_any_work(tmp_path, flags, named):
    out_dir = tmp_path / "bench"
    done = subprocess.run([sys.executable, "scripts/benchmark.py", str(out_dir), *flags],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert named in done.stderr and not done.stdout
    assert not out_dir.exists()  # refused before the output folder was made


def test_bf16_is_measured_by_default_only_where_it_is_native(monkeypatch):
    """Emulated bf16 (a CPU without AVX512-BF16) is slower than fp32 and never chosen by
    precision=auto; its 2048^3 mm peaks alone kept --quick busy for over ten minutes."""
    cpu = torch.device("cpu")
    monkeypatch.setattr(bench_timing, "native_bf16", lambda device: False)
    assert default_precisions(cpu) == ["fp32"]
    monkeypatch.setattr(bench_timing, "native_bf16", lambda device: True)
    assert default_precisions(cpu) == ["fp32", "bf16"]


def test_the_peer_target_says_so_when_only_fp32_was_measured():
    """Where bf16 is not native the loop runs fp32 only: the bf16 target gets a line that
    says it was not judged, and the fp32 ratio, instead of vanishing."""
    rate = 1.6 * PEER_HALFCHEETAH_STEPS_PER_S
    lines = check_targets([{"name": "HalfCheetah-v5, peer settings", "precision": "fp32",
                            "env_steps_per_s": rate}])
    assert lines == ["---- full loop, HalfCheetah peer settings: the 1.8x target is bf16's, "
                     f"which was not measured; fp32 ran 1.60x the peer's "
                     f"{PEER_HALFCHEETAH_STEPS_PER_S} env steps/s"]
