"""torch Datasets over a built dataset directory (see :mod:`gaa_mlops.data.build` for the layout).

    ds = DetectionDataset(root, "train")          # (image CHW float [0,1], {"boxes": [N,4] xyxy, "labels": [N]})
    loader = DataLoader(ds, batch_size=16, collate_fn=collate_detection)
    ds = ClassificationDataset(root, "val", classes=["close", "not_close"])   # (image, class index)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from gaa_mlops.data.build import MANIFEST, SPLITS


class DatasetMismatchError(ValueError):
    """The dataset on disk is not what the caller expects (task, classes, split)."""


def read_manifest(root: str | Path) -> dict:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DatasetMismatchError(f"{root}: no {MANIFEST}; not a complete dataset directory")
    return json.loads(path.read_text())


def _to_tensor(img: Image.Image) -> torch.Tensor:
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def _jitter(x: torch.Tensor) -> torch.Tensor:
    """Random brightness and contrast (a light train-time augmentation; boxes are unchanged).
    Uses torch's RNG, which DataLoader seeds per worker (seed it with torch.manual_seed)."""
    b, c = (torch.rand(2) * 0.5 + 0.75).tolist()
    mean = x.mean()
    return ((x * b - mean) * c + mean).clamp_(0.0, 1.0)


class _Base(Dataset):
    def __init__(self, root, split: str, task: str, classes: Sequence[str] | None, augment: bool):
        if split not in SPLITS:
            raise DatasetMismatchError(f"unknown split {split!r}; valid: {list(SPLITS)}")
        self.root = Path(root)
        self.split = split
        self.manifest = read_manifest(self.root)
        if self.manifest.get("task") != task:
            raise DatasetMismatchError(f"{self.root}: a {self.manifest.get('task')} dataset, expected {task}")
        self.classes = list(self.manifest["classes"])
        if classes is not None and task == "detection":
            classes = [c for c in classes if c != "background"]     # the model's implicit class 0
        if classes is not None and list(classes) != self.classes:
            raise DatasetMismatchError(f"{self.root}: dataset classes {self.classes} do not match the "
                                       f"expected classes {list(classes)} (same names, same order)")
        self.image_size = tuple(self.manifest["image_size"])
        self.augment = augment


WINDOW_TRIES = 8              # random window offsets tried for one that cuts no box


def _window_top(height: int, window: int, boxes: torch.Tensor) -> int:
    """Top row of a ``window``-row band of an image ``height`` rows high: around one of ``boxes``
    (drawn at random) when there are any, placed so that no box is cut in two if it can be."""
    span = height - window
    lo, hi = 0, span
    if len(boxes):
        b = boxes[int(torch.randint(len(boxes), (1,)))]
        lo, hi = max(0, int(b[3].ceil()) - window), min(span, int(b[1].floor()))
        if lo > hi:               # a box taller than the window: centre on it
            return int(min(span, max(0, (b[1] + b[3] - window) / 2)))
    top = lo
    for _ in range(WINDOW_TRIES):
        top = int(torch.randint(lo, hi + 1, (1,)))
        if not any(b[1] < top < b[3] or b[1] < top + window < b[3] for b in boxes):
            break
    return top


class DetectionDataset(_Base):
    """Screens at image_size; target ``{"boxes": float [N, 4] xyxy pixels, "labels": int64 [N]}``.

    ``window`` (a share of the rows, 0 < window <= 1): each sample is a random full-width band that
    high, around a box when the screen has one, instead of the whole screen. The detector is fully convolutional, so it
    still runs on whole screens; a band costs less than half the compute of a 576-row screen and
    keeps its button, so training sees about twice the buttons per minute. Boxes the band cuts are
    clipped to it (those left with less than half their height are dropped)."""

    def __init__(self, root, split: str = "train", classes: Sequence[str] | None = None,
                 augment: bool = False, window: float | None = None):
        super().__init__(root, split, "detection", classes, augment)
        if window is not None and not 0 < float(window) <= 1:
            raise ValueError(f"detector window {window} is not a share of the screen's rows (0 < window <= 1)")
        rows = None if window is None else max(1, round(float(window) * self.image_size[0]))
        self.window = rows if rows is not None and rows < self.image_size[0] else None
        coco = json.loads((self.root / split / "annotations.json").read_text())
        self.images = sorted(coco["images"], key=lambda im: im["id"])
        self._anns: dict[int, list] = {}
        for a in coco["annotations"]:
            self._anns.setdefault(a["image_id"], []).append(a)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        im = self.images[i]
        with Image.open(self.root / self.split / im["file_name"]) as f:
            x = _to_tensor(f)
        anns = self._anns.get(im["id"], [])
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                               a["bbox"][1] + a["bbox"][3]] for a in anns], dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
        if self.window is not None:
            x, boxes, labels = self._band(x, boxes, labels)
        if self.augment:
            x = _jitter(x)
        return x, {"boxes": boxes, "labels": labels, "image_id": int(im["id"])}

    def _band(self, x: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor):
        top = _window_top(x.shape[1], self.window, boxes)
        x = x[:, top:top + self.window]
        clipped = boxes.clone()
        clipped[:, [1, 3]] = (boxes[:, [1, 3]] - top).clamp(0, self.window)
        keep = (clipped[:, 3] - clipped[:, 1]) >= 0.5 * (boxes[:, 3] - boxes[:, 1])
        return x.contiguous(), clipped[keep], labels[keep]


class ClassificationDataset(_Base):
    """Square crops; label = index of the class folder in ``classes`` order."""

    def __init__(self, root, split: str = "train", classes: Sequence[str] | None = None,
                 augment: bool = False):
        super().__init__(root, split, "classification", classes, augment)
        self.samples: list[tuple[Path, int]] = []
        for k, cls in enumerate(self.classes):
            folder = self.root / split / cls
            if not folder.is_dir():
                raise DatasetMismatchError(f"{folder}: missing class folder for {cls!r}")
            files = sorted(folder.glob("*.png"), key=lambda p: int(p.stem) if p.stem.isdigit() else p.stem)
            self.samples += [(p, k) for p in files]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        with Image.open(path) as f:
            x = _to_tensor(f)
        if self.augment:
            x = _jitter(x)
        return x, label


def collate_detection(batch):
    """For DataLoader: a tuple of images and a tuple of targets (torchvision detection style)."""
    images, targets = zip(*batch)
    return list(images), list(targets)
