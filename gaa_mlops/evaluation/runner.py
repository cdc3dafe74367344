"""Run GameEye (the deployed code path, not a copy) over held-out screenshots and measure what the
bot lives on: does it tap the close button, does it tap where there is none, how fast.

Every class the two models report is scored the same way on its own (the bot taps the first
``watch_ad`` on a game screen as it taps the first ``close`` on an ad): a screen "has one" when it
holds a true box of that class. The close metrics keep their names (``click_success``, ...); the
others are prefixed with their class (``watch_ad.click_success``, ...), see :func:`class_metrics`."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
from PIL import Image
from torchmetrics.detection import MeanAveragePrecision
from torchvision.ops import box_iou
from tqdm import tqdm

from gaa_mlops.evaluation.metrics import (
    Proposal,
    aggregate,
    latency_percentiles,
    proposal_recall,
    screen_outcome,
    tap_pr_curve,
    verifier_operating_curve,
    verifier_pass_rate,
)
from gaa_mlops.projects import Screenshot
from game_eye.engine import DEFAULT_TOP_K, GameEye

# what a class other than close reports: its rates and counts (n_with: screens holding one)
CLASS_KEYS = {"click_success": "click_success", "wrong_tap_rate": "wrong_tap_rate", "miss_rate": "miss_rate",
              "false_tap_rate": "false_tap_rate", "tap_precision": "tap_precision", "n_with_close": "n_with",
              "n_without_close": "n_without", "n_hit": "n_hit", "n_wrong_tap": "n_wrong_tap", "n_miss": "n_miss",
              "n_false_tap": "n_false_tap"}


@dataclass
class EvaluationResult:
    metrics: dict[str, float]
    rows: list[dict]          # one per screenshot, for the primary class (close)
    curve: dict               # tap PR curve of the primary class
    label: str = "close"      # the primary class
    per_class_rows: dict[str, list[dict]] = field(default_factory=dict)    # every class, primary included
    per_class_curves: dict[str, dict] = field(default_factory=dict)
    precision: str = "fp32"   # the verifier's precision GameEye actually ran
    operating_curve: dict = field(default_factory=dict)   # primary class at other verifier thresholds
    verifier_threshold: float = float("nan")              # the primary class's deployed threshold

    @property
    def classes(self) -> list[str]:
        return list(self.per_class_rows) or [self.label]


def metric_name(label: str, key: str) -> str:
    """``click_success`` for close (the names every existing run and tag uses), ``watch_ad.click_success``
    for the other classes."""
    return key if label == "close" else f"{label}.{key}"


def class_metrics(outcomes) -> dict[str, float]:
    """The bot metrics of one class: aggregate() plus tap precision."""
    m = aggregate(outcomes)
    taps = m["n_hit"] + m["n_wrong_tap"] + m["n_false_tap"]
    m["tap_precision"] = m["n_hit"] / taps if taps else float("nan")
    return m


class StageMetrics:
    """mAP@0.5 of the detector stage alone, proposal recall (screens whose close button is among the
    top-K proposals), the verifier's pass rate on those proposed true buttons, verifier accuracy on
    crops (true boxes = close, proposals away from every true box = not close) at the verifier's
    threshold, and every screen's proposals with their verifier probability (for the operating curve)."""

    def __init__(self, eye: GameEye):
        self.eye = eye
        self.map = MeanAveragePrecision(iou_thresholds=[0.5], box_format="xyxy")
        self.correct = self.total = 0
        self.truths: list[list[list[float]]] = []
        self.proposals: list[list[Proposal]] = []

    def update(self, img: Image.Image, truth_boxes: Sequence[Sequence[float]]) -> None:
        """``truth_boxes``: the true boxes of the primary class (the one ``propose``/``verify`` use)."""
        boxes, scores = self.eye.propose(img)
        truth = torch.tensor(truth_boxes, dtype=torch.float32).reshape(-1, 4)
        ones = torch.ones(len(boxes), dtype=torch.long)
        self.map.update([{"boxes": boxes, "scores": scores, "labels": ones}],
                        [{"boxes": truth, "labels": torch.ones(len(truth), dtype=torch.long)}])
        probs = self.eye.verify(img, boxes.tolist()) if len(boxes) else []
        self.truths.append([list(b) for b in truth_boxes])
        self.proposals.append([Proposal(b, float(sc), float(p))
                               for b, sc, p in zip(boxes.tolist(), scores.tolist(), probs)])
        # negatives: the proposals away from every true box, whose p was just computed
        away = [True] * len(boxes)
        if len(boxes) and len(truth):
            away = (box_iou(boxes, truth).max(1).values < 0.3).tolist()
        truth_probs = self.eye.verify(img, truth.tolist()) if len(truth) else []
        judged = [(p, True) for p in truth_probs] + [(p, False) for p, a in zip(probs, away) if a]
        self.correct += sum((p >= self.eye.cls_threshold) == lab for p, lab in judged)
        self.total += len(judged)

    def compute(self) -> dict[str, float]:
        map50 = float(self.map.compute()["map_50"])
        return {"ssd_map50": max(map50, 0.0), "verifier_crops": self.total,
                "verifier_accuracy": self.correct / self.total if self.total else float("nan"),
                "proposal_recall": proposal_recall(self.truths, self.proposals),
                "verifier_pass_rate": verifier_pass_rate(self.truths, self.proposals, self.eye.cls_threshold)}

    def operating_curve(self) -> dict:
        return verifier_operating_curve(self.truths, self.proposals, label=self.eye.label)


def run_evaluation(ssd_weights: str, resnet_weights: str, shots: Sequence[Screenshot],
                   regions: str = "full", precision: str = "auto", top_k: int = DEFAULT_TOP_K) -> EvaluationResult:
    """Load GameEye as the server does, warm it up, then time and score every screenshot."""
    if not shots:
        raise ValueError("no evaluation screenshots")
    t0 = time.perf_counter()
    eye = GameEye(ssd_weights, resnet_weights, regions=regions, precision=precision, top_k=top_k)
    load_ms = (time.perf_counter() - t0) * 1000
    eye.detect_file(shots[0].path)  # warm-up: first-call allocations are not what the bot sees
    classes, primary = list(eye.labels), eye.label
    rows: dict[str, list[dict]] = {c: [] for c in classes}
    outcomes: dict[str, list] = {c: [] for c in classes}
    stages, times = StageMetrics(eye), []
    for shot in tqdm(shots, desc="evaluate", dynamic_ncols=True):
        entry = eye.detect_file(shot.path)
        if "error" in entry:
            raise ValueError(f"evaluation image {shot.path}: {entry['error']}")
        times.append(entry["elapsed_ms"])
        for c in classes:
            truth = [list(b) for b in shot.boxes_of(c)]
            out = screen_outcome(truth, entry["detections"], label=c)
            outcomes[c].append(out)
            rows[c].append({"image": shot.path.name, "path": str(shot.path), "truth": truth, "label": c,
                            "first_close": out.tap_box, "outcome": out.outcome, "hit": out.outcome == "hit",
                            "score": out.tap_score, "tap_box": out.tap_box, "ms": entry["elapsed_ms"],
                            "n_detections": len(entry["detections"])})
        with Image.open(shot.path) as im:  # after timing: stage metrics are not what the bot waits for
            stages.update(im.convert("RGB"), [list(b) for b in shot.boxes_of(primary)])
    metrics: dict[str, float] = {}
    for c in classes:
        m = class_metrics(outcomes[c])
        metrics |= {metric_name(c, k): v for k, v in m.items()} if c == "close" else \
            {metric_name(c, name): m[k] for k, name in CLASS_KEYS.items()}
    lat = latency_percentiles(times)
    metrics |= {"latency_p50_ms": lat["p50"], "latency_p95_ms": lat["p95"], "model_load_ms": load_ms}
    metrics |= stages.compute()
    curves = {c: tap_pr_curve(outcomes[c]) for c in classes}
    return EvaluationResult(metrics=metrics, rows=rows[primary], curve=curves[primary], label=primary,
                            per_class_rows=rows, per_class_curves=curves, precision=eye.precision,
                            operating_curve=stages.operating_curve(), verifier_threshold=eye.cls_threshold)
