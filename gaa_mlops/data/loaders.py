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


class DetectionDataset(_Base):
    """Screens at image_size; target ``{"boxes": float [N, 4] xyxy pixels, "labels": int64 [N]}``."""

    def __init__(self, root, split: str = "train", classes: Sequence[str] | None = None,
                 augment: bool = False):
        super().__init__(root, split, "detection", classes, augment)
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
        if self.augment:
            x = _jitter(x)
        return x, {"boxes": boxes, "labels": labels, "image_id": int(im["id"])}


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
