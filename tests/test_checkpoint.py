"""Checkpoints: atomic, exact resume after SIGKILL, clean stop on SIGTERM, refusals."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import open_dict

from mbpo.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    config_fingerprint,
    load_checked,
    restore_rng,
    rng_state,
    save_atomic,
)
from mbpo.checkpoint_file import load_checkpoint_file
from mbpo.events import read_scalars as scalars
from mbpo.train import ConfigError, train

ROOT = Path(__file__).resolve().parents[1]
TINY = ["env=hopper", "experiment=debug", "total_steps=600", "checkpoint_every=100", "threads=1",
        "eval_episodes=2"]


def run_cli(run_dir, *overrides, wait=True):
    cmd = [sys.executable, "-m", "mbpo.train", *TINY, *overrides, f"hydra.run.dir={run_dir}"]
    # cuBLAS is deterministic only with a fixed workspace; nothing else here uses CUDA atomics.
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    if wait:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    return proc


def checkpoint_step(run_dir):
    path = Path(run_dir) / CHECKPOINT_NAME
    if not path.exists():
        return -1
    try:
        return load_checkpoint_file(path)[1]["loop"]["t"]
    except CheckpointError:  # being replaced right now
        return -1


def wait_for_checkpoint(run_dir, min_step, proc, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if checkpoint_step(run_dir) >= min_step:
            return
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    raise TimeoutError(f"no checkpoint at step >= {min_step}")


@pytest.mark.parametrize("device", [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="needs a CUDA device")),
])
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, device):
    run_cli(tmp_path / "whole", f"device={device}")
    proc = run_cli(tmp_path / "killed", f"device={device}", wait=False)
    wait_for_checkpoint(tmp_path / "killed", 300, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # killed mid-run, not finished
    assert 300 <= checkpoint_step(tmp_path / "killed") < 600
    run_cli(tmp_path / "killed", f"device={device}", "resume=true")
    whole, resumed = scalars(tmp_path / "whole"), scalars(tmp_path / "killed")
    for tag in ("eval/return", "sac/critic_loss", "rollout/horizon", "train/episode_return"):
        steps = [s for s, _ in resumed[tag]]
        assert len(steps) == len(set(steps)), f"{tag} has duplicated steps after resume"
        assert resumed[tag] == whole[tag], tag


def test_sigterm_writes_a_final_checkpoint(tmp_path):
    proc = run_cli(tmp_path, "total_steps=100000", "checkpoint_every=1000000", wait=False)
    deadline = time.time() + 120
    while not list(tmp_path.glob("events.out.tfevents*")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(3)  # let it get past the random steps into training
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, out  # stopped, not done
    step = checkpoint_step(tmp_path)
    assert 0 < step < 100000
    assert "checkpoint" in out


def test_checkpoint_survives_a_crash_during_the_next_write(tmp_path):
    path = tmp_path / CHECKPOINT_NAME
    save_atomic({"meta": {"n": 1}}, path)
    (tmp_path / (CHECKPOINT_NAME + ".tmp")).write_bytes(b"half a checkpoint")  # crash mid-write
    assert load_checkpoint_file(path)[1]["meta"]["n"] == 1


def test_truncated_checkpoint_is_refused_with_a_clear_error(tmp_path, make_cfg):
    cfg = make_cfg(*TINY)
    path = tmp_path / CHECKPOINT_NAME
    save_atomic({"meta": {}, "payload": torch.zeros(10000)}, path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated or altered"):
        load_checked(path, config_fingerprint(cfg))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checked(tmp_path / "missing.pt", config_fingerprint(cfg))


def test_checkpoint_from_another_config_is_refused(tmp_path, make_cfg):
    run_cli(tmp_path, "total_steps=200")
    path = tmp_path / CHECKPOINT_NAME
    same = make_cfg(*TINY, "total_steps=400")  # total_steps may change on resume
    assert load_checked(path, config_fingerprint(same))["loop"]["t"] == 200
    other = make_cfg(*TINY, "rollout.beta=3.0")
    with pytest.raises(CheckpointError, match="different config"):
        load_checked(path, config_fingerprint(other))


def test_resume_cli_reports_bad_checkpoint_and_exits_nonzero(tmp_path):
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    cmd = [sys.executable, "-m", "mbpo.train", *TINY, "resume=true", f"hydra.run.dir={tmp_path}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    assert out.returncode != 0
    assert "not an mbpo checkpoint" in out.stdout + out.stderr


def test_checkpoint_from_another_code_version_is_refused(tmp_path, make_cfg):
    cfg = make_cfg(*TINY)
    path = tmp_path / CHECKPOINT_NAME
    save_atomic({"meta": {"format": 1, "code_version": "0.0.0-old",
                          "config": config_fingerprint(cfg)}}, path)
    with pytest.raises(CheckpointError, match="mbpo 0.0.0-old"):
        load_checked(path, config_fingerprint(cfg))


def test_resume_auto_starts_fresh_then_skips_finished_then_extends(tmp_path, make_cfg):
    """What a re-launched suite relies on: no checkpoint -> fresh run; finished -> skipped
    without new work; a larger total_steps -> continues from the checkpoint."""
    base = ("env=hopper", "experiment=debug", "resume=auto")
    first = train(make_cfg(*base, "total_steps=200"), tmp_path, console=False)
    done = json.loads((tmp_path / "summary.json").read_text())
    assert done["total_steps"] == 200 and done["summary"]["final_return"] == first["final_return"]
    events = sorted(tmp_path.glob("events.out.tfevents*"))

    again = train(make_cfg(*base, "total_steps=200"), tmp_path, console=False)
    assert again == done["summary"]
    with pytest.raises(ConfigError, match="finished run of another config"):
        train(make_cfg(*base, "total_steps=200", "seed=5"), tmp_path, console=False)
    assert sorted(tmp_path.glob("events.out.tfevents*")) == events  # no work, no new log

    longer = train(make_cfg(*base, "total_steps=300"), tmp_path, console=False)
    returns = scalars(tmp_path)["eval/return"]
    assert [s for s, _ in returns] == [100, 200, 300]  # continued, no duplicated steps
    assert longer["final_return"] == pytest.approx(returns[-1][1])  # event files: float32
    assert longer["wall_s"] > first["wall_s"]  # loop time adds up over resumes
    assert json.loads((tmp_path / "summary.json").read_text())["total_steps"] == 300


def test_a_resume_says_when_precision_auto_now_resolves_differently(tmp_path, make_cfg,
                                                                   monkeypatch, capsys):
    """`auto` follows the device and the components cleared in code: a run resumed after
    either changed says so instead of switching precision silently."""
    from mbpo import precision

    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    monkeypatch.setattr(precision, "AUTO_BF16", ())
    base = ("env=hopper", "experiment=debug", "resume=auto", "precision=auto")
    train(make_cfg(*base, "total_steps=200"), tmp_path)
    assert "precision before the resume" not in capsys.readouterr().out
    assert load_checkpoint_file(tmp_path / CHECKPOINT_NAME)[1]["meta"]["precision"] == (
        "sac=fp32, model_train=fp32, rollout=fp32")

    monkeypatch.setattr(precision, "AUTO_BF16", ("rollout",))
    train(make_cfg(*base, "total_steps=300"), tmp_path)
    header = [line for line in capsys.readouterr().out.splitlines()
              if "resumed at step 200" in line]
    assert len(header) == 1
    assert "precision sac=fp32, model_train=fp32, rollout=bf16" in header[0]
    assert "precision before the resume: sac=fp32, model_train=fp32, rollout=fp32" in header[0]


def test_rng_state_holds_the_run_gpu_only(monkeypatch):
    """A CPU run never asks CUDA for its state (that would start CUDA on a GPU machine);
    a GPU run saves its own GPU's; an older checkpoint's list of every GPU's state restores
    the run's GPU's entry, even on a machine with fewer GPUs."""
    def no_cuda(*args):
        raise AssertionError("CUDA touched by a CPU run")

    monkeypatch.setattr(torch.cuda, "get_rng_state", no_cuda)
    monkeypatch.setattr(torch.cuda, "set_rng_state", no_cuda)
    state = rng_state(torch.device("cpu"))
    assert "cuda" not in state
    restore_rng({**state, "cuda": torch.zeros(3)}, torch.device("cpu"))

    saved, restored = torch.arange(4, dtype=torch.uint8), []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: saved)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: restored.append(s))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert rng_state(torch.device("cuda:0"))["cuda"] is saved
    states = [torch.full((2,), i) for i in range(3)]
    for device, expected in (("cuda:2", 2), ("cuda", 1), ("cuda:5", 2)):
        restore_rng({**state, "cuda": states}, torch.device(device))
        assert restored.pop() is states[expected], device
    restore_rng({**state, "cuda": saved}, torch.device("cuda"))
    assert restored.pop() is saved


def test_a_setting_added_later_keeps_older_runs_fingerprints_at_its_old_value(make_cfg):
    """Runs from before agent.update_order existed ran critic_first: still resumable."""
    older = make_cfg()
    with open_dict(older):
        del older.agent.update_order
    assert config_fingerprint(make_cfg()) == config_fingerprint(older)
    assert (config_fingerprint(make_cfg("agent.update_order=simultaneous"))
            != config_fingerprint(older))
    # A finished run committed before the setting existed (e177628) keeps its fingerprint.
    run = (ROOT / "docs/results/shapes-check/control-b8e5fc4/runs"
           / "env=inverted_pendulum,rollout=adaptive,seed=0")
    overrides = yaml.safe_load((run / ".hydra/overrides.yaml").read_text())
    stored = json.loads((run / "summary.json").read_text())["config"]
    # the adaptive defaults it ran with (beta 50, start-state Var) are pinned: the settings
    # added since (probe_size, rollout.uncertainty, env.termination) leave it unchanged
    before = ["rollout.beta=50.0", "rollout.uncertainty=start"]
    assert config_fingerprint(make_cfg(*overrides, *before)) == stored


@pytest.mark.parametrize("env", [
    pytest.param(["env.id=Pendulum-v1", "env.termination=never"], id="pendulum"),
    pytest.param(["env.id=tests.tiny_env:PointMass-v0", "env.termination=tests.tiny_env:terminated"],
                 id="registered-in-tests"),
])
def test_a_non_mujoco_env_resumes_mid_episode_exactly(tmp_path, make_cfg, env):
    """Envs without MjData checkpoint their plain attributes (state, step count, RNG): a run
    stopped mid-episode (250: Pendulum's episodes are 200 steps) and extended trains exactly
    as one that never stopped. Evaluation tags differ by design (the stopped run evaluated
    at its end, which advances the eval env's own random stream)."""
    base = ("experiment=debug", "eval_episodes=1", *env)
    train(make_cfg(*base, "total_steps=400"), tmp_path / "whole", console=False)
    train(make_cfg(*base, "total_steps=250"), tmp_path / "stopped", console=False)
    train(make_cfg(*base, "total_steps=400", "resume=true"), tmp_path / "stopped", console=False)
    whole, resumed = scalars(tmp_path / "whole"), scalars(tmp_path / "stopped")
    training = [t for t in whole if t.startswith(("sac/", "model/", "rollout/", "train/"))]
    assert {"sac/critic_loss", "rollout/horizon", "train/episode_return"} <= set(training)
    for tag in training:
        assert resumed[tag] == whole[tag], tag


def test_the_identity_free_settings_are_the_ones_existing_fingerprints_left_out():
    """Marking a setting `free` (or unmarking one) changes the fingerprint of every run that
    set it, and such runs could no longer resume: this set moves only on purpose."""
    from mbpo.checkpoint import RESUMABLE_OVERRIDES

    assert set(RESUMABLE_OVERRIDES) == {
        "resume", "threads", "device", "fp32_matmul", "row_padding", "total_steps",
        "checkpoint_every", "log_every", "eval_episodes", "overwrite", "max_skipped_updates",
        "max_rolled_back_fits", "objective"}
