"""Score thresholds for the bot's operating point, chosen on validation data.

The detector only proposes, so its threshold favours recall: the highest threshold that still
keeps ``target_recall`` of the true close buttons. The verifier decides whether the bot taps, so its
threshold favours few false taps: the lowest threshold whose false-positive rate on ``not_close``
crops is at most ``max_false_positive_rate`` (never below 0.5, so "more likely not" never taps).
"""
from __future__ import annotations

import torch
from torchvision.ops import box_iou


def detector_threshold(predictions: list[dict], truths: list[dict], close_label: int = 1,
                       target_recall: float = 0.99, iou: float = 0.3, floor: float = 0.02,
                       ceiling: float = 0.5) -> float:
    """For each true close box, the best score of a close prediction overlapping it; take the
    (1 - target_recall) quantile of those scores."""
    best = []
    for pred, truth in zip(predictions, truths):
        gt = truth["boxes"][truth["labels"] == close_label]
        if len(gt) == 0:
            continue
        keep = pred["labels"] == close_label
        boxes, scores = pred["boxes"][keep], pred["scores"][keep]
        if len(boxes) == 0:
            best.extend([0.0] * len(gt))
            continue
        overlap = box_iou(gt, boxes) >= iou
        for row in overlap:
            best.append(float(scores[row].max()) if row.any() else 0.0)
    if not best:
        return floor
    q = float(torch.quantile(torch.tensor(best), 1 - target_recall))
    return float(min(max(q, floor), ceiling))


def verifier_threshold(probs: torch.Tensor, labels: torch.Tensor, positive: int = 0,
                       max_false_positive_rate: float = 0.005, floor: float = 0.5) -> float:
    """Lowest threshold on p(positive) whose false-positive rate on negatives is within the bound."""
    neg = probs[labels != positive, positive]
    if len(neg) == 0:
        return floor
    allowed = int(max_false_positive_rate * len(neg))
    sorted_neg = torch.sort(neg, descending=True).values
    # threshold just above the (allowed+1)-th highest negative score
    thr = float(sorted_neg[allowed]) + 1e-6 if allowed < len(sorted_neg) else 0.0
    return float(min(max(thr, floor), 0.999))
