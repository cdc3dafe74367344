"""Weight averaging over the schedule's tail (gaa_mlops.training.averaging) and what fit ships with it.

Run: pytest tests/test_averaging.py
"""
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from gaa_mlops.training.averaging import TailAverager
from gaa_mlops.training.checkpoint import load_checkpoint
from gaa_mlops.training.fit import TrainerSettings, fit
from gaa_mlops.training.optim import StepPlan
from gaa_mlops.training.tracker import NullTracker


def _set_all(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
        for b in model.buffers():
            if b.is_floating_point():
                b.fill_(value)


def test_the_average_is_the_mean_of_the_tail_snapshots():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    plan = StepPlan(100)
    averager = TailAverager(model, plan, window=0.2, every=5)
    for step in range(1, 101):
        _set_all(model, float(step))         # the "weights" after optimizer step `step`
        averager.after_step(step)
    # snapshots at steps 80, 85, ..., 100
    assert averager.start_step() == 80 and averager.snapshots == 5
    state = averager.averaged_state()
    assert torch.allclose(state["0.weight"], torch.full((2, 3), 90.0))
    assert torch.allclose(state["1.running_mean"], torch.full((2,), 90.0))   # BN statistics too
    assert set(state) == set(model.state_dict())                               # the model's own keys


def test_the_window_follows_a_replanned_schedule():
    model = nn.Linear(2, 1)
    plan = StepPlan(1000)
    averager = TailAverager(model, plan, window=0.5, every=1)
    for step in range(1, 300):
        averager.after_step(step)
    assert averager.snapshots == 0           # 500 of 1000 planned: not yet
    plan.total_steps = 400                   # the budget found the machine slower
    for step in range(300, 401):
        averager.after_step(step)
    assert averager.start_step() == 200 and averager.snapshots == 101


def test_window_zero_is_off_and_bad_settings_name_the_key():
    model = nn.Linear(2, 1)
    averager = TailAverager(model, StepPlan(10), window=0.0)
    for step in range(1, 11):
        averager.after_step(step)
    assert averager.averaged_state() is None and not averager.enabled
    with pytest.raises(ValueError, match="trainer.average.window"):
        TailAverager(model, StepPlan(10), window=1.0)
    with pytest.raises(ValueError, match="trainer.average.every"):
        TailAverager(model, StepPlan(10), window=0.5, every=0)


def test_state_round_trips_for_resume():
    model = nn.Linear(2, 1)
    a = TailAverager(model, StepPlan(10), window=0.5, every=1)
    for step in range(1, 8):
        _set_all(model, float(step))
        a.after_step(step)
    b = TailAverager(model, StepPlan(10), window=0.5, every=1)
    b.load_state_dict(a.state_dict())
    assert b.snapshots == a.snapshots == 3
    assert torch.equal(b.averaged_state()["weight"], a.averaged_state()["weight"])


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))

    def forward(self, x):
        return self.body(x)


def _crops(n: int, seed: int) -> TensorDataset:
    """close: bright crops, not_close: dark ones (learnable in a few steps)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.rand(n, 3, 16, 16, generator=g) * 0.3 + (1 - y).float()[:, None, None, None] * 0.6
    return TensorDataset(x, y)


def _fit(tmp_path, window: float, max_val_drop: float = 0.01):
    torch.manual_seed(0)
    settings = TrainerSettings(epochs=3, batch_size=8, optimizer="adamw", lr=0.01, augment=False,
                               average={"window": window, "every": 1, "max_val_drop": max_val_drop},
                               calibration={"target_recall": 0.99, "max_false_positive_rate": 0.05})
    return fit("classification", TinyNet(), _crops(64, 1), _crops(32, 2), settings, ["close", "not_close"],
               seed=0, workdir=tmp_path, tracker=NullTracker())


def test_fit_ships_the_tail_average_not_the_last_weights(tmp_path):
    result = _fit(tmp_path, window=0.5)
    last = load_checkpoint(tmp_path / "last.pth")
    assert last["average"] is not None and int(last["average"]["n_averaged"]) >= 2
    w = "body.5.weight"
    assert not torch.equal(result.state_dict[w], last["model"][w])    # the average, not the last step
    assert result.best_epoch == last["epoch"]


def test_without_a_window_fit_ships_the_best_epoch(tmp_path):
    result = _fit(tmp_path, window=0.0)
    last = load_checkpoint(tmp_path / "last.pth")
    assert last["average"] is None
    best = last["best"]
    assert result.best_epoch == best["epoch"]
    assert torch.equal(result.state_dict["body.5.weight"], best["state"]["body.5.weight"])
