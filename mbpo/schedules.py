"""Rollout schedules: how long the model rollouts of one phase are.

Every schedule has the same small interface: `plan(epoch, uncertainty, signals)` returns
the horizon of this phase and, optionally, a per-sample rule that ends rollouts early.
Schedules never reach into the model: they see only the per-sample epistemic variance
of this phase's start states and the phase's scalar signals (mbpo/probe.py), measured by
the loop before rolling out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol

import torch
from torch import Tensor

from mbpo.checks import finite
from mbpo.uncertainty import SIGNALS

SampleMask = Callable[[Tensor, int], Tensor]
"""(per-sample uncertainty [B], step index) -> bool [B], True where the sample continues."""


class RolloutPlan(NamedTuple):
    horizon: int
    keep: SampleMask | None = None
    info: dict[str, float] | None = None  # extra scalars to log under rollout/


class RolloutSchedule(Protocol):
    max_horizon: int
    needs_uncertainty: bool

    def plan(self, epoch: int, uncertainty: Tensor,
             signals: Mapping[str, float] | None = None) -> RolloutPlan: ...


def _check_horizon(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"rollout.{name} must be an integer >= 1, got {value!r}")


class ModelFree:
    """No model phase at all: the model-free SAC baseline every MBPO paper reports. The
    ensemble is never fitted or rolled out, and every SAC batch is real data."""

    uses_model = False

    def __init__(self) -> None:
        self.max_horizon = 1  # sizes an empty model buffer
        self.needs_uncertainty = False

    def plan(self, epoch: int, uncertainty: Tensor,
             signals: Mapping[str, float] | None = None) -> RolloutPlan:
        raise RuntimeError("rollout=none has no model phase")


class FixedHorizon:
    """The same horizon every phase."""

    def __init__(self, h: int):
        _check_horizon("h", h)
        self.h = self.max_horizon = h
        self.needs_uncertainty = False

    def plan(self, epoch: int, uncertainty: Tensor,
             signals: Mapping[str, float] | None = None) -> RolloutPlan:
        return RolloutPlan(self.h)


class LinearHorizon:
    """MBPO's schedule: h_a up to epoch_a, linear to h_b at epoch_b, then h_b (floored, as MBPO)."""

    def __init__(self, epoch_a: int, epoch_b: int, h_a: int, h_b: int):
        _check_horizon("h_a", h_a)
        _check_horizon("h_b", h_b)
        if not 0 <= epoch_a < epoch_b:
            raise ValueError(
                f"rollout.epoch_a and rollout.epoch_b need 0 <= epoch_a < epoch_b, "
                f"got {epoch_a}, {epoch_b}"
            )
        self.epoch_a, self.epoch_b, self.h_a, self.h_b = epoch_a, epoch_b, h_a, h_b
        self.max_horizon = max(h_a, h_b)
        self.needs_uncertainty = False

    def horizon(self, epoch: int) -> int:
        if epoch <= self.epoch_a:
            return self.h_a
        frac = min((epoch - self.epoch_a) / (self.epoch_b - self.epoch_a), 1.0)
        return int(self.h_a + frac * (self.h_b - self.h_a))

    def plan(self, epoch: int, uncertainty: Tensor,
             signals: Mapping[str, float] | None = None) -> RolloutPlan:
        return RolloutPlan(self.horizon(epoch))


def adaptive_horizon(var: float, beta: float, h_base: float, h_min: int, h_max: int) -> int:
    """H = clip(round(h_base * exp(-beta * var)), h_min, h_max), rounding half up.

    Rounding to nearest (not MBPO's floor) lets H reach h_base when the model is nearly
    certain; with floor any Var > 0 would cap H at h_base - 1. A non-finite Var (a
    diverged model) gives h_min: nothing is known, so the rollouts stay short.
    """
    if not math.isfinite(var):
        return h_min
    return int(min(max(math.floor(h_base * math.exp(-beta * max(var, 0.0)) + 0.5), h_min),
                   h_max))


class UncertaintyThreshold:
    """Per-sample stop rule: a sample's rollout ends at the first step whose own Var exceeds
    xi * quantile_q(first-step Var of this phase), smoothed over phases by an exponential
    moving average (after MACURA, Frauenknecht et al. 2024, and M2AC, Pan et al. 2020)."""

    def __init__(self, quantile: float, xi: float, smoothing: float):
        if not 0.0 < finite("rollout.quantile", quantile) <= 1.0:
            raise ValueError(f"rollout.quantile must be in (0, 1], got {quantile}")
        if not finite("rollout.xi", xi) > 0:
            raise ValueError(f"rollout.xi must be > 0, got {xi}")
        if not 0.0 < finite("rollout.smoothing", smoothing) <= 1.0:
            raise ValueError(f"rollout.smoothing must be in (0, 1], got {smoothing}")
        self.quantile, self.xi, self.smoothing = quantile, xi, smoothing
        self.threshold: float | None = None

    def update(self, first_var: Tensor) -> float:
        # torch.quantile is limited to 16M elements; a phase has far fewer start states.
        raw = self.xi * float(torch.quantile(first_var.float(), self.quantile))
        if self.threshold is None:
            self.threshold = raw
        else:
            self.threshold += self.smoothing * (raw - self.threshold)
        return self.threshold

    def plan(self, horizon: int, first_var: Tensor) -> RolloutPlan:
        """Update the threshold from this phase's first step; a plan that masks with it."""
        threshold = self.update(first_var)

        def keep(var: Tensor, step: int) -> Tensor:
            return var <= threshold

        return RolloutPlan(horizon, keep, {"threshold": threshold})

    def state_dict(self) -> dict[str, float | None]:
        return {"threshold": self.threshold}

    def load_state_dict(self, state: dict[str, float | None]) -> None:
        self.threshold = state["threshold"]


class MaskedHorizon:
    """Every start state rolls out up to h_max; each sample stops on its own uncertainty."""

    def __init__(self, h_max: int, quantile: float = 0.9, xi: float = 1.0,
                 smoothing: float = 0.2):
        _check_horizon("h_max", h_max)
        self.max_horizon = h_max
        self.needs_uncertainty = True
        self.rule = UncertaintyThreshold(quantile, xi, smoothing)

    def plan(self, epoch: int, uncertainty: Tensor,
             signals: Mapping[str, float] | None = None) -> RolloutPlan:
        return self.rule.plan(self.max_horizon, uncertainty)

    def state_dict(self) -> dict[str, float | None]:
        return self.rule.state_dict()

    def load_state_dict(self, state: dict[str, float | None]) -> None:
        self.rule.load_state_dict(state)


class AdaptiveHorizon:
    """The mission's rule, driven by one of the phase's uncertainty signals (`uncertainty`:
    a name in mbpo.uncertainty.SIGNALS); with `mask=true` each sample also stops on its own
    first-step uncertainty (as in MaskedHorizon)."""

    def __init__(self, beta: float, h_min: int, h_max: int, h_base: float | None = None,
                 uncertainty: str = "start", mask: bool = False, quantile: float = 0.9,
                 xi: float = 1.0, smoothing: float = 0.2):
        _check_horizon("h_min", h_min)
        _check_horizon("h_max", h_max)
        if h_min > h_max:
            raise ValueError(f"rollout.h_min ({h_min}) must be <= rollout.h_max ({h_max})")
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
            raise ValueError(f"rollout.beta must be a finite number >= 0, got {beta!r}")
        if h_base is not None and not (isinstance(h_base, (int, float))
                                       and math.isfinite(h_base) and h_base > 0):
            raise ValueError(f"rollout.h_base must be a finite number > 0 or null (= h_max), "
                             f"got {h_base!r}")
        if uncertainty not in SIGNALS:
            raise ValueError(f"rollout.uncertainty must be one of {', '.join(SIGNALS)}, "
                             f"got {uncertainty!r}")
        self.uncertainty = uncertainty
        self.beta, self.h_min, self.h_max = beta, h_min, h_max
        self.h_base = float(h_max if h_base is None else h_base)
        self.max_horizon = h_max
        self.needs_uncertainty = True
        self.rule = UncertaintyThreshold(quantile, xi, smoothing) if mask else None

    def plan(self, epoch: int, uncertainty: Tensor,
             signals: Mapping[str, float] | None = None) -> RolloutPlan:
        var = float(uncertainty.mean()) if self.uncertainty == "start" else float(
            (signals or {}).get(self.uncertainty, float("nan")))
        horizon = adaptive_horizon(var, self.beta, self.h_base, self.h_min, self.h_max)
        return RolloutPlan(horizon) if self.rule is None else self.rule.plan(horizon, uncertainty)

    def state_dict(self) -> dict[str, float | None]:
        return self.rule.state_dict() if self.rule else {}

    def load_state_dict(self, state: dict[str, float | None]) -> None:
        if self.rule:
            self.rule.load_state_dict(state)
