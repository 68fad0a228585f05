"""The seed-group comparison that pre-registered learning rules name."""

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from compare_suites import compare, finished_group  # noqa: E402
from suites import SUITES  # noqa: E402


def test_identical_groups_are_not_told_apart():
    auc = np.array([80.0, 120.0, 300.0, 95.0, 410.0])
    solved = auc > 200
    result = compare(auc, auc.copy(), solved, solved)
    assert result.auc_diff == 0.0
    assert result.auc_permutation_p == 1.0 and result.auc_mannwhitney_p == 1.0
    assert result.solved_a == result.solved_b == 2 and result.solved_fisher_p == 1.0


def test_a_clear_gap_is_significant_and_signed_b_minus_a():
    rng = np.random.default_rng(0)
    a = rng.normal(100.0, 10.0, 20)
    b = rng.normal(300.0, 10.0, 20)
    result = compare(a, b, np.zeros(20, bool), np.ones(20, bool))
    assert 190 < result.auc_diff < 210
    assert result.auc_permutation_p < 1e-3 and result.auc_mannwhitney_p < 1e-3
    assert (result.solved_a, result.solved_b) == (0, 20) and result.solved_fisher_p < 1e-3
    assert compare(b, a, np.ones(20, bool), np.zeros(20, bool)).auc_diff < -190


def test_the_committed_shapes_check_gives_its_recorded_figures():
    """docs/results/shapes-check records p = 0.27 / 0.80 / 0.20 for these two arms."""
    arms = [finished_group(ROOT / "docs/results/shapes-check" / name, SUITES["quick"],
                           "adaptive") for name in ("control-b8e5fc4", "no-fill-up")]
    finals, aucs = ([np.array([run[i] for run in arm.values()]) for arm in arms]
                    for i in (0, 1))
    result = compare(*aucs, *(f >= 1000 for f in finals))
    assert (result.solved_a, result.solved_b) == (11, 6)
    assert round(result.auc_diff, 1) == -39.0
    assert abs(result.auc_permutation_p - 0.273) < 0.01
    assert round(result.auc_mannwhitney_p, 3) == 0.797
    assert round(result.solved_fisher_p, 3) == 0.200


def test_out_records_the_comparison_under_its_command_and_refuses_another_suffix(tmp_path):
    arms = [f"docs/results/shapes-check/{name}" for name in ("control-b8e5fc4", "no-fill-up")]
    record = tmp_path / "comparison.md"
    args = [sys.executable, "scripts/compare_suites.py", *arms, "--suite", "quick"]
    done = subprocess.run([*args, "--out", str(record)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = record.read_text()
    assert f"python scripts/compare_suites.py {' '.join(arms)} --suite quick --out {record}" \
        in text
    assert "at git commit " in text and "| 19 | " in text
    assert "permutation p = 0.273" in text and text.count("permutation p") == 1
    assert text.split("\n## ", 1)[1] in done.stdout  # what was printed, as printed
    bad = subprocess.run([*args, "--out", str(tmp_path / "c.txt")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--out must name a .md file, got" in bad.stderr
    assert not (tmp_path / "c.txt").exists()
