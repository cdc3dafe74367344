"""Square crops for the verifier (classification), cut with GameEye's own crop policy.

Every crop is ``game_eye.crops.square_crop_box(box, margin, shift)`` around an object box (margin
drawn from ``crop_margin``, centre shift from ``crop_jitter``), cut from a full-resolution canvas
(black past its edges, like ``Image.crop`` at runtime) and resized to ``size`` x ``size`` bilinear,
which is what ``game_eye.crops.verifier_crop`` does.

* a target class (``close``, ``watch_ad``, ...): a sprite of that class on a random background
  patch; crops around that class's boxes of detection screenshots.
* the negative class (``other``, or ``not_close`` in the close-only verifier): text / icon / other
  button sprites on backgrounds (also single characters of a text line); plain background windows;
  screenshot windows away from every box; crops with only PART of a target (half out of the crop)
  or a target in a far too wide context.
* mined (``hard_negatives`` recipe, :mod:`gaa_mlops.data.mining`): crops around the detector's own
  proposals on composed screens: false ones as the negative class, ones on a target as its class.

``runtime_crop_margin`` (default ``RUNTIME_MARGIN``) is the context GameEye will cut: mined crops use
it, the weight file stores it, and "far too wide" contexts scale with it.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image

from gaa_mlops.data.assets import RESAMPLE, Assets, augment_sprite, uniform
from gaa_mlops.data.compose import visible_box
from gaa_mlops.projects import NEGATIVE, is_negative
from game_eye.crops import RUNTIME_MARGIN, square_crop_box

SPRITE_PX = {"close": (20.0, 140.0), NEGATIVE: (20.0, 220.0)}   # object widths on a phone screen
TARGET_PX = (100.0, 560.0)       # any other target class (watch_ad buttons are wide)
SCREEN_WIDTH_PX = (720.0, 1080.0)
HALF_OUT = (0.35, 0.8)           # share of the button's side pushed out past the crop edge
WIDE_MARGIN = (1.5, 3.0)         # a small button in far too wide a context, at RUNTIME_MARGIN (scaled)
AWAY_CHECK_MARGIN = 0.6          # at least: the context in which an "away" window must hold no target


def runtime_margin(recipe: dict[str, Any]) -> float:
    """The crop margin GameEye will use with a verifier trained on ``recipe``."""
    return float(recipe.get("runtime_crop_margin", RUNTIME_MARGIN))


def _cut(canvas_fn, box, margin: float, shift: tuple[float, float], size: int) -> Image.Image:
    x1, y1, x2, y2 = (round(v) for v in square_crop_box(box, margin, shift))
    return canvas_fn(x1, y1, x2, y2).resize((size, size), RESAMPLE)


def _sprite_crop(rng, assets: Assets, label: str, margin: float, shift, size: int) -> Image.Image:
    sprite, aug = assets.sprite(rng, label)
    sprite = augment_sprite(rng, sprite, aug, uniform(rng, SPRITE_PX.get(label, TARGET_PX)), use_scale=True)
    box = visible_box(sprite)                       # sprite sits at (0, 0) of a virtual screen
    bw, bh = box[2] - box[0], box[3] - box[1]
    if label == NEGATIVE and bw > 1.3 * bh and rng.random() < 0.6:
        # One character of a text line, as the detector proposes it: the "×" of "報酬×2" centred in
        # the crop with its neighbours around it must be rejected, not just the whole string.
        x0 = box[0] + rng.uniform(0, bw - bh)
        box = (x0, box[1], x0 + bh, box[3])
    vw = uniform(rng, SCREEN_WIDTH_PX)
    edge = None
    if rng.random() < 0.2:                           # near a screen edge: black past it, as at runtime
        side = int(rng.integers(3))
        gap = uniform(rng, (0.0, 0.05)) * vw
        edge = (side, box[0] - gap if side == 0 else box[2] + gap if side == 1 else box[1] - gap)

    def canvas(x1, y1, x2, y2):
        img = assets.background(rng, (x2 - x1, y2 - y1), virtual_width=vw).convert("RGBA")
        layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
        layer.paste(sprite, (-x1, -y1))
        img.alpha_composite(layer)
        img = img.convert("RGB")
        if edge is not None:
            side, pos = edge
            if side == 0 and pos > x1:
                img.paste((0, 0, 0), (0, 0, int(pos - x1), img.height))
            elif side == 1 and pos < x2:
                img.paste((0, 0, 0), (int(pos - x1), 0, img.width, img.height))
            elif side == 2 and pos > y1:
                img.paste((0, 0, 0), (0, 0, img.width, int(pos - y1)))
        return img

    return _cut(canvas, box, margin, shift, size)


def _shot_crop(rng, assets: Assets, box_fn, margin, shift, size, label: str = "close") -> Image.Image | None:
    shots = assets.boxed(label) if box_fn is None else assets.screenshots
    if not shots:
        return None
    shot = assets.pick_screenshot(rng, shots)
    img = assets.screenshot_image(shot)
    if box_fn is None:
        own = shot.boxes_of(label)
        box = own[int(rng.integers(len(own)))]
    else:
        box = box_fn(shot, img)
        if box is None:
            return None
    return _cut(lambda x1, y1, x2, y2: img.crop((x1, y1, x2, y2)), box, margin, shift, size)


def _away_box(rng, shot, img, margin: float, tries: int = 10):
    """A random object-sized box whose crop (at ``margin``, at least ``AWAY_CHECK_MARGIN``) holds at
    most a quarter of any target box."""
    W, H = img.size
    for _ in range(tries):
        w = uniform(rng, SPRITE_PX[NEGATIVE]) * W / 1080.0
        h = w * uniform(rng, (0.5, 2.0))
        x, y = rng.uniform(0, max(1.0, W - w)), rng.uniform(0, max(1.0, H - h))
        cx1, cy1, cx2, cy2 = square_crop_box((x, y, x + w, y + h), max(margin, AWAY_CHECK_MARGIN))
        ok = True
        for b in shot.boxes:
            iw = max(0.0, min(cx2, b[2]) - max(cx1, b[0]))
            ih = max(0.0, min(cy2, b[3]) - max(cy1, b[1]))
            if iw * ih > 0.25 * (b[2] - b[0]) * (b[3] - b[1]):
                ok = False
                break
        if ok:
            return (x, y, x + w, y + h)
    return None


def _pick(rng, labels: list[str]) -> str:
    """One of ``labels``; a single one is taken without a draw (so a close-only recipe's random stream
    does not depend on the label list)."""
    return labels[0] if len(labels) == 1 else labels[int(rng.integers(len(labels)))]


def make_crop(rng: np.random.Generator, assets: Assets, recipe: dict[str, Any], label: str,
              size: int, targets: Sequence[str] = ("close",)) -> Image.Image:
    """One verifier training crop of class ``label``: one of ``targets`` (``close``, ``watch_ad``,
    ...) or the negative class (``other`` / ``not_close``), whose partial-target crops are cut from
    sprites of ``targets``. (Crops around the detector's own proposals come from
    :mod:`gaa_mlops.data.mining`, a screen at a time.)"""
    margin = uniform(rng, recipe.get("crop_margin", [0.3, 0.3]))
    j = float(recipe.get("crop_jitter", 0.0))
    shift = (float(rng.uniform(-j, j)), float(rng.uniform(-j, j))) if j > 0 else (0.0, 0.0)
    r = rng.random()
    if not is_negative(label):
        if r < 0.2:
            out = _shot_crop(rng, assets, None, margin, shift, size, label)
            if out is not None:
                return out
        return _sprite_crop(rng, assets, label, margin, shift, size)
    # the negative class
    partial = [t for t in targets if assets.has_sprites(t)]
    if r < 0.1 and partial:              # half-out: the crop edge cuts through the button
        mag = margin + uniform(rng, HALF_OUT)      # the crop edge is `margin` away from the button
        ang = rng.choice([0, 90, 180, 270]) + rng.uniform(-30, 30)
        half = (mag * float(np.cos(np.radians(ang))), mag * float(np.sin(np.radians(ang))))
        return _sprite_crop(rng, assets, _pick(rng, partial), margin, half, size)
    if r < 0.15 and partial:             # far too wide a context around a small button
        wide = uniform(rng, WIDE_MARGIN) * (runtime_margin(recipe) / RUNTIME_MARGIN)
        return _sprite_crop(rng, assets, _pick(rng, partial), wide, shift, size)
    if r < 0.45:                         # a screenshot window away from its close boxes
        out = _shot_crop(rng, assets, lambda shot, img: _away_box(rng, shot, img, margin), margin, shift, size)
        if out is not None:
            return out
    if r < 0.6 or not assets.has_sprites(NEGATIVE):   # a plain background window
        w = uniform(rng, SPRITE_PX[NEGATIVE])
        h = w * uniform(rng, (0.5, 2.0))
        vw = uniform(rng, SCREEN_WIDTH_PX)
        return _cut(lambda x1, y1, x2, y2: assets.background(rng, (x2 - x1, y2 - y1), virtual_width=vw),
                    (0, 0, w, h), margin, shift, size)
    return _sprite_crop(rng, assets, NEGATIVE, margin, shift, size)
