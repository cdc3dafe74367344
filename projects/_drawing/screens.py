"""Composing a screen: pasting sprites, cards, dimming, buttons, finding free space."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .core import BLACK, WHITE, font
from .text import text_on


def paste(screen: Image.Image, sprite: Image.Image, x: int, y: int):
    """Alpha-composite an RGBA sprite onto an RGB screen at (x, y) (top-left)."""
    screen.paste(sprite, (int(x), int(y)), sprite)


def rounded_card(screen, box, fill, radius, alpha=1.0, shadow=True):
    x0, y0, x1, y1 = [int(v) for v in box]
    if shadow:
        sh = Image.new("L", screen.size, 0)
        ImageDraw.Draw(sh).rounded_rectangle([x0 + 4, y0 + 8, x1 + 4, y1 + 8], radius=radius, fill=110)
        sh = sh.filter(ImageFilter.GaussianBlur(10))
        screen.paste(Image.new("RGB", screen.size, BLACK), (0, 0), sh)
    m = Image.new("L", screen.size, 0)
    ImageDraw.Draw(m).rounded_rectangle([x0, y0, x1, y1], radius=radius, fill=int(255 * alpha))
    screen.paste(Image.new("RGB", screen.size, tuple(fill)), (0, 0), m)


def dim(screen: Image.Image, amount: float) -> Image.Image:
    return Image.blend(screen, Image.new("RGB", screen.size, BLACK), amount)


def button(screen, box, fill, text, font_path, colour=WHITE, radius=None):
    x0, y0, x1, y1 = box
    rounded_card(screen, box, fill, radius if radius is not None else (y1 - y0) // 2, shadow=False)
    px = int((y1 - y0) * 0.45)
    f = font(font_path, px)
    while f.getlength(text) > (x1 - x0) * 0.85 and px > 8:
        px -= 2
        f = font(font_path, px)
    text_on(screen, ((x0 + x1) / 2, (y0 + y1) / 2), text, font_path, px, colour)


def contrast(screen: Image.Image, sprite: Image.Image, x: int, y: int) -> float:
    """Mean luminance change a sprite makes where its alpha is strong (visibility check)."""
    region = screen.crop((x, y, x + sprite.width, y + sprite.height)).convert("RGB")
    comp = region.copy()
    comp.paste(sprite, (0, 0), sprite)
    a = np.asarray(sprite.getchannel("A"), np.float32) / 255
    r = np.asarray(region.convert("L"), np.float32)
    c = np.asarray(comp.convert("L"), np.float32)
    w = a > 0.3
    if not w.any():
        return 0.0
    return float(np.abs(c - r)[w].mean())


def overlaps(box, boxes, margin=4):
    x0, y0, x1, y1 = box
    for b in boxes:
        if x0 < b[2] + margin and b[0] < x1 + margin and y0 < b[3] + margin and b[1] < y1 + margin:
            return True
    return False


def place_free(rng, size, area, taken, tries=30):
    """Random top-left (x, y) for a (w, h) box inside area=(x0, y0, x1, y1) not overlapping taken boxes."""
    w, h = size
    x0, y0, x1, y1 = area
    for _ in range(tries):
        if x1 - w <= x0 or y1 - h <= y0:
            return None
        x, y = int(rng.integers(x0, x1 - w)), int(rng.integers(y0, y1 - h))
        if not overlaps((x, y, x + w, y + h), taken):
            return x, y
    return None


def paste_free(rng, screen, sprite, area, taken, tries=30) -> bool:
    """Paste ``sprite`` at a free place inside ``area`` (``place_free``) and add its box to ``taken``;
    False, and nothing pasted, when ``tries`` found none."""
    xy = place_free(rng, sprite.size, area, taken, tries)
    if xy is None:
        return False
    paste(screen, sprite, *xy)
    taken.append((xy[0], xy[1], xy[0] + sprite.width, xy[1] + sprite.height))
    return True
