"""The crop policy shared by verifier training data and GameEye's verification stage.

A proposal box becomes a square crop centred on the box, its side ``max(w, h) * (1 + 2 * margin)``,
so the verifier always sees the object with some context around it, whatever its aspect ratio.
A verifier weight file may carry its own ``crop_margin`` (the context it was trained to judge, e.g.
0.8 so the "5" of "×5" is in view); files without the key use ``RUNTIME_MARGIN``. It may also carry
``mirror_average: true``: its probability is then the average, over the crop and its mirror image, of
the log-probabilities (renormalised), and its threshold was chosen for that score. And it may carry
``extra_crop_margins: [0.55, 1.05]``: each proposal is then also cut at those contexts, and every
view (each margin, each mirror image) goes into the same average.
"""
from __future__ import annotations

from typing import Sequence

from .weights import WeightFileError

RUNTIME_MARGIN = 0.3
MARGIN_KEY = "crop_margin"
MIRROR_KEY = "mirror_average"
EXTRA_MARGINS_KEY = "extra_crop_margins"


def _margin(value) -> float:
    """``value`` as a float; NaN when it is not a number, so the range checks reject it."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def crop_margin_of(doc: dict, path: object = "<weights>") -> float:
    """The verifier's crop margin from its weight-file document (``RUNTIME_MARGIN`` when absent).
    Raises WeightFileError naming ``path`` when the value is not a number in [0, 5]."""
    value = doc.get(MARGIN_KEY)
    if value is None:
        return RUNTIME_MARGIN
    margin = _margin(value)
    if not 0.0 <= margin <= 5.0:
        raise WeightFileError(f"weight file {path}: {MARGIN_KEY} must be a number in [0, 5], got {value!r}")
    return margin


def extra_margins_of(doc: dict, path: object = "<weights>") -> tuple[float, ...]:
    """The further contexts at which the verifier scores each proposal, besides ``crop_margin``
    (absent: none). Raises WeightFileError naming ``path`` when the value is not a list of numbers
    in [0, 5]."""
    value = doc.get(EXTRA_MARGINS_KEY) or []
    margins = tuple(_margin(v) for v in value) if isinstance(value, (list, tuple)) else (float("nan"),)
    if not all(0.0 <= m <= 5.0 for m in margins):
        raise WeightFileError(f"weight file {path}: {EXTRA_MARGINS_KEY} must be a list of numbers in [0, 5], "
                              f"got {value!r}")
    return margins


def mirror_average_of(doc: dict, path: object = "<weights>") -> bool:
    """Whether the verifier scores a crop with its mirror image too (absent: False). Raises
    WeightFileError naming ``path`` when the value is not a boolean."""
    value = doc.get(MIRROR_KEY, False)
    if not isinstance(value, bool):
        raise WeightFileError(f"weight file {path}: {MIRROR_KEY} must be true or false, got {value!r}")
    return value


def with_mirrors(crops: list) -> list:
    """``crops`` followed by their mirror images (left-right flipped): the batch that
    ``average_views`` folds back into one row per crop."""
    from PIL import Image

    return list(crops) + [c.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for c in crops]


def average_views(probs, n: int):
    """A softmax ``probs`` [k*n, C] holding k views of n crops (rows ``[i*n:(i+1)*n]`` are view i:
    another margin, a mirror image) as one [n, C]: the mean of the views' log-probabilities,
    renormalised (the softmax of the mean logits)."""
    import numpy as np

    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-30, None))
    mean = logp.reshape(-1, n, logp.shape[1]).mean(axis=0)
    mean -= mean.max(axis=1, keepdims=True)
    out = np.exp(mean)
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


def square_crop_box(box: Sequence[float], margin: float = RUNTIME_MARGIN,
                    shift: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float, float, float]:
    """Square [x1, y1, x2, y2] around ``box``; ``shift`` moves the centre by a fraction of the side
    of the box (used to mimic imprecise proposals in training). It may extend past the image:
    PIL's ``Image.crop`` pads with black there, the same in training and at runtime."""
    x1, y1, x2, y2 = map(float, box)
    side = max(x2 - x1, y2 - y1, 1.0)
    cx = (x1 + x2) / 2 + shift[0] * side
    cy = (y1 + y2) / 2 + shift[1] * side
    half = side * (1 + 2 * margin) / 2
    return (cx - half, cy - half, cx + half, cy + half)


def verifier_crop(image, box: Sequence[float], size: int, margin: float = RUNTIME_MARGIN):
    """The verifier's input for one proposal: ``square_crop_box(box, margin)`` cut from the
    ORIGINAL-resolution PIL ``image`` (black padding past its edges), resized to ``size`` x ``size``
    with bilinear resampling. Training crops and GameEye crops both go through this function."""
    x1, y1, x2, y2 = square_crop_box(box, margin)
    crop = image.crop((round(x1), round(y1), round(x2), round(y2)))
    return crop.resize((int(size), int(size)), resample=2)  # 2 == PIL.Image.BILINEAR
