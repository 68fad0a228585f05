"""Checkpoints that survive a crash mid-write and resume a run exactly.

A checkpoint is one file written atomically, checked by a digest and loaded without
running code (mbpo/checkpoint_file.py). It records a fingerprint of the run's config and
the code version, and loading refuses one from a different run with a message that says
which. Simulator and RNG states are stored as bytes, numbers and arrays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mbpo import __version__
from mbpo.checkpoint_file import CheckpointError, load_checkpoint_file, save_checkpoint_file
from mbpo.config import IDENTITY_FREE
from mbpo.loop import Components, LoopState

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 3  # 3: safe to load (no pickled objects), with a digest; 2: one SAC optimiser
RESUMABLE_OVERRIDES = IDENTITY_FREE
"""Settings a resumed run may change without changing what the run is (marked `free` in
mbpo/config.py; the fingerprint of runs from before a setting existed stays theirs)."""
ADDED_SETTINGS = {("agent", "update_order"): "critic_first", ("rollout", "uncertainty"): "start",
                  (None, "probe_size"): 2048, ("env", "termination"): None}
"""Settings that change what a run computes, added after runs existed, with the value every
run before them had. At that value they leave the fingerprint out, so older checkpoints and
finished runs stay resumable; any other value changes it."""


def config_fingerprint(cfg: DictConfig) -> str:
    """Hash of the resolved config, minus the settings a resume may change and the
    ADDED_SETTINGS at the value runs had before them."""
    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for key in RESUMABLE_OVERRIDES:
        resolved.pop(key, None)
    for (group, key), before in ADDED_SETTINGS.items():
        settings = resolved if group is None else resolved.get(group)
        if isinstance(settings, dict) and key in settings and settings[key] == before:
            settings.pop(key)
    return hashlib.sha256(repr(sorted(resolved.items())).encode()).hexdigest()[:16]


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """Write `state` to `path` so that a crash at any moment leaves a whole checkpoint."""
    save_checkpoint_file(state, path, FORMAT_VERSION)


def load_checked(path: Path, fingerprint: str | None) -> dict[str, Any]:
    """Load a checkpoint and check it is whole and belongs to this config (None: any
    config, for evaluation) and code version."""
    try:
        version, state = load_checkpoint_file(path)
    except CheckpointError as e:
        raise CheckpointError(f"resume: {e}") from e
    meta = state.get("meta", {})
    if version != FORMAT_VERSION or meta.get("format") != FORMAT_VERSION or (
            meta.get("code_version") != __version__):
        raise CheckpointError(
            f"resume: checkpoint {path} was written by format {meta.get('format')} / mbpo "
            f"{meta.get('code_version')}, this is format {FORMAT_VERSION} / mbpo {__version__}"
        )
    if fingerprint is not None and meta.get("config") != fingerprint:
        raise CheckpointError(
            f"resume: checkpoint {path} is from a different config (fingerprint "
            f"{meta.get('config')} != {fingerprint}); only {', '.join(RESUMABLE_OVERRIDES)} "
            "may change on resume"
        )
    return state


def rng_state(device: torch.device) -> dict[str, Any]:
    """Every generator the run draws from: the run's GPU only, if it runs on one (a CPU run
    on a GPU machine need not start CUDA, and a resume may find fewer GPUs)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and device.type == "cuda":
        cuda = state["cuda"]
        if isinstance(cuda, list):  # older checkpoints held every GPU's state
            index = torch.cuda.current_device() if device.index is None else device.index
            cuda = cuda[min(index, len(cuda) - 1)]
        torch.cuda.set_rng_state(cuda, device)


def _time_limit(env: gym.Env) -> gym.wrappers.TimeLimit | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def plain_attributes(env: gym.Env) -> dict[str, Any]:
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in vars(env).items()
            if not k.startswith("_") and (isinstance(v, (bool, int, float, type(None)))
                                          or (isinstance(v, np.ndarray) and v.dtype != object))}


def env_state(env: gym.Env) -> dict[str, Any]:
    """Everything that decides the env's future: the whole MjData (derived quantities too,
    which some rewards read before stepping), time-limit counter and both generators."""
    sim = env.unwrapped
    limit = _time_limit(env)
    mjdata = isinstance(getattr(sim, "data", None), mujoco.MjData)
    return {
        # MjData's own serialisation (model and every array, derived quantities included:
        # some rewards read them before stepping), as bytes: no pickled object.
        "mjdata": sim.data.__getstate__() if mjdata else None,
        # Any other env: its plain attributes (arrays, numbers), which is the whole state of
        # simple envs such as classic control; exact resume is tested for MuJoCo envs.
        "attrs": None if mjdata else plain_attributes(sim),
        "elapsed_steps": limit._elapsed_steps if limit else None,
        "np_random": sim.np_random.bit_generator.state,
        "action_space": env.action_space.np_random.bit_generator.state,
    }


def restore_env(env: gym.Env, state: dict[str, Any]) -> None:
    """Inverse of env_state; the env must have been reset once (gymnasium's order check)."""
    sim = env.unwrapped
    if state["mjdata"] is not None:
        saved = mujoco.MjData.__new__(mujoco.MjData)
        saved.__setstate__(state["mjdata"])
        if (saved.model.nq, saved.model.nv, saved.model.nbody) != (
                sim.model.nq, sim.model.nv, sim.model.nbody):
            raise CheckpointError("resume: the checkpoint's simulator state is of another model")
        mujoco.mj_copyData(sim.data, sim.model, saved)
    for name, value in (state.get("attrs") or {}).items():
        setattr(sim, name, value)
    limit = _time_limit(env)
    if limit is not None:
        limit._elapsed_steps = state["elapsed_steps"]
    sim.np_random.bit_generator.state = state["np_random"]
    env.action_space.np_random.bit_generator.state = state["action_space"]


def capture_run(c: Components, state: LoopState, fingerprint: str) -> dict[str, Any]:
    """Everything needed to continue the run bit for bit (on the same device and threads)."""
    return {
        "meta": {"format": FORMAT_VERSION, "code_version": __version__, "config": fingerprint,
                 # What precision=auto resolved to here: it follows the device and code.
                 "precision": c.precision.describe()},
        "loop": dataclasses.asdict(state),
        "agent": c.agent.full_state(),
        "model": c.model.state_dict(),
        "trainer": c.trainer.state_dict(),
        "schedule": c.schedule.state_dict() if hasattr(c.schedule, "state_dict") else None,
        "real_buffer": c.real_buffer.state_dict(),
        "model_buffer": c.model_buffer.state_dict(),
        "env": env_state(c.env),
        "eval_env": env_state(c.eval_env),
        "rng": rng_state(c.real_buffer.device),
    }


def restore_run(c: Components, ckpt: dict[str, Any]) -> LoopState:
    """Load a checkpoint into freshly built components (whose envs were reset once)."""
    c.agent.load_full_state(ckpt["agent"])
    c.model.load_state_dict(ckpt["model"])
    c.trainer.load_state_dict(ckpt["trainer"])
    if ckpt["schedule"] is not None:
        c.schedule.load_state_dict(ckpt["schedule"])
    c.real_buffer.load_state_dict(ckpt["real_buffer"])
    # The real buffer holds every step of the run: a run extended past the total_steps it
    # was saved with keeps all of them, as an uninterrupted longer run does.
    c.real_buffer.set_capacity(c.real_buffer.max_capacity)
    c.model_buffer.load_state_dict(ckpt["model_buffer"])
    restore_env(c.env, ckpt["env"])
    restore_env(c.eval_env, ckpt["eval_env"])
    restore_rng(ckpt["rng"], c.real_buffer.device)
    return LoopState(**ckpt["loop"])
