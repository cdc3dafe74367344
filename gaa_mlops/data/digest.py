"""Content address of a dataset: what goes in decides the digest, nothing else.

The digest covers each project's files (sorted relative paths and their bytes: project.yaml, sources,
annotations), the recipe (``model.dataset``), the task, image size, classes and :data:`BUILDER_VERSION`.
Bump ``BUILDER_VERSION`` whenever a change to the builder changes what it writes.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from gaa_mlops.projects import Project
from game_eye.weights import file_sha256

BUILDER_VERSION = "gaa-dataset/4"


def normalize_image_size(image_size: int | Sequence[int]) -> tuple[int, int]:
    """``64`` -> (64, 64); ``[576, 320]`` -> (576, 320), always [H, W]."""
    if isinstance(image_size, (int, float)) and not isinstance(image_size, bool):
        return (int(image_size), int(image_size))
    size = [int(v) for v in image_size]
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"image_size must be an int or [H, W], got {image_size!r}")
    return (size[0], size[1])


def dataset_digest(projects: Sequence[Project], task: str, image_size, classes: Sequence[str],
                   recipe: dict[str, Any]) -> str:
    """sha256 hex digest of everything a dataset build reads."""
    h = hashlib.sha256()
    header = {
        "builder_version": BUILDER_VERSION,
        "task": task,
        "image_size": list(normalize_image_size(image_size)),
        "classes": list(classes),
        "recipe": recipe,
    }
    h.update(json.dumps(header, sort_keys=True, default=str).encode())
    for p in sorted(projects, key=lambda p: p.name):
        for f in p.files():
            rel = f"{p.name}/{f.relative_to(p.root).as_posix()}"
            h.update(f"\0{rel}\0{file_sha256(f)}".encode())
    return h.hexdigest()
