"""Evaluate a finished (or checkpointed) run's policy: `python -m mbpo.evaluate run_dir=...`.

Arguments (key=value): run_dir (required), episodes=10, seed=12345, device=cpu,
video=false (writes RUN_DIR/eval.gif; needs offscreen rendering: MUJOCO_GL=egl with a GPU
driver, or MUJOCO_GL=osmesa with OSMesa installed), export=false (writes RUN_DIR/policy.pt,
plain tensors that run without this package: mbpo/policy.py).
"""

from __future__ import annotations

if __name__ == "__main__":  # before anything imports mujoco
    from mbpo.mujoco_gl import exit_if_gl_broken

    exit_if_gl_broken()

import sys
from pathlib import Path

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from mbpo.build import build_agent, env_kwargs_of
from mbpo.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checked
from mbpo.envs import make_env
from mbpo.episodes import evaluate_policy
from mbpo.sac import SAC

SAC_TARGET = "mbpo.sac.SAC"


class EvaluateError(ValueError):
    """Bad arguments or an unusable run dir: one line, exit status 2."""


def load_agent(run_dir: Path, device: torch.device) -> tuple[SAC, dict]:
    """The run's SAC agent from its checkpoint, built from its own saved config."""
    config_path = run_dir / ".hydra" / "config.yaml"
    checkpoint = run_dir / CHECKPOINT_NAME
    for path in (config_path, checkpoint):
        if not path.is_file():
            raise EvaluateError(f"run_dir={run_dir} has no {path.relative_to(run_dir)}")
    cfg = OmegaConf.load(config_path)
    refuse_foreign_targets(cfg.agent, run_dir)
    env = make_env(cfg.env.id, env_kwargs_of(cfg))
    agent = build_agent(cfg, env.observation_space.shape[0], env.action_space.shape[0],
                        env.action_space.low, env.action_space.high, device)
    try:
        state = load_checked(checkpoint, None)
    except CheckpointError as e:
        raise EvaluateError(str(e).removeprefix("resume: ")) from e
    agent.load_full_state(state["agent"])
    env.close()
    return agent, {"env_id": cfg.env.id, "env_kwargs": cfg.env.kwargs,
                   "step": state["loop"]["t"]}


def refuse_foreign_targets(agent_cfg: DictConfig, run_dir: Path) -> None:
    """A shared run's config must not name code to run: `build_agent` instantiates the
    agent config, and Hydra would call any `_target_` in it. Only this package's SAC, with
    plain values, is built."""
    target = agent_cfg.get("_target_")
    nested = [k for k, v in agent_cfg.items() if isinstance(v, (DictConfig, ListConfig))
              and "_target_" in str(OmegaConf.to_container(v))]
    if target != SAC_TARGET or nested:
        raise EvaluateError(
            f"run_dir={run_dir}: .hydra/config.yaml's agent names {target!r}"
            + (f" and a _target_ under {nested[0]}" if nested else "")
            + f"; mbpo.evaluate builds only {SAC_TARGET} (it runs no code a run dir names)")


def record_gif(agent: SAC, env_id: str, env_kwargs: dict, path: Path, seed: int) -> Path:
    import imageio.v2 as imageio

    env = make_env(env_id, {**env_kwargs, "render_mode": "rgb_array"})
    obs, _ = env.reset(seed=seed)
    frames, done = [], False
    while not done:
        frames.append(env.render())
        obs, _, terminated, truncated, _ = env.step(agent.act(obs, deterministic=True))
        done = terminated or truncated
    env.close()
    imageio.mimsave(path, frames[::2], duration=0.04)
    return path


def main(argv: list[str]) -> None:
    args = OmegaConf.from_dotlist(argv)
    if "run_dir" not in args:
        raise SystemExit(__doc__)
    run_dir = Path(args.run_dir)
    episodes, seed = int(args.get("episodes", 10)), int(args.get("seed", 12345))
    if episodes < 1:
        raise EvaluateError(f"episodes must be >= 1, got {episodes}")
    agent, info = load_agent(run_dir, torch.device(args.get("device", "cpu")))
    env_kwargs = OmegaConf.to_container(info["env_kwargs"], resolve=True)
    env = make_env(info["env_id"], env_kwargs)
    env.reset(seed=seed)
    mean, std = evaluate_policy(env, agent, episodes)
    env.close()
    print(f"{info['env_id']} | policy at step {info['step']} | {episodes} episodes | "
          f"return {mean:.1f} ± {std:.1f}")
    if bool(args.get("export", False)):
        from mbpo.policy import export_policy

        print(f"policy: {export_policy(run_dir)} (plain tensors; mbpo/policy.py says how to run it)")
    if bool(args.get("video", False)):
        try:
            print(f"video: {record_gif(agent, info['env_id'], env_kwargs, run_dir / 'eval.gif', seed)}")
        except Exception as e:  # offscreen GL is often missing on servers
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise EvaluateError(
                f"video=true needs offscreen rendering, which failed here ({type(e).__name__}: "
                f"{first[:120]}); set MUJOCO_GL=egl (GPU driver) or MUJOCO_GL=osmesa (OSMesa)"
            ) from e


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except EvaluateError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
