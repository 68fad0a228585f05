"""What a suite report says about how each run computed: precision=auto follows the CPU."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from suite_runs import precision_of  # noqa: E402


def sitting(sac: str, model_train: str, rollout: str) -> str:
    return (f"run dir /x | device cpu | torch threads 1 | precision sac={sac}, "
            f"model_train={model_train}, rollout={rollout} | malloc tuned\n"
            "step    1000 | eval     35.6 | H  0\n")


def test_a_run_resumed_on_a_cpu_without_bf16_says_both_regimes(tmp_path):
    (tmp_path / "train.log").write_text(sitting("bf16", "bf16", "bf16") * 2
                                        + sitting("fp32", "fp32", "fp32"))
    assert precision_of(tmp_path) == "bf16 then fp32"


def test_a_mixed_sitting_names_each_component(tmp_path):
    (tmp_path / "train.log").write_text(sitting("bf16", "fp32", "fp32"))
    assert precision_of(tmp_path) == "sac=bf16, model_train=fp32, rollout=fp32"


def test_a_run_without_a_log_says_unknown(tmp_path):
    assert precision_of(tmp_path) == "-"
