"""Bad input fails early and names the field; non-finite numbers never reach the networks."""

import errno
import resource
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mbpo import fp32_matmul
from mbpo import run_dir as run_dir_module
from mbpo.buffer import Batch
from mbpo.ensemble import GaussianEnsemble
from mbpo.model_training import EnsembleTrainer
from mbpo.run_dir import hold_run_dir
from mbpo.sac import SAC, UPDATE_ORDERS
from mbpo.train import ConfigError, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from peak_rss import reset_peak_rss  # noqa: E402 (a measurement helper of the scripts)

BAD_FIELDS = [
    (["rollout=adaptive", "rollout.h_min=6", "rollout.h_max=5"], "rollout.h_min"),
    (["rollout=adaptive", "rollout.h_min=0"], "rollout.h_min"),
    (["rollout=adaptive", "rollout.beta=-1"], "rollout.beta"),
    (["bf16_components=[sac,critic]"], "bf16_components"),
    (["rollout=fixed", "rollout.h=0"], "rollout.h"),
    (["rollout=linear", "rollout.epoch_a=30", "rollout.epoch_b=20"], "rollout.epoch_a"),
    (["env.id=Pong-v5"], "env.id"),
    (["rollout=adaptive", "model.ensemble.ensemble_size=1", "model.ensemble.num_elites=1"],
     "ensemble_size"),
    (["model.ensemble.num_elites=9"], "num_elites"),
    (["real_ratio=-0.1"], "real_ratio"),
    (["real_ratio=1.5"], "real_ratio"),
    (["agent.batch_size=0"], "agent.batch_size"),
    (["model.trainer.batch_size=0"], "model.trainer.batch_size"),
    (["rollout_batch_size=0"], "rollout_batch_size"),
    (["model_train_freq=0"], "model_train_freq"),
    (["updates_per_step=-2"], "updates_per_step"),
    (["checkpoint_every=0"], "checkpoint_every"),
    (["eval_every=0"], "eval_every"),
    (["total_steps=50"], "init_steps"),  # total_steps below init_steps (100 in debug)
    (["init_steps=0"], "init_steps"),
    (["agent.gamma=1.0"], "agent.gamma"),
    (["model.trainer.holdout_ratio=0"], "model.trainer.holdout_ratio"),
    (["agent.update_order=both"], "agent.update_order"),
]


@pytest.mark.parametrize("overrides, field", BAD_FIELDS, ids=[f for _, f in BAD_FIELDS])
def test_bad_value_fails_before_any_work_naming_the_field(make_cfg, tmp_path, overrides, field):
    cfg = make_cfg("env=hopper", "experiment=debug", *overrides)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        train(cfg, tmp_path, console=False)
    assert not list(tmp_path.glob("events.out.tfevents*"))  # nothing started


def test_a_refused_run_into_new_directories_leaves_none_behind(make_cfg, tmp_path):
    """train() makes the run dir to lock it (hold_run_dir); a refusal removes what it made."""
    cfg = make_cfg("env=hopper", "experiment=debug", "rollout=adaptive", "rollout.beta=-1")
    with pytest.raises(ConfigError, match="rollout.beta"):
        train(cfg, tmp_path / "a" / "b" / "run", console=False)
    assert list(tmp_path.iterdir()) == []


def test_a_run_dir_held_by_another_run_is_refused_in_process(make_cfg, tmp_path):
    """...and left alone: the holder's directory, still empty while it builds, stays."""
    cfg, held = make_cfg("env=hopper", "experiment=debug"), tmp_path / "run"
    with hold_run_dir(held):
        with pytest.raises(ConfigError, match="is in use by another"):
            train(cfg, held, console=False)
        assert held.is_dir() and list(held.iterdir()) == []
    assert not held.exists()  # made to be locked, still empty: the holder removed it


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows")
def test_a_filesystem_that_cannot_lock_runs_unguarded_and_says_so(make_cfg, tmp_path,
                                                                   monkeypatch):
    """Some network mounts refuse flock (ENOLCK): the run still goes on, a probe does not
    report its directory as held, and the run's line in train.log says it is unguarded."""
    with hold_run_dir(tmp_path / "normal") as guarded:
        assert guarded

    def no_locks(fd: int, how: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_dir_module.fcntl, "flock", no_locks)
    with hold_run_dir(tmp_path / "held") as guarded:
        assert not guarded and not run_dir_module.run_dir_in_use(tmp_path / "held")
    cfg = make_cfg("env=hopper", "experiment=debug", "total_steps=120")
    train(cfg, tmp_path / "run", console=False)
    run_line = (tmp_path / "run" / "train.log").read_text().splitlines()[0]
    assert "UNGUARDED: this filesystem cannot lock the run dir" in run_line, run_line


def everything(agent: SAC) -> dict[str, torch.Tensor]:
    """Networks, targets, alpha and both optimisers' moments and step counts (not the skip
    counter, which a skipped step is meant to change)."""
    state = {k: v for k, v in agent.state_dict().items() if k != "skipped"}
    for name in ("critic_opt", "actor_opt"):
        opt = getattr(agent, name)
        for i, per_param in enumerate(opt.state.values()):
            state.update({f"{name}.{i}.{k}": v.clone() for k, v in per_param.items()})
    return {k: v.clone() for k, v in state.items()}


def small_agent(**kwargs) -> SAC:
    return SAC(3, 2, np.full(2, -1.0), np.full(2, 1.0), hidden_size=16, **kwargs)


def finite_batch() -> Batch:
    return Batch(torch.randn(8, 3), torch.rand(8, 2), torch.randn(8), torch.randn(8, 3),
                 torch.zeros(8))


@pytest.mark.parametrize("update_order", UPDATE_ORDERS)
def test_non_finite_sac_loss_skips_the_whole_step_and_counts_it(update_order):
    torch.manual_seed(0)
    agent = small_agent(update_order=update_order)
    agent.update(finite_batch())  # optimiser state exists from here on
    before = everything(agent)
    bad = finite_batch()._replace(rew=torch.full((8,), float("nan")))
    metrics = agent.update(bad)
    assert metrics["applied"] == 0 and all(torch.isfinite(v) for v in metrics.values())
    assert agent.skipped_updates == 1
    after = everything(agent)
    assert all(torch.equal(before[k], after[k]) for k in before), [
        k for k in before if not torch.equal(before[k], after[k])]
    assert agent.update(finite_batch())["applied"] == 1  # and training goes on
    assert agent.skipped_updates == 1


def test_the_skip_count_survives_a_checkpoint_and_older_ones_still_load():
    torch.manual_seed(0)
    agent = small_agent()
    agent.update(finite_batch()._replace(rew=torch.full((8,), float("nan"))))
    state = agent.full_state()
    fresh = small_agent()
    fresh.load_full_state(state)
    assert fresh.skipped_updates == 1
    older = {**state, "modules": {k: v for k, v in state["modules"].items() if k != "skipped"}}
    fresh.load_full_state(older)  # saved before the count was: it starts again from 0
    assert fresh.skipped_updates == 0


@pytest.mark.parametrize("update_order", UPDATE_ORDERS)
def test_non_finite_actor_loss_keeps_the_critic_step_only(update_order):
    """As before the device-side skip: the critic steps; actor, alpha and targets do not."""
    torch.manual_seed(0)
    agent = small_agent(update_order=update_order)
    agent.update(finite_batch())
    before = everything(agent)
    actor_loss = agent.actor_loss
    agent.actor_loss = lambda obs, alpha: tuple(
        v * float("nan") if i == 0 else v for i, v in enumerate(actor_loss(obs, alpha)))
    assert agent.update(finite_batch())["applied"] == 0
    after = everything(agent)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    critic = {k for k in before if k.startswith(("critic.", "critic_opt."))}
    assert changed == critic and all(torch.isfinite(after[k]).all() for k in after)


def test_model_fit_with_non_finite_loss_rolls_back():
    torch.manual_seed(0)
    model = GaussianEnsemble(2, 1, ensemble_size=3, num_elites=2, hidden_size=8, num_layers=1)
    trainer = EnsembleTrainer(model, batch_size=16, weight_decays=[0.0, 0.0], max_epochs=3)
    obs = torch.randn(64, 2)
    good = trainer.fit(obs, torch.randn(64, 1), torch.randn(64), obs + 0.1)
    assert good["rollback"] == 0.0
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rew = torch.randn(64)
    rew[3] = float("inf")
    bad = trainer.fit(obs, torch.randn(64, 1), rew, obs + 0.1)
    assert bad["rollback"] == 1.0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("backend", [
    pytest.param([], id="default"),
    pytest.param(["precision=fp32", "fp32_matmul=onednn", "row_padding=true"], id="fp32-onednn",
                 marks=pytest.mark.skipif(not fp32_matmul.available(),
                                          reason="oneDNN's fp32 switch has no effect here")),
])
def test_memory_stays_bounded_over_a_run(make_cfg, tmp_path, backend):
    """Resident memory after N and 3N steps (model buffer full by N) differs by < 30 MiB;
    also with every fp32 matmul through oneDNN, which caches a primitive per matmul shape
    (without row_padding that variant grew by 58 MiB)."""
    from mbpo import loop

    reset_peak_rss()  # peak RSS is the process's: earlier tests' peaks must hide nothing

    rss_at = {}
    original = loop.evaluate_policy

    def spy(env, agent, episodes):
        rss_at[len(rss_at)] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return original(env, agent, episodes)

    loop.evaluate_policy = spy
    try:
        cfg = make_cfg("env=hopper", "experiment=debug", "total_steps=1500", "eval_every=500",
                       "model_train_freq=50", "rollout=fixed", "rollout.h=3", *backend)
        train(cfg, tmp_path, console=False)
    finally:
        loop.evaluate_policy = original
        fp32_matmul.select("mkl")  # process-wide: later tests get torch's default
    # evaluations at 500 (N), 1000, 1500 (3N): peak RSS in MiB
    assert rss_at[2] - rss_at[0] < 30, rss_at
