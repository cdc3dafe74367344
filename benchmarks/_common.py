"""Shared helpers for the benchmark scripts (not a benchmark itself)."""
from __future__ import annotations

import glob
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

EVAL_IMAGES = REPO / "projects" / "eval_screens" / "images"
# The default configs (conf/model/ssd.yaml, conf/model/resnet34.yaml), as plain values.
SSD_KWARGS = {"channels": [16, 32, 64, 128, 128], "anchor_sizes": [[10, 14, 20], [28, 40], [56, 80]],
              "score_thresh": 0.01, "detections_per_img": 20}
SSD_SIZE = [576, 320]
RESNET_ARCH = "resnet18"
RESNET_SIZE = 80


def eval_images(limit: int | None = None) -> list[str]:
    files = sorted(glob.glob(str(EVAL_IMAGES / "*.jpg")))
    if not files:
        raise SystemExit(f"no screenshots in {EVAL_IMAGES}")
    if limit:  # spread over the set: both screen sizes appear
        step = max(1, len(files) // limit)
        files = files[::step][:limit]
    return files


def default_weights(tmp: Path, threshold: float = 0.5) -> tuple[str, str]:
    """Untrained models of the default configs saved as gaa-weights/1 files (latency does not
    depend on training, except the number of proposals)."""
    import torch

    from game_eye.models import build_classifier, build_detector
    from game_eye.weights import save_weights

    torch.manual_seed(0)
    det = build_detector("ssd_tiny", 2, SSD_SIZE, **SSD_KWARGS)
    ssd = save_weights(tmp / "ssd" / "best_weight.pth", dict(
        arch="ssd_tiny", num_classes=2, classes=["background", "close"], image_size=SSD_SIZE,
        model_kwargs=SSD_KWARGS, state_dict=det.state_dict(), score_threshold=threshold))
    cls = build_classifier(RESNET_ARCH, 2)
    res = save_weights(tmp / "resnet" / "best_weight.pth", dict(
        arch=RESNET_ARCH, num_classes=2, classes=["close", "not_close"], image_size=RESNET_SIZE,
        model_kwargs={}, state_dict=cls.state_dict(), score_threshold=threshold,
        calibration_crops=torch.from_numpy(training_crops(64))))   # as training stores them: int8 possible
    return str(ssd), str(res)


def training_crops(n: int):
    """uint8 [n, RESNET_SIZE, RESNET_SIZE, 3] windows of the TRAINING screenshots (screens_train), for int8
    calibration."""
    import numpy as np
    from PIL import Image

    files = sorted(glob.glob(str(REPO / "projects" / "screens_train" / "images" / "*")))
    rng = np.random.default_rng(0)
    crops = []
    for i in range(n):
        with Image.open(files[i % len(files)]) as im:
            im = im.convert("RGB")
            side = int(rng.integers(40, 160))
            x, y = int(rng.integers(0, im.width - side)), int(rng.integers(0, im.height - side))
            crops.append(np.asarray(im.crop((x, y, x + side, y + side)).resize((RESNET_SIZE, RESNET_SIZE))))
    return np.stack(crops)


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    def fmt_cell(c) -> str:
        return c if isinstance(c, str) else f"{c:,.1f}" if isinstance(c, float) else str(c)

    cells = [[str(h) for h in headers]] + [[fmt_cell(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [] if title is None else [title]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    lines.append(fmt(cells[0]))
    lines.append("  ".join("-" * w for w in widths))
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def cpu_note() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPU cores, load average {load:.2f} at start"
