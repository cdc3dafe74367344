"""The epoch loop shared by both models: train, validate, checkpoint, keep the best, calibrate.

``fit`` receives built objects and plain settings (never the Hydra config) and reports through
MLflow's active run: metrics with ``step=epoch``, ``checkpoints/last.pth`` after every epoch.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from gaa_mlops.training import calibrate, plots
from gaa_mlops.training.checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from gaa_mlops.training.loops import (
    NonFiniteLossError,
    detection_collate,
    train_classifier_epoch,
    train_detector_epoch,
    validate_classifier,
    validate_detector,
)
from gaa_mlops.training.optim import build_optimizer, build_scheduler

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
    resume: str | None = None
    max_minutes: float | None = None
    augment: bool = True
    calibration: dict = field(default_factory=lambda: {"target_recall": 0.99, "max_false_positive_rate": 0.005})


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


def _classifier_augment(x: torch.Tensor) -> torch.Tensor:
    """Random horizontal flip and brightness/contrast jitter, drawn from torch's RNG."""
    n = x.shape[0]
    flip = torch.rand(n) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    gain = 1 + (torch.rand(n, 1, 1, 1) - 0.5) * 0.4
    bias = (torch.rand(n, 1, 1, 1) - 0.5) * 0.2
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * gain + mean + bias).clamp(0, 1)


def _loader(ds: Dataset, task: str, batch_size: int, shuffle: bool, seed: int, workers: int) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=gen, num_workers=workers,
                      collate_fn=detection_collate if task == "detection" else None)


def fit(task: str, model: nn.Module, train_set: Dataset, val_set: Dataset, settings: TrainerSettings,
        classes: list[str], seed: int, workdir: Path, resume_from: Path | None = None) -> FitResult:
    """Train ``model`` and return its best state (by the val selection metric) and calibration."""
    if task not in SELECTION_METRIC:
        raise ValueError(f"unknown task {task!r}; valid: {list(SELECTION_METRIC)}")
    metric_name = SELECTION_METRIC[task]
    device = torch.device(settings.device)
    model.to(device)
    optimizer = build_optimizer(settings.optimizer, model.parameters(), settings.lr, settings.momentum,
                                settings.weight_decay)
    steps_per_epoch = max(1, -(-len(train_set) // settings.batch_size))
    scheduler = build_scheduler(settings.scheduler, optimizer, settings.epochs * steps_per_epoch,
                                settings.warmup_epochs * steps_per_epoch)
    start_epoch, history, best = 1, [], {"metric": -1.0, "epoch": 0, "state": None}
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        restore_rng(ckpt["rng"])
        start_epoch, history, best = ckpt["epoch"] + 1, ckpt["history"], ckpt["best"]
        log.info("resuming at epoch %d from %s", start_epoch, resume_from)

    val_loader = _loader(val_set, task, settings.batch_size, False, seed, settings.num_workers)
    positive = classes.index("close") if "close" in classes else 0
    started, stopped_early = time.monotonic(), False
    for epoch in range(start_epoch, settings.epochs + 1):
        t0 = time.monotonic()
        train_loader = _loader(train_set, task, settings.batch_size, True, seed + epoch, settings.num_workers)
        if task == "detection":
            tr = train_detector_epoch(model, optimizer, scheduler, train_loader, epoch)
            va = validate_detector(model, val_loader)
            row = {"train_loss": tr["loss"], "train_bbox_loss": tr["bbox_regression"],
                   "train_cls_loss": tr["classification"], "val_loss": va["loss"], "val_map50": va["map50"]}
        else:
            aug = _classifier_augment if settings.augment else None
            tr = train_classifier_epoch(model, optimizer, scheduler, train_loader, epoch, augment=aug)
            va = validate_classifier(model, val_loader, positive=positive)
            row = {"train_loss": tr["loss"], "train_accuracy": tr["accuracy"], "val_loss": va["loss"],
                   "val_accuracy": va["accuracy"], "val_precision": va["precision"], "val_recall": va["recall"]}
        seconds = time.monotonic() - t0
        row |= {"epoch_seconds": seconds, "train_images_per_s": tr["images"] / max(seconds, 1e-9),
                "lr": scheduler.get_last_lr()[0]}
        mlflow.log_metrics(row, step=epoch)
        history.append({"epoch": epoch, **row})
        if row[metric_name] > best["metric"]:
            best = {"metric": row[metric_name], "epoch": epoch,
                    "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
        log.info("epoch %d/%d  train_loss %.4f  val_loss %.4f  %s %.4f  (best %.4f @%d)  %.0fs",
                 epoch, settings.epochs, row["train_loss"], row["val_loss"], metric_name, row[metric_name],
                 best["metric"], best["epoch"], seconds)
        last = save_checkpoint(workdir / "last.pth", model=model.state_dict(), optimizer=optimizer.state_dict(),
                               scheduler=scheduler.state_dict(), rng=rng_state(), epoch=epoch,
                               history=history, best=best)
        mlflow.log_artifact(str(last), artifact_path="checkpoints")
        if settings.max_minutes and (time.monotonic() - started) / 60 >= settings.max_minutes:
            stopped_early = epoch < settings.epochs
            log.info("time budget of %.1f min reached after epoch %d", settings.max_minutes, epoch)
            break

    if best["state"] is None:
        raise NonFiniteLossError("no epoch finished; nothing to keep")
    model.load_state_dict(best["state"])
    model.eval()
    mlflow.log_figure(plots.loss_curves(history, metric_name), "plots/loss_curves.png")
    cal = settings.calibration
    if task == "detection":
        va = validate_detector(model, val_loader)
        threshold = calibrate.detector_threshold(va["predictions"], va["truths"],
                                                 target_recall=float(cal["target_recall"]))
        images = [val_set[i][0] for i in range(min(8, len(val_set)))]
        mlflow.log_figure(plots.detection_gallery(images, va["predictions"], va["truths"], threshold),
                          "plots/val_detections.png")
        final = {"val_map50": va["map50"], "val_loss": va["loss"]}
    else:
        va = validate_classifier(model, val_loader, positive=positive)
        threshold = calibrate.verifier_threshold(va["probs"], va["labels"], positive=positive,
                                                 max_false_positive_rate=float(cal["max_false_positive_rate"]))
        mlflow.log_figure(plots.confusion_matrix(va["probs"], va["labels"], classes), "plots/confusion_matrix.png")
        neg = va["labels"] != positive
        pos_p = va["probs"][:, positive]
        final = {"val_accuracy": va["accuracy"], "val_precision": va["precision"], "val_recall": va["recall"],
                 "val_recall_at_threshold": float((pos_p[~neg] >= threshold).float().mean()) if (~neg).any() else 0.0,
                 "val_fpr_at_threshold": float((pos_p[neg] >= threshold).float().mean()) if neg.any() else 0.0}
    mlflow.log_metrics({"best_epoch": best["epoch"], "score_threshold": threshold,
                        **{f"best_{k}": v for k, v in final.items()}})
    return FitResult(best_epoch=best["epoch"], best_metric=best["metric"], metric_name=metric_name,
                     score_threshold=threshold, state_dict=best["state"], history=history, final_val=final,
                     stopped_early=stopped_early)


def weight_payload(result: FitResult, arch: str, classes: list[str], image_size: Any, model_kwargs: dict,
                   dataset_digest: str, run_id: str, model_name: str) -> dict[str, Any]:
    """The gaa-weights/1 document for the best state (``version`` is filled in at registration)."""
    return {"arch": arch, "num_classes": len(classes), "classes": list(classes), "image_size": image_size,
            "model_kwargs": model_kwargs, "state_dict": result.state_dict,
            "score_threshold": float(result.score_threshold), "run_id": run_id, "model_name": model_name,
            "dataset_digest": dataset_digest, "val_metric_name": result.metric_name,
            "val_metric": float(result.best_metric)}
