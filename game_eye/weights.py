"""The weight-file contract (`best_weight.pth`) shared by training, deploy and GameEye.

A weight file is ``torch.save`` of a plain dict that loads with ``weights_only=True``::

    {"format": "gaa-weights/1", "arch": "ssd_tiny", "num_classes": 2,
     "classes": ["background", "close"], "image_size": [576, 320],
     "model_kwargs": {...}, "state_dict": {...}, "score_threshold": 0.3,
     "run_id": "...", "model_name": "gaa-ssd", "version": "3", "dataset_digest": "..."}

A verifier file may add ``"crop_margin": 1.0``, the context around a proposal it was trained on
(``game_eye.crops``; absent: 0.3), and ``"mirror_average": true``, scoring each crop with its
mirror image too (absent: false), and ``"extra_crop_margins": [0.55, 1.05]``, cutting each proposal
at those contexts too (absent: none). GameEye rebuilds the model from this file alone (see
``game_eye.models``).
"""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

from .atomic import atomic_target

FORMAT = "gaa-weights/1"
REQUIRED_KEYS = ("format", "arch", "num_classes", "classes", "image_size", "state_dict", "score_threshold")
PROVENANCE_KEYS = ("run_id", "model_name", "version", "dataset_digest")


class WeightFileError(ValueError):
    """A weight file is missing, truncated, or not in the gaa-weights format; the message names the file."""


def save_weights(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically: a crash never leaves a half-written file at ``path``."""
    missing = [k for k in REQUIRED_KEYS if k not in payload and k != "format"]
    if missing:
        raise ValueError(f"weight payload for {path} lacks keys {missing}")
    import torch  # lazily: GameEye's ONNX path reads cached exports without torch

    doc = {"format": FORMAT, **{k: None for k in PROVENANCE_KEYS}, **payload}
    path = Path(path)
    with atomic_target(path, fsync=True) as tmp:
        torch.save(doc, tmp)
    return path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def load_weights(path: str | os.PathLike, expect_arch: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Load and validate a weight file; raise WeightFileError naming the file on any problem.

    ``expect_arch`` restricts the accepted ``arch`` values (e.g. detector archs for --ssd-weights).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"weight file {path} does not exist")
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle from elsewhere, not a torch file at all
        if isinstance(exc, pickle.UnpicklingError) and "weights only" in str(exc).lower():
            # torch's message goes on to advise weights_only=False: never pass that on
            raise WeightFileError(f"weight file {path} is not a gaa weight file: it pickles objects that "
                                  f"only code could rebuild, so it was refused unread") from exc
        raise WeightFileError(f"weight file {path} cannot be loaded ({_first_line(exc)})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise WeightFileError(f"weight file {path} is not in format {FORMAT!r} (found {got!r})")
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        raise WeightFileError(f"weight file {path} lacks keys {missing}")
    if expect_arch is not None and doc["arch"] not in expect_arch:
        raise WeightFileError(f"weight file {path} holds arch {doc['arch']!r}; expected one of {list(expect_arch)}")
    if len(doc["classes"]) != doc["num_classes"]:
        raise WeightFileError(f"weight file {path}: {len(doc['classes'])} class names "
                              f"for num_classes={doc['num_classes']}")
    return doc


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
