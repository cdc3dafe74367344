"""Self-describing training checkpoints (``last.pth``) for resume, written atomically."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from game_eye.atomic import atomic_target

CHECKPOINT_FORMAT = "gaa-checkpoint/1"


def rng_state() -> dict[str, Any]:
    """Training draws all its randomness from torch (shuffling, augmentation), so this is enough."""
    return {"torch": torch.get_rng_state()}


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])


def plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of ``model``'s state in the standard (contiguous) layout: training runs
    channels-last, weight files stay plain."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def save_checkpoint(path: str | os.PathLike, **content: Any) -> Path:
    """Write ``content`` plus the format marker atomically (temp file + rename)."""
    path = Path(path)
    with atomic_target(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **content}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint`` (plain tensors and containers only)."""
    doc = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    return doc
