"""The training step's precision (gaa_mlops.training.precision): which dtype ``trainer.precision``
picks on which host, and that a bf16 step trains float32 weights.

Run: pytest tests/test_precision.py
"""
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gaa_mlops.training.fit import TrainerSettings, fit
from gaa_mlops.training.loops import train_classifier_epoch, train_detector_epoch
from gaa_mlops.training.optim import StepPlan, build_optimizer, build_scheduler
from gaa_mlops.training.precision import PrecisionError, autocast_dtype, cpu_has_native_bf16, precision_name
from gaa_mlops.training.tracker import NullTracker
from game_eye.models import build_detector

CPU = torch.device("cpu")


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: fpu sse2 avx2 {flags}\n\n"
                    f"processor\t: 1\nflags\t\t: fpu sse2 avx2 {flags}\n")
    return path


@pytest.mark.parametrize("flags, native", [("avx512f avx512_bf16", True), ("amx_tile amx_bf16", True),
                                           ("avx512f avx512bw avx512_vnni", False), ("", False)])
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    info = _cpuinfo(tmp_path, flags)
    assert cpu_has_native_bf16(info) is native
    assert autocast_dtype("auto", CPU, info) == (torch.bfloat16 if native else None)


def test_fp32_and_bf16_are_what_they_say_whatever_the_cpu(tmp_path):
    for flags in ("avx512_bf16", ""):
        info = _cpuinfo(tmp_path, flags)
        assert autocast_dtype("fp32", CPU, info) is None
        assert autocast_dtype("bf16", CPU, info) == torch.bfloat16


def test_an_unreadable_cpuinfo_means_fp32(tmp_path):
    assert not cpu_has_native_bf16(tmp_path / "missing")
    assert autocast_dtype("auto", CPU, tmp_path / "missing") is None


def test_an_unknown_precision_names_the_key_and_the_choices():
    with pytest.raises(PrecisionError, match=r"trainer.precision 'fp16'; valid: \['auto', 'fp32', 'bf16'\]"):
        autocast_dtype("fp16", CPU)
    assert precision_name(torch.bfloat16) == "bf16" and precision_name(None) == "fp32"


def _schedule(model):
    opt = build_optimizer("adamw", model.parameters(), 0.01, weight_decay=0.0)
    return opt, build_scheduler("cosine", opt, StepPlan(100))


def test_a_bf16_verifier_step_learns_and_keeps_float32_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    before = model[5].weight.detach().clone()
    y = torch.arange(64) % 2
    x = torch.rand(64, 3, 16, 16) * 0.3 + (1 - y).float()[:, None, None, None] * 0.6
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    opt, sched = _schedule(model)
    losses = [train_classifier_epoch(model, opt, sched, loader, e, autocast=torch.bfloat16)["loss"] for e in range(6)]
    assert losses[-1] < losses[0] * 0.7                        # it learns
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not torch.equal(model[5].weight, before)


def test_a_bf16_detector_step_gives_finite_losses_and_float32_weights():
    torch.manual_seed(0)
    model = build_detector("ssd_tiny", 2, [96, 64], channels=[8, 8, 16, 16, 16],
                           anchor_sizes=[[8, 12], [16, 24], [32, 48]], class_prior=0.01)
    images = [torch.rand(3, 96, 64) for _ in range(4)]
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 30.0, 30.0]]), "labels": torch.tensor([1])} for _ in range(4)]
    opt, sched = _schedule(model)
    tr = train_detector_epoch(model, opt, sched, [(images, targets)], 1, autocast=torch.bfloat16)
    assert torch.isfinite(torch.tensor(tr["loss"])) and tr["images"] == 4
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_fit_in_bf16_ships_a_float32_state(tmp_path):
    torch.manual_seed(0)
    y = torch.arange(32) % 2
    x = torch.rand(32, 3, 16, 16) * 0.3 + (1 - y).float()[:, None, None, None] * 0.6
    data = TensorDataset(x, y)
    settings = TrainerSettings(epochs=2, batch_size=8, optimizer="adamw", lr=0.01, augment=False, precision="bf16",
                               calibration={"target_recall": 0.99, "max_false_positive_rate": 0.05})
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    result = fit("classification", model, data, data, settings, ["close", "not_close"], seed=0, workdir=tmp_path,
                 tracker=NullTracker())
    assert all(v.dtype == torch.float32 for k, v in result.state_dict.items() if v.is_floating_point())
