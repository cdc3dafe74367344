"""The one COCO writer: datasets' ``{train,val}/annotations.json`` and the detection projects'
``annotations.json`` (``projects/_drawing``) are written here.

    write_coco(path, images, annotations, categories)             # compact (datasets)
    write_coco(path, images, annotations, categories, indent=1)   # one key a line (projects, read by people)

Boxes are COCO's ``[x, y, width, height]`` in pixels; ``coco_box`` turns ``[x1, y1, x2, y2]`` into it.
The file is written under a temp name and renamed, so a reader never sees half of one.
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

from game_eye.atomic import atomic_write_bytes


def coco_box(x1: float, y1: float, x2: float, y2: float, ndigits: int = 3) -> dict[str, Any]:
    """The ``bbox`` and ``area`` of a COCO annotation for a corner-form box."""
    return {"bbox": [round(x1, ndigits), round(y1, ndigits), round(x2 - x1, ndigits), round(y2 - y1, ndigits)],
            "area": round((x2 - x1) * (y2 - y1), ndigits)}


def write_coco(path: str | os.PathLike, images: Sequence[dict], annotations: Sequence[dict],
               categories: Sequence[dict], indent: int | None = None) -> None:
    """Write ``{"images", "annotations", "categories"}`` to ``path`` (UTF-8, names as they are)."""
    doc = {"images": list(images), "annotations": list(annotations), "categories": list(categories)}
    atomic_write_bytes(path, json.dumps(doc, indent=indent, ensure_ascii=False).encode("utf-8"))
