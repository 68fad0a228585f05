"""TensorBoard HParams: one table per sweep, in which every run shows every swept setting.

The HParams tab takes its columns from one experiment summary. When every run wrote its
own, a sweep that mixed schedules showed only one run's columns (a fixed run has no
`rollout.beta`). So a run in a sweep writes only its session (its values), and the
experiment summary, with the union of every run's
setting names, goes to the sweep's directory. Every job of the sweep computes the same
union from the sweep's overrides, so it does not matter which writes it last.

The metrics are curves the run logs anyway, whose last value is the run's summary (the
HParams tab shows a metric's last value): no one-point scalars clutter the Scalars tab.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from mbpo.config import CONF_DIR

METRICS = {"final_return": "eval/return", "best_return": "eval/best_return",
           "auc_return": "eval/auc_return", "mean_horizon": "rollout/mean_horizon"}
"""Summary field -> the logged tag whose last value it is, shown as an HParams metric."""


def run_hparams(cfg: DictConfig, overrides: Sequence[str]) -> dict[str, object]:
    """What a sweep varies: env, schedule and its settings, seed, and every override."""
    rollout = OmegaConf.to_container(cfg.rollout, resolve=True)
    params: dict[str, object] = {
        "env": cfg.env.id,
        "rollout": str(rollout.pop("_target_")).rsplit(".", 1)[-1],
        "seed": cfg.seed,
        **{f"rollout.{k}": ("null" if v is None else v) for k, v in rollout.items()},
    }
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if not key.startswith("hydra") and key not in params:
            params[key] = value
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}


def sweep_of(hydra_cfg: DictConfig | None) -> tuple[Path | None, list[str]]:
    """In a multirun: the sweep's directory and its overrides as launched (sweep syntax)."""
    if hydra_cfg is None or hydra_cfg.mode != RunMode.MULTIRUN:
        return None, []
    sweep_dir = Path(hydra_cfg.sweep.dir)
    launched = sweep_dir / "multirun.yaml"
    overrides = (list(OmegaConf.load(launched).hydra.overrides.task) if launched.is_file()
                 else list(hydra_cfg.overrides.task))
    return sweep_dir, overrides


def sweep_hparams(sweep_overrides: Sequence[str], own: Mapping[str, object]) -> dict[str, object]:
    """Every setting name any run of the sweep has, each with a value of its type: this
    run's own, or the default of the schedule that has it, or text."""
    names: dict[str, object] = {}
    for override in sweep_overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key.startswith("hydra"):
            continue
        if key == "rollout":
            for option in value.split(","):
                path = CONF_DIR / "rollout" / f"{option.strip()}.yaml"
                defaults = yaml.safe_load(path.read_text()) if path.is_file() else {}
                for name, default in (defaults or {}).items():
                    if name != "_target_":
                        names.setdefault(f"rollout.{name}",
                                         "null" if default is None else default)
        names.setdefault(key, "")
    return {**{k: v if isinstance(v, (int, float, str, bool)) else str(v)
               for k, v in names.items()}, **own}


def write_hparams(writer: SummaryWriter, params: Mapping[str, object],
                  sweep_dir: Path | None = None, sweep_overrides: Sequence[str] = ()) -> None:
    """This run's session; the experiment (the table's columns) here, or, in a sweep, in
    `sweep_dir` with the union of the sweep's settings."""
    metrics = dict.fromkeys(METRICS.values())  # the names are what the experiment holds
    exp, ssi, sei = hparams_summaries(dict(params), metrics)
    for part in (ssi, sei) if sweep_dir else (exp, ssi, sei):
        writer.file_writer.add_summary(part)
    if sweep_dir is not None:
        union = sweep_hparams(sweep_overrides, params)
        sweep_exp, _, _ = hparams_summaries(union, metrics)
        with SummaryWriter(log_dir=str(sweep_dir), filename_suffix=".hparams") as root:
            root.file_writer.add_summary(sweep_exp)
