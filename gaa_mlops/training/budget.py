"""Fit a training run to a wall-clock budget by planning its schedule in optimizer steps.

With ``trainer.max_minutes`` set, the learning-rate schedule is not planned for ``trainer.epochs``
and then cut off when time runs out (which leaves the last epochs at a high lr). Instead::

    budget = TrainingBudget(minutes=30, plan=scheduler.plan, steps_per_epoch=125, max_steps=50 * 125)
    budget.start()
    ... after every optimizer step:   keep_going = budget.after_step(step)
    ... after every validation:       budget.after_validation(seconds, step)

measures the seconds per step over the first steps (after a few warm-up steps), then sets the
plan's length to the steps that fit in what is left of the budget, counting the validations still
to come; it re-plans after each validation with the time actually spent. The warmup stays at most
``MAX_WARMUP_SHARE`` of the plan, the cosine decay ends at the last planned step, and the plan never
exceeds ``max_steps`` (``trainer.epochs`` passes over the data). A machine busier than the one the
plan was made on gets fewer steps, never a schedule cut off at high lr.

Without a budget the plan stays ``epochs x steps_per_epoch``, as configured.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from gaa_mlops.training.optim import StepPlan

log = logging.getLogger(__name__)
WARMUP_STEPS_SKIPPED = 3      # first steps: allocations and caches, not the steady pace
MEASURED_STEPS = 20           # steps timed before the first plan
REPLAN_EVERY = 50             # steps between re-plans inside an epoch
MAX_WARMUP_SHARE = 0.1        # warmup is at most this share of the planned steps
TAIL_SHARE = 0.1              # at an epoch end, fewer steps than this share of an epoch left: stop there
VALIDATION_GUESS = 0.5        # before the first validation: its cost per image, in train-step images


@dataclass
class TrainingBudget:
    minutes: float | None
    plan: StepPlan
    steps_per_epoch: int
    max_steps: int
    batch_size: int = 1
    val_images: int = 0
    elapsed_before: float = 0.0            # seconds spent before a resume
    # False under DDP: every rank must stop at the same step, so the plan changes only at epoch
    # ends, where rank 0 broadcasts it
    plan_mid_epoch: bool = True
    _started: float = field(default=0.0, init=False)
    _step_seconds: float = field(default=0.0, init=False)    # time in training steps (not validation)
    _timed_steps: int = field(default=0, init=False)
    _last_step_end: float | None = field(default=None, init=False)
    _val_seconds: float | None = field(default=None, init=False)
    planned: bool = field(default=False, init=False)

    @property
    def enabled(self) -> bool:
        return bool(self.minutes) and self.minutes > 0

    def start(self) -> None:
        self._started = time.monotonic()
        self._last_step_end = self._started

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self._started

    def seconds_per_step(self) -> float | None:
        return self._step_seconds / self._timed_steps if self._timed_steps else None

    def after_step(self, step: int) -> bool:
        """Record optimizer step ``step`` (1-based, global); False once the plan is complete."""
        now = time.monotonic()
        if self._last_step_end is not None and step > WARMUP_STEPS_SKIPPED:
            self._step_seconds += now - self._last_step_end
            self._timed_steps += 1
        self._last_step_end = now
        if self.enabled and self.plan_mid_epoch and self._timed_steps >= MEASURED_STEPS and \
                (not self.planned or self._timed_steps % REPLAN_EVERY == 0):
            self._replan(step)
        return step < self.plan.total_steps

    def after_validation(self, seconds: float, step: int) -> None:
        """A validation took ``seconds``; re-plan the remaining steps with what it cost."""
        self._val_seconds = seconds
        self._last_step_end = time.monotonic()     # validation time is not step time
        if self.enabled and self._timed_steps:
            self._replan(step)

    def _validation_cost(self) -> float:
        if self._val_seconds is not None:
            return self._val_seconds
        per_image = (self.seconds_per_step() or 0.0) / max(self.batch_size, 1)
        return VALIDATION_GUESS * per_image * self.val_images

    def _replan(self, step: int) -> None:
        per_step = self.seconds_per_step()
        if not per_step:
            return
        remaining = self.minutes * 60 - self.elapsed()
        val = self._validation_cost()
        # every steps_per_epoch steps a validation, plus the one after the last step
        affordable = max(0.0, remaining - val) / (per_step + val / max(self.steps_per_epoch, 1))
        total = int(min(self.max_steps, max(step, step + math.floor(affordable))))   # never past the budget
        if step % self.steps_per_epoch == 0 and 0 < total - step < TAIL_SHARE * self.steps_per_epoch:
            total = step        # not another epoch (and its validation) for a handful of steps
        old = self.plan.total_steps
        self.plan.total_steps = total
        self.plan.warmup_steps = min(self.plan.warmup_steps, int(MAX_WARMUP_SHARE * total))
        if not self.planned or abs(total - old) > 0.02 * old:
            log.info("budget %.1f min: %.2f s/step, validation %.0f s -> %d steps planned (was %d), %.1f min left",
                     self.minutes, per_step, val, total, old, remaining / 60)
        self.planned = True

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed(), "plan": self.plan.state_dict(), "planned": self.planned,
                "max_steps": self.max_steps,
                "step_seconds": self._step_seconds, "timed_steps": self._timed_steps,
                "val_seconds": self._val_seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.elapsed_before = float(state["elapsed"])
        self.plan.load_state_dict(state["plan"])
        if self.plan.total_steps == state.get("max_steps"):     # the epochs ended that plan, not the
            self.plan.total_steps = self.max_steps              # clock: resumed with more, it goes on
        self.planned = bool(state["planned"])
        self._step_seconds, self._timed_steps = float(state["step_seconds"]), int(state["timed_steps"])
        self._val_seconds = state["val_seconds"]

    def summary(self) -> dict[str, float]:
        """What to log: the plan and the pace it was made from."""
        out = {"planned_steps": float(self.plan.total_steps), "warmup_steps": float(self.plan.warmup_steps)}
        if self.seconds_per_step():
            out["seconds_per_step"] = float(self.seconds_per_step())
        if self.enabled:
            out["budget_minutes"] = float(self.minutes)
        return out
