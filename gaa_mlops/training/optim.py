"""Optimizer and learning-rate schedule by name; unknown names fail with the valid ones."""
from __future__ import annotations

import math
from typing import Iterable

import torch

OPTIMIZERS = ("sgd", "adamw")
SCHEDULERS = ("cosine", "step", "none")


def build_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float, momentum: float = 0.9,
                    weight_decay: float = 0.0) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r} (trainer.optimizer); valid: {list(OPTIMIZERS)}")


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, total_steps: int,
                    warmup_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step schedule: linear warmup, then cosine decay, step decay (x0.1 at 2/3) or constant."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r} (trainer.scheduler); valid: {list(SCHEDULERS)}")
    total_steps = max(total_steps, 1)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        if name == "cosine":
            return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        if name == "step":
            return 0.1 if progress >= 2 / 3 else 1.0
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
