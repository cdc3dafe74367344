"""One epoch of training and one pass of validation, for each task. Plain objects in, numbers out."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from game_eye.models import normalize_classifier_batch

OnStep = Callable[[int], bool]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; training stops and keeps the last good checkpoint."""


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _to(images, targets, device):
    moved = [{k: v.to(device) if torch.is_tensor(v) else v for k, v in t.items()} for t in targets]
    return [i.to(device) for i in images], moved


def _autocast(device: torch.device, dtype: torch.dtype | None):
    """The training forward's autocast context (``gaa_mlops.training.precision``); off for ``None``."""
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def _check_finite(loss: torch.Tensor, epoch: int, step: int) -> None:
    if not math.isfinite(loss.item()):
        raise NonFiniteLossError(f"loss is {loss.item()} at epoch {epoch}, batch {step}")


def train_detector_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, loader: DataLoader,
                         epoch: int, desc: str = "train", on_step: OnStep | None = None,
                         autocast: torch.dtype | None = None) -> dict[str, float]:
    """SSD: the model returns its regression and classification losses in train mode.

    ``on_step(global_step)`` runs after every optimizer step; the epoch ends early when it returns
    False (the training budget's plan is complete). ``autocast`` (``torch.bfloat16``) runs the
    forward and the losses in mixed precision; the weights and their update stay float32."""
    model.train()
    totals = {"loss": 0.0, "bbox_regression": 0.0, "classification": 0.0}
    seen = 0
    bar = tqdm(loader, desc=f"{desc} epoch {epoch}", leave=False, dynamic_ncols=True)
    dev = _device(model)
    for step, (images, targets) in enumerate(bar):
        images, targets = _to(images, targets, dev)
        with _autocast(dev, autocast):
            losses = model(images, targets)
            loss = sum(losses.values())
        _check_finite(loss, epoch, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        scheduler.step()
        n = len(images)
        seen += n
        totals["loss"] += loss.item() * n
        for k, v in losses.items():
            totals[k] += v.item() * n
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{scheduler.get_last_lr()[0]:.4f}")
        if on_step is not None and not on_step(scheduler.last_epoch):
            break
    return {k: v / max(seen, 1) for k, v in totals.items()} | {"images": seen}


def train_classifier_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, loader: DataLoader,
                           epoch: int, augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                           desc: str = "train", on_step: OnStep | None = None,
                           autocast: torch.dtype | None = None) -> dict[str, float]:
    """One pass of the verifier over ``loader`` (channels-last batches: faster convolutions on CPU);
    ``on_step`` and ``autocast`` as in :func:`train_detector_epoch`."""
    model.train()
    total, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=f"{desc} epoch {epoch}", leave=False, dynamic_ncols=True)
    dev = _device(model)
    for step, (x, y) in enumerate(bar):
        x, y = x.to(dev), y.to(dev)
        if augment is not None:
            x = augment(x)
        with _autocast(dev, autocast):
            logits = model(normalize_classifier_batch(x).contiguous(memory_format=torch.channels_last))
            loss = nn.functional.cross_entropy(logits, y)
        _check_finite(loss, epoch, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        seen += len(y)
        total += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{scheduler.get_last_lr()[0]:.4f}")
        if on_step is not None and not on_step(scheduler.last_epoch):
            break
    return {"loss": total / max(seen, 1), "accuracy": correct / max(seen, 1), "images": seen}


def _freeze_batchnorm(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


@torch.no_grad()
def validate_detector(model: nn.Module, loader: DataLoader, close_label: int = 1) -> dict:
    """Val loss (train-mode losses with BN frozen), mAP@0.5 (torchmetrics) and raw predictions."""
    from torchmetrics.detection import MeanAveragePrecision

    # sync_on_compute=False: under torchrun only rank 0 validates; torchmetrics' default all-gather
    # in compute() would wait forever for the other ranks
    metric = MeanAveragePrecision(iou_thresholds=[0.5], box_format="xyxy", sync_on_compute=False)
    loss_sum, seen = 0.0, 0
    predictions, truths = [], []
    dev = _device(model)
    for images, targets in tqdm(loader, desc="val", leave=False, dynamic_ncols=True):
        images, targets = _to(images, targets, dev)
        model.train()
        _freeze_batchnorm(model)
        losses = model(images, targets)
        loss_sum += float(sum(losses.values())) * len(images)
        seen += len(images)
        model.eval()
        outputs = [{k: v.cpu() for k, v in o.items()} for o in model(images)]
        targets = [{k: t[k].cpu() for k in ("boxes", "labels")} for t in targets]
        metric.update(outputs, targets)
        predictions.extend(outputs)
        truths.extend(targets)
    model.eval()
    result = metric.compute()
    return {
        "loss": loss_sum / max(seen, 1),
        "map50": float(result["map_50"]) if float(result["map_50"]) >= 0 else 0.0,
        "predictions": predictions,
        "truths": truths,
    }


@torch.no_grad()
def validate_classifier(model: nn.Module, loader: DataLoader, positive: int = 0) -> dict:
    """Val loss, accuracy, and precision/recall of the ``positive`` class (``close``) at argmax."""
    model.eval()
    loss_sum, probs, labels = 0.0, [], []
    dev = _device(model)
    for x, y in tqdm(loader, desc="val", leave=False, dynamic_ncols=True):
        x, y = x.to(dev), y.to(dev)
        logits = model(normalize_classifier_batch(x).contiguous(memory_format=torch.channels_last))
        loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
        probs.append(torch.softmax(logits, 1).cpu())
        labels.append(y.cpu())
    p = torch.cat(probs) if probs else torch.zeros(0, 2)
    y = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    pred = p.argmax(1)
    tp = int(((pred == positive) & (y == positive)).sum())
    fp = int(((pred == positive) & (y != positive)).sum())
    fn = int(((pred != positive) & (y == positive)).sum())
    n = max(len(y), 1)
    return {
        "loss": loss_sum / n,
        "accuracy": float((pred == y).sum()) / n,
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
        "probs": p,
        "labels": y,
    }
