"""The training budget plans the schedule's steps from the measured pace (gaa_mlops.training.budget).

Run: pytest tests/test_budget.py
"""
import pytest
import torch

from gaa_mlops.training import budget as budget_mod
from gaa_mlops.training.budget import TrainingBudget
from gaa_mlops.training.optim import FINAL_LR_FACTOR, StepPlan, build_scheduler, lr_factor


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def simulate(monkeypatch, *, minutes, step_s, val_s, steps_per_epoch, max_steps, warmup=0):
    """Run the fit loop's calls against a fake clock; return (steps taken, seconds spent, plan, lrs)."""
    clock = FakeClock()
    monkeypatch.setattr(budget_mod.time, "monotonic", clock)
    plan = StepPlan(max_steps, warmup)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler("cosine", opt, plan)
    b = TrainingBudget(minutes, plan, steps_per_epoch, max_steps, batch_size=8, val_images=100)
    b.start()
    lrs = []
    while sched.last_epoch < plan.total_steps:
        for _ in range(steps_per_epoch):
            clock.t += step_s
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr()[0])
            if not b.after_step(sched.last_epoch):
                break
        clock.t += val_s
        b.after_validation(val_s, sched.last_epoch)
    return sched.last_epoch, clock.t - 1000.0, plan, lrs


def test_plan_fills_the_budget_and_ends_at_the_lowest_lr(monkeypatch):
    steps, spent, plan, lrs = simulate(monkeypatch, minutes=10, step_s=0.5, val_s=6.0, steps_per_epoch=100,
                                       max_steps=100_000, warmup=50)
    assert 0.9 * 600 <= spent <= 1.03 * 600, spent
    assert steps == plan.total_steps
    assert lrs[-1] == pytest.approx(FINAL_LR_FACTOR, abs=1e-3)   # the decay finished at the last step
    assert max(lrs) == pytest.approx(1.0, abs=1e-3)


def test_a_slower_machine_takes_fewer_steps_of_the_same_schedule(monkeypatch):
    fast, _, _, fast_lrs = simulate(monkeypatch, minutes=5, step_s=0.25, val_s=3.0, steps_per_epoch=50,
                                    max_steps=100_000)
    slow, spent, _, slow_lrs = simulate(monkeypatch, minutes=5, step_s=0.5, val_s=6.0, steps_per_epoch=50,
                                        max_steps=100_000)
    assert slow < 0.6 * fast and spent <= 1.03 * 300
    assert slow_lrs[-1] == pytest.approx(fast_lrs[-1], abs=1e-3)


def test_the_plan_never_exceeds_the_epochs_given(monkeypatch):
    steps, spent, _, lrs = simulate(monkeypatch, minutes=60, step_s=0.1, val_s=1.0, steps_per_epoch=40,
                                    max_steps=120)
    assert steps == 120 and spent < 60
    assert lrs[-1] == pytest.approx(FINAL_LR_FACTOR, abs=1e-3)


def test_without_a_budget_the_plan_is_the_epochs(monkeypatch):
    steps, _, plan, _ = simulate(monkeypatch, minutes=None, step_s=10.0, val_s=1.0, steps_per_epoch=30,
                                 max_steps=90)
    assert steps == 90 and plan.total_steps == 90


def test_warmup_is_capped_to_a_share_of_the_plan(monkeypatch):
    _, _, plan, lrs = simulate(monkeypatch, minutes=1, step_s=0.5, val_s=1.0, steps_per_epoch=1000,
                               max_steps=100_000, warmup=1000)
    assert plan.warmup_steps <= budget_mod.MAX_WARMUP_SHARE * plan.total_steps
    assert lrs[-1] == pytest.approx(FINAL_LR_FACTOR, abs=1e-3)


def test_budget_state_round_trips_for_resume(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(budget_mod.time, "monotonic", clock)
    b = TrainingBudget(10, StepPlan(1000), 100, 1000)
    b.start()
    for step in range(1, 30):
        clock.t += 1.0
        b.after_step(step)
    state = b.state_dict()
    again = TrainingBudget(10, StepPlan(1000), 100, 1000)
    again.load_state_dict(state)
    again.start()
    assert again.elapsed() == pytest.approx(29.0)
    assert again.plan.total_steps == b.plan.total_steps < 1000


def test_lr_factor_shapes():
    plan = StepPlan(100, 10)
    assert lr_factor("cosine", 0, plan) == pytest.approx(0.1)
    assert lr_factor("cosine", 10, plan) == pytest.approx(1.0)
    assert lr_factor("cosine", 100, plan) == pytest.approx(FINAL_LR_FACTOR)
    assert lr_factor("step", 80, plan) == pytest.approx(0.1)
    assert lr_factor("none", 80, plan) == 1.0


def test_classifier_augment_changes_colour_and_side_not_shape():
    """The verifier's jitter (gaa_mlops.training.fit): some crops flipped, some recoloured, all in [0, 1]."""
    from gaa_mlops.training.fit import classifier_augment

    torch.manual_seed(0)
    x = torch.zeros(400, 3, 8, 8)
    x[:, 0], x[:, 1], x[:, 2] = 0.9, 0.5, 0.1                    # an orange crop ...
    x[:, :, :, :2] = 0.0                                          # ... with a black band on the left
    y = classifier_augment(x)
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1
    left, right = y[:, :, :, :2].mean(dim=(1, 2, 3)), y[:, :, :, -2:].mean(dim=(1, 2, 3))
    inverted = y[:, :, :, 3:5].mean(dim=(1, 2, 3)) < torch.maximum(left, right)   # the band turned bright
    flipped = (left > right) ^ inverted
    assert 0.4 < float(flipped.float().mean()) < 0.6
    channel_order = y[:, :, :, 3:5].mean(dim=(2, 3)).argsort(dim=1)
    reordered = (channel_order != torch.tensor([2, 1, 0])).any(dim=1) & ~inverted
    assert 0.2 < float(reordered.float().mean()) < 0.6
    assert 0.1 < float(inverted.float().mean()) < 0.3
    torch.manual_seed(0)
    assert torch.equal(classifier_augment(x), y)                  # torch's RNG only: reproducible
