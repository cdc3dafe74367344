"""Synthetic phone screenshots for the detector, and real detection-project screenshots, at the
model's input size.

A screen is composed on a virtual phone screen (``screen_sizes``, [H, W]): a background, 0..1 close
sprite (``no_close_fraction`` of screens have none) ``button_width_fraction`` of the screen wide,
``corner_fraction`` of them in a top corner, and ``distractors`` not_close sprites (some next to the
close button, some of its size, ``distractor_top_fraction`` of the others (default 0) in the top band
where close buttons go, most in its corners). ``card_fraction`` of the screens (default 0) are interstitials: the
background is sometimes dimmed and a dialog card (solid panel with a picture band) covers the middle;
a close button then sits on the card's top corner, half outside it (the commonest interstitial
layout, and an X straddling a hard edge looks like no sprite on a flat patch), or inside the card's
top corner. It is then resized to ``image_size`` ([H, W]) with PIL's
antialiased bilinear resize, exactly as GameEye resizes a screenshot.

Other target classes (``targets`` beyond ``close``, e.g. ``watch_ad``) are placed after the close
button, each independently: with probability ``targets.<class>.fraction`` one sprite of that class,
``width_fraction`` of the screen wide, anywhere on the screen (``bottom_fraction`` of them in the
lower half, where games put their reward buttons), never overlapping another target. A close-only
``targets`` list draws exactly the screens it drew before classes came from projects. For speed the screen is
rendered at up to ``OVERSAMPLE`` times the output size instead of full resolution; the final
downscale makes the two look the same. Boxes are [x1, y1, x2, y2] in pixels of ``image_size``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

from gaa_mlops.data.assets import RESAMPLE, Assets, alpha_box, augment_sprite, uniform
from gaa_mlops.projects import NEGATIVE, Screenshot

OVERSAMPLE = 2.0
Box = tuple[float, float, float, float]
# Placement of a target class other than close, unless recipe.targets.<class> says otherwise.
TARGET_DEFAULTS: dict[str, Any] = {"fraction": 0.5, "width_fraction": [0.2, 0.55], "bottom_fraction": 0.6}


def _overlaps(a: Box, b: Box, pad: float = 0.0) -> bool:
    return a[0] < b[2] + pad and b[0] - pad < a[2] and a[1] < b[3] + pad and b[1] - pad < a[3]


def visible_box(sprite: Image.Image) -> tuple[int, int, int, int]:
    return alpha_box(sprite) or sprite.getchannel("A").getbbox() or (0, 0, *sprite.size)


def target_settings(recipe: dict[str, Any], label: str) -> dict[str, Any]:
    """Placement settings of a non-close target class: TARGET_DEFAULTS updated by recipe.targets.<label>."""
    return {**TARGET_DEFAULTS, **dict((recipe.get("targets") or {}).get(label) or {})}


def _place_target(rng, assets: Assets, recipe, label: str, W: int, s: float, rw: int, rh: int,
                  taken: list[Box]):
    """One sprite of a non-close target class somewhere free on the screen, or None."""
    st = target_settings(recipe, label)
    if rng.random() >= float(st["fraction"]):
        return None
    sprite, aug = assets.sprite(rng, label)
    width = min(uniform(rng, st["width_fraction"]) * W * s, 0.95 * rw)
    d = augment_sprite(rng, sprite, aug, width)
    vx1, vy1, vx2, vy2 = visible_box(d)
    dw, dh = vx2 - vx1, vy2 - vy1
    lower = rng.random() < float(st["bottom_fraction"])
    for _try in range(8):
        x = rng.uniform(0, max(1.0, rw - dw))
        y0, y1 = (rh / 2, max(rh / 2 + 1, rh - dh)) if lower else (0.0, max(1.0, rh - dh))
        y = rng.uniform(y0, y1)
        box = (x, y, x + dw, y + dh)
        if not any(_overlaps(box, t, pad=4) for t in taken):
            return d, (int(round(x)), int(round(y)), int(round(x)) + dw, int(round(y)) + dh)
    return None


def _extra_close(rng, assets: Assets, recipe, W: int, s: float, rw: int, rh: int,
                 taken: list[Box]) -> list[tuple[str, Image.Image, Box]]:
    """``extra_close: [lo, hi]`` more close sprites anywhere free on a screen that has one (a detector
    recipe only: more positive examples per rendered screen; the verifier's screens never set it)."""
    lo, hi = (int(v) for v in recipe["extra_close"])
    placed = []
    for _ in range(int(rng.integers(lo, hi + 1))):
        sprite, aug = assets.sprite(rng, "close")
        d = augment_sprite(rng, sprite, aug, uniform(rng, recipe.get("button_width_fraction", [0.035, 0.1])) * W * s)
        vx1, vy1, vx2, vy2 = visible_box(d)
        dw, dh = vx2 - vx1, vy2 - vy1
        for _try in range(8):
            x, y = rng.uniform(0, max(1.0, rw - dw)), rng.uniform(0, max(1.0, rh - dh))
            box = (int(round(x)), int(round(y)), int(round(x)) + dw, int(round(y)) + dh)
            if not any(_overlaps(box, t, pad=4) for t in taken):
                placed.append(("close", d, box))
                taken.append(box)
                break
    return placed


def _paste_clipped(canvas: Image.Image, sprite: Image.Image, box: Box) -> None:
    """Paste a sprite whose visible box goes to ``box`` (alpha_composite needs a non-negative
    destination, so it goes through a full-size layer)."""
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    vb = visible_box(sprite)
    layer.paste(sprite, (int(box[0] - vb[0]), int(box[1] - vb[1])))
    canvas.alpha_composite(layer)


CARD_FILLS = [(255, 255, 255), (250, 244, 230), (245, 245, 250), (30, 30, 38), (52, 58, 74)]
CARD_CORNER_PLACES = (("outside_right", 0.6), ("outside_left", 0.15), ("inside_right", 0.25))


def _draw_card(rng: np.random.Generator, assets: Assets, canvas: Image.Image) -> Box:
    """An interstitial dialog card on ``canvas`` (in place): maybe dim the screen, then a rounded
    panel with a picture band; returns the card's box."""
    rw, rh = canvas.size
    if rng.random() < 0.5:
        shade = Image.new("RGBA", canvas.size, (0, 0, 0, int(255 * uniform(rng, (0.35, 0.75)))))
        canvas.alpha_composite(shade)
    cw, ch = int(rw * uniform(rng, (0.7, 0.94))), int(rh * uniform(rng, (0.35, 0.72)))
    x0 = int((rw - cw) / 2 + rng.uniform(-0.03, 0.03) * rw)
    y0 = int((rh - ch) / 2 + rng.uniform(-0.08, 0.08) * rh)
    fill = CARD_FILLS[int(rng.integers(len(CARD_FILLS)))] if rng.random() < 0.8 else \
        tuple(int(v) for v in rng.integers(0, 256, 3))
    radius = int(uniform(rng, (0.0, 0.06)) * rw)
    mask = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle([x0, y0, x0 + cw, y0 + ch], radius=radius, fill=255)
    canvas.paste(Image.new("RGBA", canvas.size, (*fill, 255)), (0, 0), mask)
    band_h = int(ch * uniform(rng, (0.3, 0.6)))
    if band_h > 4 and rng.random() < 0.8:
        inset = int(cw * uniform(rng, (0.0, 0.06)))
        band = assets.background(rng, (cw - 2 * inset, band_h)).convert("RGBA")
        canvas.alpha_composite(band, (x0 + inset, y0 + inset + int(ch * 0.04)))
    return (x0, y0, x0 + cw, y0 + ch)


def _top_band_position(rng: np.random.Generator, rw: int, rh: int, dw: float, dh: float) -> tuple[float, float]:
    """Top-left of a distractor's visible box (``dw`` x ``dh``) in the screen's top band, inset as a
    corner close button is: in the top-left or top-right corner, or (one time in three) anywhere
    along the top. A count or a glyph there sits exactly where the bot looks for its X."""
    inset_x, inset_y = uniform(rng, (0.0, 0.05)) * rw, uniform(rng, (0.0, 0.05)) * rw
    where = int(rng.integers(3))
    if where == 0:
        x = inset_x
    elif where == 1:
        x = rw - inset_x - dw
    else:
        x = rng.uniform(0, max(1.0, rw - dw))
    return max(0.0, x), min(inset_y, max(0.0, rh - dh))


def _card_close_position(rng: np.random.Generator, card: Box, vis: tuple[int, int, int, int]) -> tuple[float, float]:
    """Top-left paste position of a close sprite (visible box ``vis``) on a card's top corner."""
    vx1, vy1, vx2, vy2 = vis
    bw, bh = vx2 - vx1, vy2 - vy1
    r, place = rng.random(), "inside_right"
    for name, share in CARD_CORNER_PLACES:
        if r < share:
            place = name
            break
        r -= share
    out = uniform(rng, (0.3, 0.7))          # share of the button outside the card, each axis
    if place == "outside_right":
        left, top = card[2] - bw * (1 - out), card[1] - bh * out
    elif place == "outside_left":
        left, top = card[0] - bw * out, card[1] - bh * out
    else:
        pad = uniform(rng, (0.2, 0.8)) * bw
        left, top = card[2] - bw - pad, card[1] + pad
    return left - vx1, top - vy1


def compose_screen(rng: np.random.Generator, assets: Assets, recipe: dict[str, Any],
                   image_size: tuple[int, int],
                   targets: Sequence[str] = ("close",)) -> tuple[Image.Image, list[Box], list[str]]:
    """One synthetic screen at ``image_size`` (H, W), its target boxes and their classes."""
    out_h, out_w = image_size
    sizes = recipe.get("screen_sizes") or [[1280, 720]]
    H, W = (int(v) for v in sizes[int(rng.integers(len(sizes)))])
    s = min(1.0, OVERSAMPLE * max(out_h / H, out_w / W))       # render scale of the virtual screen
    rw, rh = max(1, round(W * s)), max(1, round(H * s))
    canvas = assets.background(rng, (rw, rh)).convert("RGBA")
    card_fraction = float(recipe.get("card_fraction", 0.0))
    # drawn only when asked for: recipes without cards keep their random stream (and datasets)
    card = _draw_card(rng, assets, canvas) if card_fraction > 0 and rng.random() < card_fraction else None

    close_box: Box | None = None
    close_sprite = None
    no_close = float(recipe.get("no_close_fraction", 0.25))
    if "close" in targets and assets.has_sprites("close") and rng.random() >= no_close:
        sprite, aug = assets.sprite(rng, "close")
        width = uniform(rng, recipe.get("button_width_fraction", [0.035, 0.1])) * W * s
        close_sprite = augment_sprite(rng, sprite, aug, width)
        vx1, vy1, vx2, vy2 = visible_box(close_sprite)
        if card is not None:
            x, y = _card_close_position(rng, card, (vx1, vy1, vx2, vy2))
        elif rng.random() < float(recipe.get("corner_fraction", 0.7)):
            inset_x = uniform(rng, (0.0, 0.05)) * rw
            inset_y = uniform(rng, (0.0, 0.05)) * rw
            y = inset_y - vy1
            x = inset_x - vx1 if rng.random() < 0.5 else rw - inset_x - vx2
        else:
            x = rng.uniform(-vx1, max(-vx1, rw - vx2))
            y = rng.uniform(-vy1, max(-vy1, rh - vy2))
        x, y = int(round(x)), int(round(y))
        close_box = (x + vx1, y + vy1, x + vx2, y + vy2)

    others: list[tuple[str, Image.Image, Box]] = []       # other target classes, e.g. watch_ad
    taken: list[Box] = [close_box] if close_box is not None else []
    if close_box is not None and recipe.get("extra_close"):
        others += _extra_close(rng, assets, recipe, W, s, rw, rh, taken)
    for label in targets:
        if label != "close" and assets.has_sprites(label):
            placed_target = _place_target(rng, assets, recipe, label, W, s, rw, rh, taken)
            if placed_target is not None:
                others.append((label, *placed_target))
                taken.append(placed_target[1])

    if assets.has_sprites(NEGATIVE):
        lo, hi = (int(v) for v in recipe.get("distractors", [2, 8]))
        top_share = float(recipe.get("distractor_top_fraction", 0.0))
        placed: list[Box] = []
        for _ in range(int(rng.integers(lo, hi + 1))):
            sprite, aug = assets.sprite(rng, NEGATIVE)
            near = close_box is not None and rng.random() < 0.3
            if close_box is not None and (near or rng.random() < 0.4):       # look-alike size
                width = (close_box[2] - close_box[0]) * uniform(rng, (0.6, 1.6))
                d = augment_sprite(rng, sprite, aug, width)
            else:
                width = uniform(rng, (0.03, 0.35)) * rw
                d = augment_sprite(rng, sprite, aug, width, use_scale=True)
            bx1, by1, bx2, by2 = visible_box(d)
            dw, dh = bx2 - bx1, by2 - by1
            # drawn only when asked for: recipes without it keep their random stream (and datasets)
            on_top = top_share > 0 and not near and rng.random() < top_share
            for _try in range(6):
                if near:
                    cb = close_box
                    gap = uniform(rng, (0.05, 0.6)) * (cb[2] - cb[0])
                    side = int(rng.integers(3))
                    if side == 0:      # left of the close button
                        x, y = cb[0] - gap - dw, cb[1] + rng.uniform(-0.3, 0.3) * dh
                    elif side == 1:    # right
                        x, y = cb[2] + gap, cb[1] + rng.uniform(-0.3, 0.3) * dh
                    else:              # below
                        x, y = cb[0] + rng.uniform(-0.5, 0.5) * dw, cb[3] + gap
                elif on_top:
                    x, y = _top_band_position(rng, rw, rh, dw, dh)
                else:
                    x, y = rng.uniform(0, max(1.0, rw - dw)), rng.uniform(0, max(1.0, rh - dh))
                box = (x, y, x + dw, y + dh)
                if not any(_overlaps(box, t, pad=2) for t in taken):
                    break
            else:
                continue
            canvas.alpha_composite(d, (int(round(x - bx1)), int(round(y - by1))))
            placed.append(box)

    if close_sprite is not None:
        _paste_clipped(canvas, close_sprite, close_box)
    for _label, sprite, box in others:
        _paste_clipped(canvas, sprite, box)

    img = canvas.convert("RGB").resize((out_w, out_h), RESAMPLE)
    boxes: list[Box] = []
    labels: list[str] = []
    fx, fy = out_w / rw, out_h / rh
    objects = ([("close", close_box)] if close_box is not None else []) + [(lab, b) for lab, _, b in others]
    for label, ob in objects:
        b = (max(0.0, ob[0] * fx), max(0.0, ob[1] * fy), min(float(out_w), ob[2] * fx), min(float(out_h), ob[3] * fy))
        if b[2] - b[0] >= 1 and b[3] - b[1] >= 1:
            boxes.append(b)
            labels.append(label)
    return img, boxes, labels


def real_screen(assets: Assets, shot: Screenshot, image_size: tuple[int, int],
                hflip: bool = False) -> tuple[Image.Image, list[Box], list[str]]:
    """A detection-project screenshot resized to ``image_size`` (H, W), boxes scaled along, and
    the boxes' classes."""
    out_h, out_w = image_size
    img = assets.screenshot_image(shot)
    iw, ih = img.size
    fx, fy = out_w / iw, out_h / ih
    out = img.resize((out_w, out_h), RESAMPLE)
    boxes = [(b[0] * fx, b[1] * fy, b[2] * fx, b[3] * fy) for b in shot.boxes]
    if hflip:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
        boxes = [(out_w - b[2], b[1], out_w - b[0], b[3]) for b in boxes]
    return out, boxes, [shot.label_of(i) for i in range(len(shot.boxes))]


def split_screenshots(rng: np.random.Generator, shots: Sequence[Screenshot],
                      val_share: float) -> tuple[list[Screenshot], list[Screenshot]]:
    """Partition real screenshots into (train, val) so none is in both."""
    order = [shots[i] for i in rng.permutation(len(shots))]
    n_val = int(round(len(order) * val_share))
    if len(order) >= 2:
        n_val = min(max(n_val, 1), len(order) - 1)
    else:
        n_val = 0
    return order[n_val:], order[:n_val]
