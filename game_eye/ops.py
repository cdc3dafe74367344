"""The numpy post-processing both GameEye paths share (eager torch and ONNX Runtime): NMS as
torchvision.ops does it, and softmax. No torch import, so the ONNX path runs without it."""
from __future__ import annotations

import numpy as np

# Up to this many candidates, NMS reads one IoU matrix (at most 4 MB) instead of recomputing a row of
# IoUs per kept box: the detector's 100 candidates take ~0.2 ms instead of ~3.
_MATRIX_NMS_MAX = 1024


def _iou_with(i, x1, y1, x2, y2, areas, rest):
    """IoU of box ``i`` with the boxes ``rest`` (float32, as torchvision computes it)."""
    w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
    h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
    inter = w * h
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 for empty boxes: NaN, never > iou (as torch)
        return inter / (areas[i] + areas[rest] - inter)


def _iou_matrix(x1, y1, x2, y2, areas):
    """IoU of every box with every box: the same float32 operations as ``_iou_with``, broadcast."""
    w = np.maximum(np.float32(0), np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None]))
    h = np.maximum(np.float32(0), np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None]))
    inter = w * h
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (areas[:, None] + areas[None] - inter)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """``torchvision.ops.nms`` in numpy: indices kept, by decreasing score; a box is dropped when
    its IoU with a kept, higher-scoring box is > ``iou``."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    b = boxes.astype(np.float32, copy=False)[order]
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    n = len(b)
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    if n <= _MATRIX_NMS_MAX:
        overlaps = _iou_matrix(x1, y1, x2, y2, areas) > iou
        for i in range(n):
            if not suppressed[i]:
                keep.append(i)
                suppressed |= overlaps[i]  # marks earlier kept boxes too: they are never looked at again
        return order[np.asarray(keep, dtype=np.int64)]
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = np.arange(i + 1, n)
        rest = rest[~suppressed[rest]]
        if len(rest):
            suppressed[rest[_iou_with(i, x1, y1, x2, y2, areas, rest) > iou]] = True
    return order[np.asarray(keep, dtype=np.int64)]


def batched_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou: float) -> np.ndarray:
    """``torchvision.ops.batched_nms``: NMS per label, merged by decreasing score."""
    keep = [np.nonzero(labels == lab)[0][nms(boxes[labels == lab], scores[labels == lab], iou)]
            for lab in np.unique(labels)]
    if not keep:
        return np.zeros(0, dtype=np.int64)
    keep = np.concatenate(keep)
    return keep[np.argsort(-scores[keep], kind="stable")]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
