"""What the bot lives on: per-screenshot tap outcomes and their rates, from plain lists.

The bot taps the centre of the first ``close`` detection GameEye returns (detections are sorted
by score, highest first). Per screenshot, given the true close-button boxes and the detections::

    hit             the screen has a close button; the first close's box centre lies in a true box
    wrong_tap       the screen has a close button; the first close's centre lies in none of them
    miss            the screen has a close button; no close detection at all
    false_tap       the screen has no close button; any close detection (the bot taps something)
    correct_reject  the screen has no close button; no close detection

A centre exactly on a true box's edge counts as inside. Rates (NaN when their denominator is 0):
``click_success = hit / with_close``, ``wrong_tap_rate = wrong_tap / with_close``,
``miss_rate = miss / with_close`` (the three sum to 1), ``false_tap_rate = false_tap / without_close``.

Detections are GameEye JSON dicts ``{"label", "score", "box"}`` or any object with those
attributes (``game_eye.detection_result.DetectionResult``). Boxes are [x1, y1, x2, y2].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from game_eye.engine import final_score

OUTCOMES = ("hit", "wrong_tap", "miss", "false_tap", "correct_reject")
CLOSE = "close"


def _get(det: Any, key: str) -> Any:
    return det[key] if isinstance(det, dict) else getattr(det, key)


def box_center(box: Sequence[float]) -> tuple[float, float]:
    x1, y1, x2, y2 = map(float, box)
    return ((x1 + x2) / 2, (y1 + y2) / 2)


def point_in_box(point: Sequence[float], box: Sequence[float]) -> bool:
    """Inclusive: a point on the edge is inside."""
    x, y = float(point[0]), float(point[1])
    x1, y1, x2, y2 = map(float, box)
    return x1 <= x <= x2 and y1 <= y <= y2


def first_close(detections: Sequence[Any], label: str = CLOSE) -> Optional[Any]:
    """The detection the bot taps: the first one labelled ``label`` (GameEye sorts by score).

    Does not re-sort: the order GameEye returned is the order the bot uses."""
    for d in detections:
        if _get(d, "label") == label:
            return d
    return None


@dataclass(frozen=True)
class ScreenOutcome:
    outcome: str                      # one of OUTCOMES
    has_close: bool                   # the screen has at least one true close box
    tap_score: Optional[float]        # score of the first close detection (None: no tap)
    tap_box: Optional[list[float]]    # its box (None: no tap)

    @property
    def tapped(self) -> bool:
        return self.tap_box is not None


def screen_outcome(truth_boxes: Sequence[Sequence[float]], detections: Sequence[Any],
                   label: str = CLOSE) -> ScreenOutcome:
    """Outcome of one screenshot from its true close boxes (empty: no close button) and
    GameEye's detections for it."""
    has_close = len(truth_boxes) > 0
    first = first_close(detections, label)
    if first is None:
        return ScreenOutcome("miss" if has_close else "correct_reject", has_close, None, None)
    box = [float(v) for v in _get(first, "box")]
    score = float(_get(first, "score"))
    if not has_close:
        return ScreenOutcome("false_tap", False, score, box)
    c = box_center(box)
    hit = any(point_in_box(c, t) for t in truth_boxes)
    return ScreenOutcome("hit" if hit else "wrong_tap", True, score, box)


def _rate(num: int, den: int) -> float:
    return num / den if den else float("nan")


def aggregate(outcomes: Iterable[ScreenOutcome | str]) -> dict[str, float]:
    """Counts and rates over screenshots. Accepts ScreenOutcome objects or outcome strings."""
    counts = {k: 0 for k in OUTCOMES}
    for o in outcomes:
        name = o if isinstance(o, str) else o.outcome
        if name not in counts:
            raise ValueError(f"unknown outcome {name!r}; valid: {list(OUTCOMES)}")
        counts[name] += 1
    with_close = counts["hit"] + counts["wrong_tap"] + counts["miss"]
    without = counts["false_tap"] + counts["correct_reject"]
    return {
        "n_screens": with_close + without,
        "n_with_close": with_close,
        "n_without_close": without,
        **{f"n_{k}": v for k, v in counts.items()},
        "click_success": _rate(counts["hit"], with_close),
        "wrong_tap_rate": _rate(counts["wrong_tap"], with_close),
        "miss_rate": _rate(counts["miss"], with_close),
        "false_tap_rate": _rate(counts["false_tap"], without),
    }


def evaluate_screens(truths: Sequence[Sequence[Sequence[float]]], detections: Sequence[Sequence[Any]],
                     label: str = CLOSE) -> tuple[list[ScreenOutcome], dict[str, float]]:
    """``screen_outcome`` over parallel lists, plus ``aggregate`` of the result."""
    if len(truths) != len(detections):
        raise ValueError(f"{len(truths)} truths for {len(detections)} detection lists")
    outs = [screen_outcome(t, d, label) for t, d in zip(truths, detections)]
    return outs, aggregate(outs)


def tap_pr_curve(outcomes: Sequence[ScreenOutcome]) -> dict[str, np.ndarray]:
    """Screen-level precision/recall of the bot's tap as the final-score threshold rises.

    The first close is the highest-scoring close, so raising the threshold to ``t`` keeps a tap
    exactly when its score >= t and never changes which box is tapped. For each distinct tap
    score t (descending): ``precision`` = hits / taps, ``recall`` = hits / screens with a close
    button (= click_success at t), ``false_tap_rate`` = false taps / screens without one.
    Arrays are aligned with ``thresholds``; empty when nothing was tapped."""
    n_with = sum(o.has_close for o in outcomes)
    n_without = len(outcomes) - n_with
    taps = sorted(((o.tap_score, o.outcome) for o in outcomes if o.tapped), key=lambda x: -x[0])
    thresholds, precision, recall, ftr = [], [], [], []
    hits = tapped = false_taps = 0
    i = 0
    while i < len(taps):
        t = taps[i][0]
        while i < len(taps) and taps[i][0] == t:  # all taps with this exact score enter together
            tapped += 1
            hits += taps[i][1] == "hit"
            false_taps += taps[i][1] == "false_tap"
            i += 1
        thresholds.append(t)
        precision.append(hits / tapped)
        recall.append(_rate(hits, n_with))
        ftr.append(_rate(false_taps, n_without))
    return {"thresholds": np.asarray(thresholds, dtype=float), "precision": np.asarray(precision, dtype=float),
            "recall": np.asarray(recall, dtype=float), "false_tap_rate": np.asarray(ftr, dtype=float)}


VERIFIER_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 0.99999)


@dataclass(frozen=True)
class Proposal:
    """One detector proposal of a screen with the verifier's probability for it."""
    box: Sequence[float]
    detector_score: float
    p: float


def verifier_operating_curve(truths: Sequence[Sequence[Sequence[float]]],
                             proposals: Sequence[Sequence[Proposal]],
                             thresholds: Sequence[float] = VERIFIER_THRESHOLDS,
                             label: str = CLOSE) -> dict[str, np.ndarray]:
    """What the bot would do at other verifier thresholds: click success, false-tap, wrong-tap and
    miss rates as the verifier threshold ``t`` varies, everything else as deployed.

    Per screen GameEye keeps the proposals with ``p >= t`` and taps the one with the highest final
    score (``game_eye.engine.final_score``), so unlike :func:`tap_pr_curve` this can LOWER the threshold
    too (a proposal the deployed verifier rejected can become the tap). ``proposals[i]`` are screen
    i's proposals of ``label`` (GameEye's top-K); arrays are aligned with ``thresholds``."""
    if len(truths) != len(proposals):
        raise ValueError(f"{len(truths)} truths for {len(proposals)} proposal lists")
    rows = {k: [] for k in ("click_success", "false_tap_rate", "wrong_tap_rate", "miss_rate")}
    for t in thresholds:
        outs = []
        for truth, props in zip(truths, proposals):
            kept = [{"label": label, "box": list(q.box), "score": final_score(q.detector_score, q.p)}
                    for q in props if q.p >= t]
            kept.sort(key=lambda d: d["score"], reverse=True)
            outs.append(screen_outcome(truth, kept, label))
        agg = aggregate(outs)
        for k in rows:
            rows[k].append(agg[k])
    return {"thresholds": np.asarray(thresholds, dtype=float),
            **{k: np.asarray(v, dtype=float) for k, v in rows.items()}}


def proposal_recall(truths: Sequence[Sequence[Sequence[float]]], proposals: Sequence[Sequence[Proposal]]) -> float:
    """Share of the screens with a true box where some proposal's centre lies in one: the ceiling
    of click success that no verifier threshold can lift (NaN without such screens)."""
    with_truth = [(t, ps) for t, ps in zip(truths, proposals) if len(t)]
    found = sum(any(point_in_box(box_center(q.box), b) for q in ps for b in t) for t, ps in with_truth)
    return _rate(found, len(with_truth))


def verifier_pass_rate(truths: Sequence[Sequence[Sequence[float]]], proposals: Sequence[Sequence[Proposal]],
                       threshold: float) -> float:
    """Of the screens whose true button is proposed (some proposal's centre in a true box), the share
    where the verifier passes such a proposal (``p >= threshold``): how much of the detector's
    recall the verifier keeps (NaN when no true button was proposed)."""
    on_truth = [[q for q in ps if any(point_in_box(box_center(q.box), b) for b in t)]
                for t, ps in zip(truths, proposals) if len(t)]
    proposed = [qs for qs in on_truth if qs]
    return _rate(sum(any(q.p >= threshold for q in qs) for qs in proposed), len(proposed))


def latency_percentiles(ms: Sequence[float], percentiles: Sequence[float] = (50, 95)) -> dict[str, float]:
    """{"p50": ..., "p95": ...} (linear interpolation, numpy's default); NaN for an empty list."""
    arr = np.asarray([float(v) for v in ms], dtype=float)
    out = {}
    for p in percentiles:
        key = f"p{p:g}"
        out[key] = float(np.percentile(arr, p)) if arr.size else float("nan")
    return out
