"""Run GameEye (the deployed code path, not a copy) over held-out screenshots and measure what the
bot lives on: does it tap the close button, does it tap where there is none, how fast."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import torch
from PIL import Image
from torchmetrics.detection import MeanAveragePrecision
from torchvision.ops import box_iou
from tqdm import tqdm

from gaa_mlops.evaluation.metrics import aggregate, latency_percentiles, screen_outcome, tap_pr_curve
from gaa_mlops.projects import Screenshot
from game_eye.engine import GameEye


@dataclass
class EvaluationResult:
    metrics: dict[str, float]
    rows: list[dict]          # one per screenshot
    curve: dict               # tap PR curve
    precision: str = "fp32"   # the verifier's precision GameEye actually ran


class StageMetrics:
    """mAP@0.5 of the detector stage alone, and verifier accuracy on crops (true boxes = close,
    proposals away from every true box = not close) at the verifier's threshold."""

    def __init__(self, eye: GameEye):
        self.eye = eye
        self.map = MeanAveragePrecision(iou_thresholds=[0.5], box_format="xyxy")
        self.correct = self.total = 0

    def update(self, img: Image.Image, truth_boxes: Sequence[Sequence[float]]) -> None:
        boxes, scores = self.eye.propose(img)
        truth = torch.tensor(truth_boxes, dtype=torch.float32).reshape(-1, 4)
        ones = torch.ones(len(boxes), dtype=torch.long)
        self.map.update([{"boxes": boxes, "scores": scores, "labels": ones}],
                        [{"boxes": truth, "labels": torch.ones(len(truth), dtype=torch.long)}])
        away = boxes
        if len(boxes) and len(truth):
            away = boxes[box_iou(boxes, truth).max(1).values < 0.3]
        crops = truth.tolist() + away.tolist()
        if crops:
            probs = self.eye.verify(img, crops)
            labels = [True] * len(truth) + [False] * len(away)
            self.correct += sum((p >= self.eye.cls_threshold) == lab for p, lab in zip(probs, labels))
            self.total += len(crops)

    def compute(self) -> dict[str, float]:
        map50 = float(self.map.compute()["map_50"])
        return {"ssd_map50": max(map50, 0.0), "verifier_crops": self.total,
                "verifier_accuracy": self.correct / self.total if self.total else float("nan")}


def run_evaluation(ssd_weights: str, resnet_weights: str, shots: Sequence[Screenshot],
                   regions: str = "full", precision: str = "auto") -> EvaluationResult:
    """Load GameEye as the server does, warm it up, then time and score every screenshot."""
    if not shots:
        raise ValueError("no evaluation screenshots")
    t0 = time.perf_counter()
    eye = GameEye(ssd_weights, resnet_weights, regions=regions, precision=precision)
    load_ms = (time.perf_counter() - t0) * 1000
    eye.detect_file(shots[0].path)  # warm-up: first-call allocations are not what the bot sees
    rows, outcomes, stages = [], [], StageMetrics(eye)
    for shot in tqdm(shots, desc="evaluate", dynamic_ncols=True):
        entry = eye.detect_file(shot.path)
        if "error" in entry:
            raise ValueError(f"evaluation image {shot.path}: {entry['error']}")
        truth = [list(b) for b in shot.boxes]
        out = screen_outcome(truth, entry["detections"])
        outcomes.append(out)
        rows.append({"image": shot.path.name, "path": str(shot.path), "truth": truth,
                     "first_close": out.tap_box, "outcome": out.outcome, "hit": out.outcome == "hit",
                     "score": out.tap_score, "tap_box": out.tap_box, "ms": entry["elapsed_ms"],
                     "n_detections": len(entry["detections"])})
        with Image.open(shot.path) as im:  # after timing: stage metrics are not what the bot waits for
            stages.update(im.convert("RGB"), truth)
    metrics = aggregate(outcomes)
    taps = metrics["n_hit"] + metrics["n_wrong_tap"] + metrics["n_false_tap"]
    metrics["tap_precision"] = metrics["n_hit"] / taps if taps else float("nan")
    lat = latency_percentiles([r["ms"] for r in rows])
    metrics |= {"latency_p50_ms": lat["p50"], "latency_p95_ms": lat["p95"], "model_load_ms": load_ms}
    metrics |= stages.compute()
    return EvaluationResult(metrics=metrics, rows=rows, curve=tap_pr_curve(outcomes), precision=eye.precision)
