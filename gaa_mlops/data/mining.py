"""Verifier crops cut around what the DETECTOR proposes on composed screens (hard-example mining).

At run time the verifier only ever sees the detector's top-K proposals, so its hardest negatives
are the detector's false proposals (the "×" of "×2 BONUS", a katakana ン, an info icon ...) and its
positives are close buttons boxed as loosely as the detector boxes them. Random sprite crops miss
most of those. :class:`ProposalMiner` composes full-resolution screens from the same projects
(:func:`gaa_mlops.data.compose.compose_screen`), runs GameEye's own detector stage on them (same
code path as the server: threshold, NMS, top-K) and cuts the crop with the runtime crop policy
(:func:`game_eye.crops.verifier_crop` at the recipe's ``runtime_crop_margin``).

Detection projects marked ``mine_proposals: true`` (the field frames ``gaa_mlops.label import``
writes) are mined as they are: a share of the mined screens (``screenshot_share``) is one of their
screenshots, drawn by project weight, so GameEye's own false proposals on real frames become
negatives and its boxes of their real buttons positives. A set without such a project mines
exactly what it mined before.

Recipe (``model.dataset.hard_negatives`` of the verifier)::

    detector: null            # detector weights (file | models:/... | runs:/...); null: no mining
    negative_share: 0.5       # share of not_close crops mined from false proposals (exactly this share,
                              # unless the screens cannot fill it: then ordinary crops, see the manifest)
    positive_share: 0.3       # share of close crops mined from proposals on the true button
    top_k: 5                  # the detector's best proposals per screen mined from (absent: 5, what
                              # mining used before the key; cached datasets keep meaning that)
    screenshot_share: 0.5     # of the mined screens: a screenshot of a mine_proposals project, when
                              # the set has one (absent: 0.5)
    screens: {...}            # compose_screen recipe of the mined screens (screen_sizes, distractors ...)
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from PIL import Image

from gaa_mlops.data.assets import Assets
from gaa_mlops.data.compose import compose_screen
from gaa_mlops.data.verifier import runtime_margin
from gaa_mlops.evaluation.metrics import box_center, point_in_box
from gaa_mlops.projects import is_negative
from game_eye.crops import verifier_crop

NEGATIVES_PER_SCREEN = 3      # false proposals cut from one composed screen at most
MAX_SCREENS_PER_CROP = 4      # screens drawn per mined crop at most, before the rest are ordinary crops
NEGATIVE_MAX_IOU = 0.1        # a proposal this far from the true button is a false proposal
POSITIVE_MIN_IOU = 0.5        # a proposal this close to it is the detector's box of the button
DEFAULT_SCREEN_SIZES = [[1280, 720], [1600, 720], [2340, 1080]]
LEGACY_TOP_K = 5              # proposals per screen a recipe without ``hard_negatives.top_k`` mines
SCREENSHOT_SHARE = 0.5        # mined screens taken from mine_proposals screenshots, when there are any


# Plain Python, not torchvision.ops.box_iou: this runs in the builder's forked pool workers, where a
# torch op on a fresh tensor deadlocked (torch's intra-op thread pool does not survive fork).
def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def proposals_of(positive: bool, proposals: Sequence[Sequence[float]], truth: Sequence[Sequence[float]],
                 everything: Optional[Sequence[Sequence[float]]] = None) -> list:
    """The proposals that make an example. ``positive``: those on a ``truth`` box (IoU >=
    ``POSITIVE_MIN_IOU``; ``truth`` = the boxes of the proposals' own class). Negative: those clear
    of ``everything`` (every target box of any class, default ``truth``: IoU <= ``NEGATIVE_MAX_IOU``
    and centre outside). Proposals in between are ambiguous and make no example."""
    everything = truth if everything is None else everything
    out = []
    for box in proposals:
        if positive:
            if max((_iou(box, t) for t in truth), default=0.0) >= POSITIVE_MIN_IOU:
                out.append(list(box))
        elif max((_iou(box, t) for t in everything), default=0.0) <= NEGATIVE_MAX_IOU and \
                not any(point_in_box(box_center(box), t) for t in everything):
            out.append(list(box))
    return out


def mining_enabled(recipe: dict[str, Any]) -> bool:
    return bool((recipe.get("hard_negatives") or {}).get("detector"))


class ProposalMiner:
    """GameEye's detector stage over composed full-resolution screens; one per worker process.

    A composed screen yields several examples at once (:meth:`mine_screen`): up to
    ``NEGATIVES_PER_SCREEN`` false proposals and up to one proposal on each true target, so a screen
    (the expensive part: full-resolution composition and a detector pass) is not drawn per crop."""

    def __init__(self, detector_weights: str, recipe: dict[str, Any], threads: int = 1):
        from game_eye.engine import GameEye

        hn = recipe.get("hard_negatives") or {}
        self.negative_share = float(hn.get("negative_share", 0.5))
        self.positive_share = float(hn.get("positive_share", 0.3))
        self.screenshot_share = float(hn.get("screenshot_share", SCREENSHOT_SHARE))
        self.screen_recipe = dict(hn.get("screens") or {})
        self.screen_sizes = self.screen_recipe.pop("screen_sizes", None) or DEFAULT_SCREEN_SIZES
        self.margin = runtime_margin(recipe)
        self.eye = GameEye(detector_weights, None, num_threads=threads, top_k=int(hn.get("top_k", LEGACY_TOP_K)))

    def share(self, label: str) -> float:
        """The share of ``label``'s crops mined: false proposals for the negative class, proposals on
        a true box for a target class the detector proposes (0 for one it does not)."""
        if is_negative(label):
            return self.negative_share
        return self.positive_share if label in self.eye.labels else 0.0

    def mine_screen(self, rng: np.random.Generator, assets: Assets, size: int,
                    negative_label: str) -> tuple[dict[str, list[Image.Image]], Optional[str]]:
        """Take one screen (composed, or a ``mine_proposals`` screenshot, see the module doc), run the
        detector on it and cut ``size`` x ``size`` crops: under ``negative_label`` proposals of any
        class away from every true box (at most ``NEGATIVES_PER_SCREEN``, drawn at random), under
        each target class one proposal of that class on a true box of it (if any). Returns the
        crops and the screenshot's path (None for a composed screen)."""
        source = None
        # no draw at all without such screenshots: the composed screens stay those of before
        if assets.mined_screenshots and rng.random() < self.screenshot_share:
            shot = assets.pick_screenshot(rng, assets.mined_screenshots)
            screen = assets.screenshot_image(shot)
            truth, truth_labels = list(shot.boxes), [shot.label_of(i) for i in range(len(shot.boxes))]
            source = str(shot.path)
        else:
            H, W = (int(v) for v in self.screen_sizes[int(rng.integers(len(self.screen_sizes)))])
            screen, truth, truth_labels = compose_screen(rng, assets,
                                                         {**self.screen_recipe, "screen_sizes": [[H, W]]}, (H, W))
        out: dict[str, list[Image.Image]] = {negative_label: []}
        negatives = []
        for c in self.eye.labels:
            boxes = self.eye.propose(screen, label=c)[0].tolist()
            own = [t for t, lab in zip(truth, truth_labels) if lab == c]
            negatives += proposals_of(False, boxes, own, truth)
            positives = proposals_of(True, boxes, own, truth)
            if positives:
                box = positives[int(rng.integers(len(positives)))]
                out[c] = [verifier_crop(screen, box, size, self.margin)]
        for i in rng.permutation(len(negatives))[:NEGATIVES_PER_SCREEN]:
            out[negative_label].append(verifier_crop(screen, negatives[int(i)], size, self.margin))
        return out, source
