"""Optimizer and learning-rate schedule by name; unknown names fail with the valid ones.

The schedule is defined over a :class:`StepPlan` (warmup and total optimizer steps) that the
training budget may re-plan while training runs (``gaa_mlops.training.budget``): the lr factor
always reads the plan's current length, so warmup and decay fit whatever length was planned.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch

from gaa_mlops.config_schema import ConfigError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULERS = ("cosine", "step", "none")
FINAL_LR_FACTOR = 0.02          # cosine decays to this share of the peak lr, not to 0


@dataclass
class StepPlan:
    """How many optimizer steps the schedule spans, and how many of them warm up."""
    total_steps: int
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        self.total_steps = max(int(self.total_steps), 1)
        self.warmup_steps = max(int(self.warmup_steps), 0)

    def state_dict(self) -> dict[str, int]:
        return {"total_steps": self.total_steps, "warmup_steps": self.warmup_steps}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.total_steps, self.warmup_steps = int(state["total_steps"]), int(state["warmup_steps"])


def build_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float, momentum: float = 0.9,
                    weight_decay: float = 0.0) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ConfigError(f"unknown optimizer {name!r} (trainer.optimizer); valid: {list(OPTIMIZERS)}")


def lr_factor(name: str, step: int, plan: StepPlan) -> float:
    """The share of the peak lr at optimizer step ``step``: linear warmup, then cosine decay to
    ``FINAL_LR_FACTOR``, step decay (x0.1 at 2/3) or constant."""
    if step < plan.warmup_steps:
        return (step + 1) / plan.warmup_steps
    progress = (step - plan.warmup_steps) / max(plan.total_steps - plan.warmup_steps, 1)
    if name == "cosine":
        return FINAL_LR_FACTOR + (1 - FINAL_LR_FACTOR) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if name == "step":
        return 0.1 if progress >= 2 / 3 else 1.0
    return 1.0


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, total_steps: int | StepPlan,
                    warmup_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step schedule over ``total_steps`` (or a :class:`StepPlan`, which may be re-planned
    while the scheduler runs)."""
    if name not in SCHEDULERS:
        raise ConfigError(f"unknown scheduler {name!r} (trainer.scheduler); valid: {list(SCHEDULERS)}")
    plan = total_steps if isinstance(total_steps, StepPlan) else StepPlan(total_steps, warmup_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(name, step, plan))
