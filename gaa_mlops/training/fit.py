"""The epoch loop shared by both models: train, validate, checkpoint, keep the best, calibrate.

``fit`` receives built objects and plain settings (never the Hydra config). The loop knows nothing
of MLflow: what happens after an epoch (checkpoint, metrics with ``step=epoch``) and after the last
one (calibration, plots) is ``FitHooks``, which reports through a ``training.tracker.Tracker``
(the active MLflow run on rank 0). ``checkpoints/last.pth`` is written to ``workdir`` first, then
uploaded, so a lost tracking server does not lose the epoch.

Under torchrun (``dist`` with several processes) the model is wrapped in DDP, each process trains
on its ``DistributedSampler`` shard with ``batch_size / world_size`` images per step, and only
rank 0 validates, logs, checkpoints and calibrates; the other ranks return ``None``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from gaa_mlops.config_schema import Average
from gaa_mlops.data.loaders import collate_detection
from gaa_mlops.distributed import SINGLE, DistContext, average_weighted, broadcast_object, resolve_device
from gaa_mlops.projects import NEGATIVE_LABELS
from gaa_mlops.training import calibrate, plots
from gaa_mlops.training.averaging import TailAverager
from gaa_mlops.training.budget import TrainingBudget
from gaa_mlops.training.checkpoint import load_checkpoint, plain_state, restore_rng, rng_state, save_checkpoint
from gaa_mlops.training.loops import (
    NonFiniteLossError,
    train_classifier_epoch,
    train_detector_epoch,
    validate_classifier,
    validate_detector,
)
from gaa_mlops.training.optim import StepPlan, build_optimizer, build_scheduler
from gaa_mlops.training.precision import autocast_dtype, precision_name
from gaa_mlops.training.tracker import MlflowTracker, NullTracker, Tracker

log = logging.getLogger(__name__)
SELECTION_METRIC = {"detection": "val_map50", "classification": "val_accuracy"}


@dataclass
class TrainerSettings:
    """Plain values from ``cfg.trainer``."""
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    warmup_epochs: int = 0
    num_workers: int = 0
    device: str = "cpu"
    precision: str = "auto"               # of the training step (training.precision): auto | fp32 | bf16
    resume: str | None = None
    init_from: str | None = None
    max_minutes: float | None = None
    augment: bool = True
    detector_window: float | None = None  # read by the detection dataset (gaa_mlops.data.loaders)
    calibration: dict = field(default_factory=lambda: {"target_recall": 0.99, "max_false_positive_rate": 0.005})
    # weight averaging over the schedule's tail (training.averaging): window 0 is off; the average
    # replaces the best epoch unless its val metric is more than max_val_drop below it
    average: dict = field(default_factory=lambda: Average().model_dump())


@dataclass
class FitResult:
    best_epoch: int
    best_metric: float
    metric_name: str
    score_threshold: float
    state_dict: dict
    history: list[dict]
    final_val: dict[str, float]
    stopped_early: bool = False
    class_thresholds: dict[str, float] = field(default_factory=dict)   # per target class


def classifier_augment(x: torch.Tensor) -> torch.Tensor:
    """The verifier's train-time jitter on a [0, 1] NCHW batch, drawn from torch's RNG: horizontal
    flip, colour channels shuffled (1/2 of the crops), inverted (1/5) or grey (1/10), then brightness
    and contrast. Close buttons come in every colour: the verifier must learn the shape, not the
    palette of the designs it happened to see."""
    n = x.shape[0]
    flip = torch.rand(n) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    shuffled = torch.stack([img[torch.randperm(3)] for img in x])
    x = torch.where((torch.rand(n) < 0.5)[:, None, None, None], shuffled, x)
    x = torch.where((torch.rand(n) < 0.2)[:, None, None, None], 1 - x, x)
    grey = x.mean(dim=1, keepdim=True).expand_as(x)
    x = torch.where((torch.rand(n) < 0.1)[:, None, None, None], grey, x)
    gain = 1 + (torch.rand(n, 1, 1, 1) - 0.5) * 0.4
    bias = (torch.rand(n, 1, 1, 1) - 0.5) * 0.2
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * gain + mean + bias).clamp(0, 1)


def _loader(ds: Dataset, task: str, batch_size: int, shuffle: bool, seed: int, workers: int,
            dist: DistContext = SINGLE) -> DataLoader:
    collate = collate_detection if task == "detection" else None
    if dist.enabled and shuffle:  # this rank's shard; the permutation depends on seed only, as on every rank
        sampler = DistributedSampler(ds, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed)
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate)
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=gen, num_workers=workers,
                      collate_fn=collate)


def _positive_index(classes: list[str]) -> int:
    """The class whose precision/recall the verifier reports: close, else the first."""
    return classes.index("close") if "close" in classes else 0


def local_batch_size(batch_size: int, dist: DistContext) -> int:
    """``trainer.batch_size`` is the global batch; each process takes its share."""
    if batch_size % dist.world_size:
        raise ValueError(f"trainer.batch_size={batch_size} does not split evenly over {dist.world_size} "
                         f"processes; use a multiple of {dist.world_size}")
    return batch_size // dist.world_size


def _train_epoch(task, model, optimizer, scheduler, loader, epoch: int, augment: bool, on_step,
                 autocast: torch.dtype | None) -> dict:
    if task == "detection":
        return train_detector_epoch(model, optimizer, scheduler, loader, epoch, on_step=on_step, autocast=autocast)
    aug = classifier_augment if augment else None
    return train_classifier_epoch(model, optimizer, scheduler, loader, epoch, augment=aug, on_step=on_step,
                                  autocast=autocast)


@dataclass
class _Training:
    """What the epoch loop carries: the model (and its DDP wrapper), optimizer, schedule, budget,
    and where it stands (the history of validated epochs, the best one)."""
    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    budget: TrainingBudget
    max_steps: int
    batch: int                        # this process's images per step
    averager: TailAverager
    autocast: torch.dtype | None      # the training step's mixed precision (None: fp32)
    start_epoch: int = 1
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"metric": -1.0, "epoch": 0, "state": None})


@dataclass
class FitHooks:
    """What ``fit`` does around its loop, through ``tracker`` (rank 0 only):
    ``on_epoch_end`` writes the checkpoint (local first: if the tracking server is gone, the epoch
    is still on disk, see ``training.recovery``) and logs the epoch's metrics and checkpoint;
    ``on_fit_end`` calibrates the best state's thresholds and logs the plots."""
    tracker: Tracker
    workdir: Path

    def on_epoch_end(self, epoch: int, row: dict[str, float], t: _Training) -> None:
        last = save_checkpoint(self.workdir / "last.pth", model=t.model.state_dict(),
                               optimizer=t.optimizer.state_dict(), scheduler=t.scheduler.state_dict(),
                               rng=rng_state(), epoch=epoch, history=t.history, best=t.best,
                               budget=t.budget.state_dict(), average=t.averager.state_dict())
        self.tracker.log_metrics(row, step=epoch)
        self.tracker.log_artifact(last, "checkpoints")

    def on_fit_end(self, task: str, model: nn.Module, val_set: Dataset, val_loader: DataLoader,
                   classes: list[str], calibration: dict, history: list[dict], best_epoch: int):
        """(threshold, per-class thresholds, final validation metrics) of the best state."""
        self.tracker.log_figure(plots.loss_curves(history, SELECTION_METRIC[task]), "plots/loss_curves.png")
        threshold, per_class, final = calibrate_best(task, model, val_set, val_loader, classes, calibration,
                                                     self.tracker)
        extra = {f"score_threshold.{c}": t for c, t in per_class.items()} if len(per_class) > 1 else {}
        self.tracker.log_metrics({"best_epoch": best_epoch, "score_threshold": threshold, **extra,
                                  **{f"best_{k}": v for k, v in final.items()}})
        return threshold, per_class, final


def _prepare(task: str, model: nn.Module, train_set: Dataset, val_set: Dataset, settings: TrainerSettings,
             seed: int, resume_from: Path | None, dist: DistContext) -> _Training:
    """Device and layout, optimizer, schedule, budget; the resumed state when ``resume_from``."""
    device = resolve_device(settings.device, dist)
    model.to(device).to(memory_format=torch.channels_last)   # ~1.3x faster convolutions on CPU
    batch = local_batch_size(settings.batch_size, dist)
    optimizer = build_optimizer(settings.optimizer, model.parameters(), settings.lr, settings.momentum,
                                settings.weight_decay)
    shard = -(-len(train_set) // dist.world_size)  # DistributedSampler pads every shard to this length
    steps_per_epoch = max(1, -(-shard // batch))
    max_steps = settings.epochs * steps_per_epoch
    plan = StepPlan(max_steps, settings.warmup_epochs * steps_per_epoch)
    scheduler = build_scheduler(settings.scheduler, optimizer, plan)
    # only rank 0 plans (the others follow its plan, broadcast after each epoch)
    budget = TrainingBudget(settings.max_minutes if dist.is_main else None, plan, steps_per_epoch,
                            max_steps, batch_size=batch, val_images=len(val_set), plan_mid_epoch=not dist.enabled)
    # only rank 0 ships weights, so only rank 0 averages them
    average = Average(**settings.average)
    averager = TailAverager(model, plan, average.window if dist.is_main else 0.0, average.every)
    autocast = autocast_dtype(settings.precision, device)
    log.info("training step precision: %s (trainer.precision=%s)", precision_name(autocast), settings.precision)
    t = _Training(model, model, optimizer, scheduler, budget, max_steps, batch, averager, autocast)
    ckpt = load_checkpoint(resume_from) if resume_from is not None and dist.is_main else None
    if dist.enabled:
        ckpt = broadcast_object(ckpt, dist)  # rank 0 read it (from MLflow); the others get a copy
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("budget") and budget.enabled:   # the budget's time spent and plan so far;
            budget.load_state_dict(ckpt["budget"])  # without a budget the plan follows trainer.epochs
        averager.load_state_dict(ckpt.get("average"))
        restore_rng(ckpt["rng"])
        t.start_epoch, t.history, t.best = ckpt["epoch"] + 1, ckpt["history"], ckpt["best"]
        log.info("resuming at epoch %d from %s", t.start_epoch, resume_from or "rank 0's checkpoint")
    if dist.rank > 0:  # own augmentation draws; rank 0 keeps the single-process stream
        torch.manual_seed(seed + 7919 * dist.rank + t.start_epoch)
    if dist.enabled:  # gradients averaged over the processes; parameters start equal (broadcast from rank 0)
        t.net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return t


def _validation_row(task: str, model: nn.Module, val_loader: DataLoader, positive: int, tr: dict) -> dict:
    """The epoch's train means and validation metrics, as logged."""
    if task == "detection":
        va = validate_detector(model, val_loader)
        return {"train_loss": tr["loss"], "train_bbox_loss": tr["bbox_regression"],
                "train_cls_loss": tr["classification"], "val_loss": va["loss"], "val_map50": va["map50"]}
    va = validate_classifier(model, val_loader, positive=positive)
    return {"train_loss": tr["loss"], "train_accuracy": tr["accuracy"], "val_loss": va["loss"],
            "val_accuracy": va["accuracy"], "val_precision": va["precision"], "val_recall": va["recall"]}


def fit(task: str, model: nn.Module, train_set: Dataset, val_set: Dataset, settings: TrainerSettings,
        classes: list[str], seed: int, workdir: Path, resume_from: Path | None = None,
        dist: DistContext = SINGLE, tracker: Tracker | None = None) -> FitResult | None:
    """Train ``model`` and return its best state (by the val selection metric) and calibration
    (``None`` on ranks other than 0 of a multi-process run).

    With ``settings.max_minutes`` the schedule is planned for that budget (``training.budget``): the
    run takes as many steps as fit, at most ``settings.epochs`` passes over ``train_set``. Metrics,
    checkpoints and plots go to ``tracker`` (default: the active MLflow run on rank 0, nowhere on
    the other ranks)."""
    if task not in SELECTION_METRIC:
        raise ValueError(f"unknown task {task!r}; valid: {list(SELECTION_METRIC)}")
    metric_name = SELECTION_METRIC[task]
    hooks = FitHooks(tracker or (MlflowTracker() if dist.is_main else NullTracker()), workdir)
    t = _prepare(task, model, train_set, val_set, settings, seed, resume_from, dist)
    scheduler, budget, batch = t.scheduler, t.budget, t.batch
    val_loader = _loader(val_set, task, settings.batch_size, False, seed, settings.num_workers)
    positive = _positive_index(classes)
    budget.start()
    epoch = t.start_epoch

    def on_step(step: int) -> bool:
        t.averager.after_step(step)
        return budget.after_step(step)

    while scheduler.last_epoch < budget.plan.total_steps:
        t0 = time.monotonic()
        train_loader = _loader(train_set, task, batch, True, seed + epoch, settings.num_workers, dist)
        try:
            tr = _train_epoch(task, t.net, t.optimizer, scheduler, train_loader, epoch, settings.augment,
                              on_step, t.autocast)
        except NonFiniteLossError as exc:
            kept = f"last good checkpoint: {workdir / 'last.pth'} (epoch {epoch - 1}, also in the run's " \
                   f"checkpoints/)" if epoch > 1 else "no epoch finished, so there is no checkpoint"
            raise NonFiniteLossError(f"{exc}; training stopped, {kept}") from exc
        images = tr.pop("images")
        tr, images = average_weighted(tr, images, dist)  # per-image means over every rank's images
        train_seconds = time.monotonic() - t0
        if dist.is_main:
            t_val = time.monotonic()
            row = _validation_row(task, model, val_loader, positive, tr)
            val_seconds = time.monotonic() - t_val
            seconds = time.monotonic() - t0
            row |= {"epoch_seconds": seconds, "val_seconds": val_seconds,
                    "train_images_per_s": images / max(train_seconds, 1e-9),
                    "lr": scheduler.get_last_lr()[0], "step": float(scheduler.last_epoch)}
            budget.after_validation(val_seconds, scheduler.last_epoch)
            row["planned_steps"] = float(budget.plan.total_steps)
            t.history.append({"epoch": epoch, **row})
            if row[metric_name] > t.best["metric"]:
                t.best = {"metric": row[metric_name], "epoch": epoch, "state": plain_state(model)}
            log.info("epoch %d  step %d/%d  train_loss %.4f  val_loss %.4f  %s %.4f  (best %.4f @%d)  %.0fs",
                     epoch, scheduler.last_epoch, budget.plan.total_steps, row["train_loss"], row["val_loss"],
                     metric_name, row[metric_name], t.best["metric"], t.best["epoch"], seconds)
            hooks.on_epoch_end(epoch, row, t)
        # rank 0's plan decides, so every rank leaves after the same epoch
        budget.plan.total_steps = broadcast_object(budget.plan.total_steps, dist)
        epoch += 1
    stopped_early = budget.enabled and scheduler.last_epoch < t.max_steps
    if budget.enabled:
        log.info("time budget of %.1f min: %d steps in %.1f min", settings.max_minutes, scheduler.last_epoch,
                 budget.elapsed() / 60)
    if not dist.is_main:
        return None
    hooks.tracker.log_metrics(budget.summary())
    best = _with_average(task, model, val_loader, positive, t, Average(**settings.average).max_val_drop,
                         hooks.tracker)
    if best["state"] is None:
        raise NonFiniteLossError("no epoch finished; nothing to keep")
    model.load_state_dict(best["state"])
    model.eval()
    threshold, per_class, final = hooks.on_fit_end(task, model, val_set, val_loader, classes, settings.calibration,
                                                   t.history, best["epoch"])
    return FitResult(best_epoch=best["epoch"], best_metric=best["metric"], metric_name=metric_name,
                     score_threshold=threshold, state_dict=best["state"], history=t.history, final_val=final,
                     stopped_early=stopped_early, class_thresholds=per_class)


def _with_average(task: str, model: nn.Module, val_loader: DataLoader, positive: int, t: _Training,
                  max_val_drop: float, tracker: Tracker) -> dict:
    """The state to ship: the tail average when there is one and its val metric is within
    ``max_val_drop`` of the best epoch's (a broken average must not replace a good epoch), else the
    best epoch. Both metrics are logged."""
    averaged = t.averager.averaged_state()
    if averaged is None or t.averager.snapshots < 2 or t.best["state"] is None:
        return t.best
    model.load_state_dict(averaged)
    name = SELECTION_METRIC[task]
    va = validate_detector(model, val_loader) if task == "detection" else \
        validate_classifier(model, val_loader, positive=positive)
    metric = va[name.removeprefix("val_")]
    used = metric >= t.best["metric"] - max_val_drop
    tracker.log_metrics({"average_snapshots": float(t.averager.snapshots),
                         "average_start_step": float(t.averager.start_step()),
                         f"averaged_{name}": metric, "averaged_val_loss": va["loss"], "average_used": float(used)})
    log.info("weight average of %d snapshots from step %d: %s %.4f (best epoch %d: %.4f) -> %s",
             t.averager.snapshots, t.averager.start_step(), name, metric, t.best["epoch"], t.best["metric"],
             "shipping the average" if used else "keeping the best epoch")
    if not used:
        return t.best
    return {"metric": metric, "epoch": t.history[-1]["epoch"], "state": averaged}


def calibrate_best(task: str, model: nn.Module, val_set: Dataset, val_loader: DataLoader, classes: list[str],
                   cal: dict, tracker: Tracker) -> tuple[float, dict[str, float], dict[str, float]]:
    """The best state's thresholds on the validation split, per target class (detector: keep
    ``target_recall`` of the true boxes; verifier: accept at most ``max_false_positive_rate`` of the
    negatives), its final validation metrics, and the plot of them (val detections / confusion)."""
    targets = [c for c in classes if c != "background"] if task == "detection" else \
        [c for c in classes if c not in NEGATIVE_LABELS]
    per_class: dict[str, float] = {}
    if task == "detection":
        va = validate_detector(model, val_loader)
        for i, c in enumerate(targets):   # label i + 1: class 0 is the background
            per_class[c] = calibrate.detector_threshold(va["predictions"], va["truths"], close_label=i + 1,
                                                        target_recall=float(cal["target_recall"]))
        # one threshold for readers of score_threshold alone: every class's proposals pass it
        threshold = per_class["close"] if list(per_class) == ["close"] else min(per_class.values())
        images = [val_set[i][0] for i in range(min(8, len(val_set)))]
        tracker.log_figure(plots.detection_gallery(images, va["predictions"], va["truths"], threshold),
                           "plots/val_detections.png")
        return threshold, per_class, {"val_map50": va["map50"], "val_loss": va["loss"]}
    positive = _positive_index(classes)
    va = validate_classifier(model, val_loader, positive=positive)
    for c in targets:
        per_class[c] = calibrate.verifier_threshold(
            va["probs"], va["labels"], positive=classes.index(c),
            max_false_positive_rate=float(cal["max_false_positive_rate"]))
    # score_threshold stays p(close)'s threshold: what GameEye used before classes came from projects
    threshold = per_class[classes[positive]]
    tracker.log_figure(plots.confusion_matrix(va["probs"], va["labels"], classes), "plots/confusion_matrix.png")
    neg = va["labels"] != positive
    pos_p = va["probs"][:, positive]
    final = {"val_accuracy": va["accuracy"], "val_precision": va["precision"], "val_recall": va["recall"],
             "val_recall_at_threshold": float((pos_p[~neg] >= threshold).float().mean()) if (~neg).any() else 0.0,
             "val_fpr_at_threshold": float((pos_p[neg] >= threshold).float().mean()) if neg.any() else 0.0}
    return threshold, per_class, final


def calibration_crops(dataset_dir: Path, classes: list[str], per_class: int = 32) -> torch.Tensor:
    """uint8 [N, S, S, 3]: the first ``per_class`` validation crops of each class of a verifier
    dataset. Stored in the weight file, they let GameEye quantize the verifier to int8 on the
    server (``game_eye.quantize``) without the dataset."""
    import numpy as np
    from PIL import Image

    crops = []
    for cls in classes:
        files = sorted((Path(dataset_dir) / "val" / cls).glob("*.png"), key=lambda p: int(p.stem))[:per_class]
        crops += [np.asarray(Image.open(f).convert("RGB"), dtype=np.uint8) for f in files]
    if not crops:
        raise ValueError(f"verifier dataset {dataset_dir} has no validation crops to calibrate with")
    return torch.from_numpy(np.stack(crops))


def weight_payload(result: FitResult, arch: str, classes: list[str], image_size: Any, model_kwargs: dict,
                   dataset_digest: str, run_id: str, model_name: str) -> dict[str, Any]:
    """The gaa-weights/1 document for the best state (``version`` is filled in at registration)."""
    return {"arch": arch, "num_classes": len(classes), "classes": list(classes), "image_size": image_size,
            "model_kwargs": model_kwargs, "state_dict": result.state_dict,
            "score_threshold": float(result.score_threshold),
            "class_thresholds": {c: float(t) for c, t in result.class_thresholds.items()},
            "run_id": run_id, "model_name": model_name,
            "dataset_digest": dataset_digest, "val_metric_name": result.metric_name,
            "val_metric": float(result.best_metric)}
