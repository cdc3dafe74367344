"""Training images per second of the configurations the budgeted recipe chose, each next to the
one it replaced, through the trainer's own epoch functions (synthetic data: speed does not depend
on content).

    .venv/bin/python benchmarks/learning_speed.py                   # 3 timed steps per row
    .venv/bin/python benchmarks/learning_speed.py --steps 6

Rows (the first of each group is the baseline):
  detector  ssd_tiny 576x320, batch 32: whole screens in the default memory layout -> channels-last
            -> channels-last on half-screen bands (trainer.detector_window 0.5) -> the same step
            under bf16 autocast (trainer.precision auto, on a CPU with native bf16: the default);
  verifier  batch 64: ResNet-34 at 80 px -> channels-last -> ResNet-18 at 80 px -> the same in
            bf16 (the default where the CPU has it) -> ResNet-18 at 96 px in bf16 (tried in run Q)
            -> ResNet-18 at 56 px (the quick experiment) -> the same in bf16.
Run nothing else meanwhile: two jobs on 2 cores halve both numbers.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SSD_KWARGS, SSD_SIZE, cpu_note, median, table  # noqa: E402

from gaa_mlops.training.precision import cpu_has_native_bf16  # noqa: E402

# (label, window, channels-last, bf16 autocast)
DETECTOR_ROWS = [("whole screen, default layout", 1.0, False, False), ("whole screen, channels-last", 1.0, True, False),
                 ("half-screen band, channels-last", 0.5, True, False),
                 ("half-screen band, channels-last, bf16", 0.5, True, True)]
# (arch, size, channels-last, bf16 autocast)
VERIFIER_ROWS = [("resnet34", 80, False, False), ("resnet34", 80, True, False), ("resnet18", 80, True, False),
                 ("resnet18", 80, True, True), ("resnet18", 96, True, True), ("resnet18", 56, True, False),
                 ("resnet18", 56, True, True)]


def _timed_rate(train_epoch, model, batches: list, bf16: bool) -> float:
    """Images/s of ``train_epoch`` (the trainer's own) over ``batches[1:]``, after one warm-up step."""
    import torch

    from gaa_mlops.training.optim import build_optimizer, build_scheduler

    opt = build_optimizer("adamw", model.parameters(), 0.002, weight_decay=0.01)
    sched = build_scheduler("cosine", opt, 10_000)
    autocast = torch.bfloat16 if bf16 else None
    train_epoch(model, opt, sched, batches[:1], 0, autocast=autocast)
    t = time.perf_counter()
    tr = train_epoch(model, opt, sched, batches[1:], 1, autocast=autocast)
    return tr["images"] / (time.perf_counter() - t)


def _detector_rate(window: float, channels_last: bool, bf16: bool, steps: int) -> float:
    import torch
    from torch.utils.data import DataLoader

    from gaa_mlops.data.loaders import collate_detection
    from gaa_mlops.training.loops import train_detector_epoch
    from game_eye.models import build_detector

    g = torch.Generator().manual_seed(0)
    h, w = round(SSD_SIZE[0] * window), SSD_SIZE[1]
    batch = 32
    model = build_detector("ssd_tiny", 2, SSD_SIZE, **SSD_KWARGS, class_prior=0.01)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    samples = []
    for _ in range(batch * (steps + 1)):
        xy = torch.rand(2, generator=g) * torch.tensor([w - 40.0, h - 40.0])
        target = {"boxes": torch.cat([xy, xy + 30]).view(1, 4), "labels": torch.ones(1, dtype=torch.long)}
        samples.append((torch.rand(3, h, w, generator=g), target))
    batches = list(DataLoader(samples, batch_size=batch, collate_fn=collate_detection))
    return _timed_rate(train_detector_epoch, model, batches, bf16)


def _verifier_rate(arch: str, size: int, channels_last: bool, bf16: bool, steps: int) -> float:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from gaa_mlops.training.loops import train_classifier_epoch
    from game_eye.models import build_classifier

    g = torch.Generator().manual_seed(0)
    batch = 64
    model = build_classifier(arch, 2)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.rand(batch * (steps + 1), 3, size, size, generator=g)
    y = torch.randint(0, 2, (batch * (steps + 1),), generator=g)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=batch))
    return _timed_rate(train_classifier_epoch, model, batches, bf16)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3, help="timed training steps per row")
    p.add_argument("--reps", type=int, default=1, help="repetitions per row (median)")
    a = p.parse_args()
    print(f"# Learning speed  ({cpu_note()})", flush=True)
    det_rows = []
    base = None
    for label, window, cl, bf16 in DETECTOR_ROWS:
        rate = median([_detector_rate(window, cl, bf16, a.steps) for _ in range(a.reps)])
        base = base or rate
        det_rows.append([label, rate, f"{rate / base:.2f}x"])
        print(f"  detector: {label} done", flush=True)
    ver_rows = []
    base = None
    for arch, size, cl, bf16 in VERIFIER_ROWS:
        rate = median([_verifier_rate(arch, size, cl, bf16, a.steps) for _ in range(a.reps)])
        base = base or rate
        label = f"{arch} {size} px{', channels-last' if cl else ''}{', bf16' if bf16 else ''}"
        ver_rows.append([label, rate, f"{rate / base:.2f}x"])
        print(f"  verifier: {arch} {size} done", flush=True)
    print()
    print(table(["detector (ssd_tiny, batch 32)", "train images/s", "vs first"], det_rows,
                "Detector training speed"))
    print()
    print(table(["verifier (batch 64)", "train images/s", "vs first"], ver_rows, "Verifier training speed"))
    print("a band has the button of a whole screen (DetectionDataset(window=...)): images/s is buttons/s")
    print(f"bf16 rows: torch.autocast(bfloat16) on the training step; this CPU computes bf16 natively: "
          f"{cpu_has_native_bf16()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
