"""Every option of every config group composes, resolves and instantiates."""

from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from mbpo.train import build, run_settings

CONF = Path(__file__).resolve().parents[1] / "conf"


def options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_groups_offer_the_documented_options():
    assert options("env") == ["ant", "halfcheetah", "hopper", "humanoid", "inverted_pendulum",
                              "walker2d"]
    assert options("model") == ["deterministic_ensemble", "gaussian_ensemble"]
    assert options("agent") == ["sac"]
    assert options("rollout") == ["adaptive", "fixed", "linear", "masked", "none"]


@pytest.mark.parametrize("env", options("env"))
def test_every_env_composes_and_builds(make_cfg, env):
    cfg = make_cfg(f"env={env}", "experiment=debug")
    c = build(cfg, torch.device("cpu"), run_settings(cfg))
    obs_dim = c.env.observation_space.shape[0]
    assert c.model.obs_dim == obs_dim and c.agent.target_entropy == cfg.env.target_entropy
    c.env.close()
    c.eval_env.close()


def test_row_padding_reaches_the_rollouts_and_the_holdout_checks(make_cfg, tmp_path, monkeypatch):
    """The setting goes to the model; rollouts, the probe and holdout checks pad as it says."""
    from mbpo import model_training, rollout
    from mbpo.ensemble import HOLDOUT_ROW_MULTIPLE, ROLLOUT_ROW_MULTIPLE
    from mbpo.train import train

    seen = {"rollout": set(), "holdout": set()}  # the row multiples every call padded to

    def spying_on(original, kind):
        def spy(x, multiple):
            seen[kind].add(multiple)
            return original(x, multiple)
        return spy

    monkeypatch.setattr(rollout, "pad_rows", spying_on(rollout.pad_rows, "rollout"))
    monkeypatch.setattr(model_training, "pad_rows", spying_on(model_training.pad_rows, "holdout"))
    for padding, rollout_rows, holdout_rows in (("false", 1, 1),
                                                ("true", ROLLOUT_ROW_MULTIPLE, HOLDOUT_ROW_MULTIPLE)):
        cfg = make_cfg("experiment=debug", "total_steps=200", f"row_padding={padding}")
        c = build(cfg, torch.device("cpu"), run_settings(cfg))
        assert c.model.holdout_row_multiple == holdout_rows
        c.env.close()
        c.eval_env.close()
        for kind in seen.values():
            kind.clear()
        train(cfg, tmp_path / padding, console=False)
        assert seen == {"rollout": {rollout_rows}, "holdout": {holdout_rows}}


@pytest.mark.parametrize("env", options("env"))
@pytest.mark.parametrize("rollout", options("rollout"))
@pytest.mark.parametrize("model", options("model"))
def test_paper_configs_resolve(make_cfg, env, rollout, model):
    cfg = make_cfg(f"env={env}", f"rollout={rollout}", f"model={model}")
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["total_steps"] == cfg.env.total_steps
    assert resolved["model"]["ensemble"]["probabilistic"] == (model == "gaussian_ensemble")
    from hydra.utils import instantiate

    assert instantiate(cfg.rollout).max_horizon >= 1


def test_linear_schedule_reads_the_env_paper_values(make_cfg):
    cfg = make_cfg("env=hopper", "rollout=linear")
    assert [cfg.rollout[k] for k in ("epoch_a", "epoch_b", "h_a", "h_b")] == [20, 150, 1, 15]
    assert make_cfg("env=halfcheetah").updates_per_step == 40


def test_typed_schema_rejects_bad_type_and_unknown_key(make_cfg):
    with pytest.raises(ConfigCompositionException):
        make_cfg("seed=abc")
    with pytest.raises(ConfigCompositionException):
        make_cfg("device=tpu")
    with pytest.raises(ConfigCompositionException):
        make_cfg("totl_steps=10")


@pytest.mark.parametrize("override, field", [
    ("init_steps=500", "init_steps"),
    ("real_ratio=1.5", "real_ratio"),
    ("updates_per_step=0", "updates_per_step"),
    ("rollout_batch_size=-1", "rollout_batch_size"),
])
def test_bad_loop_values_name_the_field(make_cfg, override, field):
    cfg = make_cfg("experiment=debug", override)
    with pytest.raises(ValueError, match=field):
        run_settings(cfg)
