"""UI glyphs that are not a close button (play, info, arrows, stars, gear, ...), bare or on plates."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .core import (
    BLACK,
    FONT_LATIN,
    SS,
    WHITE,
    blur_mask,
    crop_tight,
    dilate,
    finish_mask,
    font,
    new_mask,
    over,
    polyline,
    shift,
    stroke,
    to_image,
)


def _g_play(d, cx, cy, r, w):
    d.polygon([(cx - r * 0.6, cy - r * 0.8), (cx - r * 0.6, cy + r * 0.8), (cx + r * 0.8, cy)], fill=255)


def _g_info(d, cx, cy, r, w):
    d.ellipse([cx - w * 0.65, cy - r * 0.75 - w * 0.65, cx + w * 0.65, cy - r * 0.75 + w * 0.65], fill=255)
    stroke(d, (cx, cy - r * 0.25), (cx, cy + r * 0.8), w * 1.1, "butt")


def _g_arrow(direction):
    def g(d, cx, cy, r, w):
        if direction == "down":
            stroke(d, (cx, cy - r * 0.85), (cx, cy + r * 0.45), w, "butt")
            polyline(d, [(cx - r * 0.5, cy), (cx, cy + r * 0.5), (cx + r * 0.5, cy)], w)
            stroke(d, (cx - r * 0.7, cy + r * 0.85), (cx + r * 0.7, cy + r * 0.85), w * 0.8, "round")
            return
        s = 1 if direction == "right" else -1
        if direction == "back":  # chevron only
            polyline(d, [(cx + r * 0.3, cy - r * 0.75), (cx - r * 0.45, cy), (cx + r * 0.3, cy + r * 0.75)], w * 1.2)
            return
        stroke(d, (cx - s * r * 0.8, cy), (cx + s * r * 0.7, cy), w, "round")
        polyline(d, [(cx + s * r * 0.1, cy - r * 0.6), (cx + s * r * 0.75, cy), (cx + s * r * 0.1, cy + r * 0.6)], w)
    return g


def _g_plus(d, cx, cy, r, w):
    stroke(d, (cx - r * 0.7, cy), (cx + r * 0.7, cy), w, "butt")
    stroke(d, (cx, cy - r * 0.7), (cx, cy + r * 0.7), w, "butt")


def _g_minus(d, cx, cy, r, w):
    stroke(d, (cx - r * 0.7, cy), (cx + r * 0.7, cy), w, "round")


def _g_check(d, cx, cy, r, w):
    polyline(d, [(cx - r * 0.7, cy + r * 0.02), (cx - r * 0.2, cy + r * 0.5), (cx + r * 0.75, cy - r * 0.55)], w)


def _g_star(d, cx, cy, r, w):
    pts = []
    for i in range(10):
        rr = r * (0.95 if i % 2 == 0 else 0.4)
        ang = -math.pi / 2 + i * math.pi / 5
        pts.append((cx + rr * math.cos(ang), cy + rr * math.sin(ang) + r * 0.05))
    d.polygon(pts, fill=255)


def _g_heart(d, cx, cy, r, w):
    k = r * 0.48
    d.ellipse([cx - 2 * k, cy - r * 0.75, cx, cy - r * 0.75 + 2 * k], fill=255)
    d.ellipse([cx, cy - r * 0.75, cx + 2 * k, cy - r * 0.75 + 2 * k], fill=255)
    d.polygon([(cx - 2 * k + r * 0.04, cy - r * 0.2), (cx + 2 * k - r * 0.04, cy - r * 0.2), (cx, cy + r * 0.85)],
              fill=255)


def _g_gear(d, cx, cy, r, w):
    for i in range(8):
        ang = i * math.pi / 4
        stroke(d, (cx, cy), (cx + r * 0.92 * math.cos(ang), cy + r * 0.92 * math.sin(ang)), r * 0.32, "butt")
    d.ellipse([cx - r * 0.72, cy - r * 0.72, cx + r * 0.72, cy + r * 0.72], fill=255)
    d.ellipse([cx - r * 0.3, cy - r * 0.3, cx + r * 0.3, cy + r * 0.3], fill=0)


def _g_speaker(d, cx, cy, r, w):
    d.rectangle([cx - r * 0.85, cy - r * 0.28, cx - r * 0.45, cy + r * 0.28], fill=255)
    d.polygon([(cx - r * 0.5, cy - r * 0.28), (cx - r * 0.05, cy - r * 0.7), (cx - r * 0.05, cy + r * 0.7),
               (cx - r * 0.5, cy + r * 0.28)], fill=255)
    for k in (0.45, 0.8):
        bb = [cx - r * k, cy - r * k, cx + r * k, cy + r * k]
        d.arc(bb, -45, 45, fill=255, width=max(1, int(w * 0.7)))


def _g_pause(d, cx, cy, r, w):
    d.rectangle([cx - r * 0.55, cy - r * 0.7, cx - r * 0.15, cy + r * 0.7], fill=255)
    d.rectangle([cx + r * 0.15, cy - r * 0.7, cx + r * 0.55, cy + r * 0.7], fill=255)


def _g_menu(d, cx, cy, r, w):
    for k in (-0.55, 0, 0.55):
        stroke(d, (cx - r * 0.7, cy + k * r), (cx + r * 0.7, cy + k * r), w, "round")


def _g_home(d, cx, cy, r, w):
    d.polygon([(cx, cy - r * 0.85), (cx - r * 0.9, cy - r * 0.05), (cx + r * 0.9, cy - r * 0.05)], fill=255)
    d.rectangle([cx - r * 0.6, cy - r * 0.1, cx + r * 0.6, cy + r * 0.8], fill=255)
    d.rectangle([cx - r * 0.18, cy + r * 0.25, cx + r * 0.18, cy + r * 0.8], fill=0)


def _g_share(d, cx, cy, r, w):
    pts = [(cx + r * 0.55, cy - r * 0.6), (cx - r * 0.55, cy), (cx + r * 0.55, cy + r * 0.6)]
    polyline(d, pts, w * 0.7)
    k = r * 0.25
    for x, y in pts:
        d.ellipse([x - k, y - k, x + k, y + k], fill=255)


def _g_text(ch, fp=FONT_LATIN["sans_bold"]):
    def g(d, cx, cy, r, w):
        f = font(fp, int(r * 2.1))
        d.text((cx, cy), ch, font=f, fill=255, anchor="mm")
    return g


def _g_bell(d, cx, cy, r, w):
    d.ellipse([cx - r * 0.55, cy - r * 0.75, cx + r * 0.55, cy + r * 0.3], fill=255)
    d.polygon([(cx - r * 0.55, cy - r * 0.2), (cx + r * 0.55, cy - r * 0.2), (cx + r * 0.8, cy + r * 0.5),
               (cx - r * 0.8, cy + r * 0.5)], fill=255)
    d.ellipse([cx - r * 0.18, cy + r * 0.5, cx + r * 0.18, cy + r * 0.85], fill=255)


def _g_lock(d, cx, cy, r, w):
    d.rounded_rectangle([cx - r * 0.65, cy - r * 0.1, cx + r * 0.65, cy + r * 0.85], radius=r * 0.12, fill=255)
    d.arc([cx - r * 0.42, cy - r * 0.8, cx + r * 0.42, cy + r * 0.1], 180, 360, fill=255, width=max(1, int(w * 0.8)))
    stroke(d, (cx - r * 0.42 + w * 0.4, cy - r * 0.35), (cx - r * 0.42 + w * 0.4, cy), w * 0.8, "butt")
    stroke(d, (cx + r * 0.42 - w * 0.4, cy - r * 0.35), (cx + r * 0.42 - w * 0.4, cy), w * 0.8, "butt")
    d.ellipse([cx - r * 0.13, cy + r * 0.2, cx + r * 0.13, cy + r * 0.46], fill=0)


def _g_magnifier(d, cx, cy, r, w):
    k = r * 0.5
    ox, oy = cx - r * 0.15, cy - r * 0.15
    d.ellipse([ox - k, oy - k, ox + k, oy + k], fill=255)
    d.ellipse([ox - k + w, oy - k + w, ox + k - w, oy + k - w], fill=0)
    stroke(d, (ox + k * 0.75, oy + k * 0.75), (cx + r * 0.8, cy + r * 0.8), w * 1.2, "round")


def _g_refresh(d, cx, cy, r, w):
    d.arc([cx - r * 0.7, cy - r * 0.7, cx + r * 0.7, cy + r * 0.7], 20, 300, fill=255, width=max(1, int(w)))
    ang = math.radians(300)
    x, y = cx + r * 0.7 * math.cos(ang), cy + r * 0.7 * math.sin(ang)
    d.polygon([(x + r * 0.35, y - r * 0.05), (x - r * 0.15, y - r * 0.35), (x - r * 0.05, y + r * 0.3)], fill=255)


GLYPHS = {
    "play": _g_play, "info": _g_info, "arrow_left": _g_arrow("left"), "arrow_right": _g_arrow("right"),
    "back": _g_arrow("back"), "download": _g_arrow("down"), "plus": _g_plus, "minus": _g_minus,
    "check": _g_check, "star": _g_star, "heart": _g_heart, "gear": _g_gear, "speaker": _g_speaker,
    "pause": _g_pause, "menu": _g_menu, "home": _g_home, "share": _g_share, "question": _g_text("?"),
    "bell": _g_bell, "lock": _g_lock, "magnifier": _g_magnifier, "refresh": _g_refresh,
    "exclaim": _g_text("!"),
}


def render_icon(name: str, size: int, style: str = "bare", fg=WHITE, bg=None, stroke_w: float = 0.11,
                outline=None, shadow: bool = False, radius: float = 0.25, bg_alpha: float = 1.0) -> Image.Image:
    """An icon sprite. style: bare | circle_fill | circle_ring | square_fill | square_ring."""
    size = int(size)
    m = int(size * 0.12) + 3
    W = size + 2 * m
    c = W * SS / 2
    S = size * SS
    rgb = np.zeros((W, W, 3), np.float32)
    a = np.zeros((W, W), np.float32)
    gr = S * (0.46 if style == "bare" else 0.27)
    gm_img, gd = new_mask(W, W)
    GLYPHS[name](gd, c, c, gr, stroke_w * S * (1.0 if style == "bare" else 0.75))
    gm = finish_mask(gm_img)
    cont = ring = None
    if style != "bare":
        mk, d = new_mask(W, W)
        lo, hi = c - S / 2, c + S / 2
        box = [lo, lo, hi, hi]
        if style.startswith("circle"):
            d.ellipse(box, fill=255)
        else:
            d.rounded_rectangle(box, radius=radius * S, fill=255)
        cont = finish_mask(mk)
        if style.endswith("ring"):
            mk2, d2 = new_mask(W, W)
            rw = S * 0.07
            if style.startswith("circle"):
                d2.ellipse([lo + rw, lo + rw, hi - rw, hi - rw], fill=255)
            else:
                d2.rounded_rectangle([lo + rw, lo + rw, hi - rw, hi - rw], radius=max(0, radius * S - rw), fill=255)
            ring = np.clip(cont - finish_mask(mk2), 0, 1)
            cont = None
    body = np.maximum(gm, cont if cont is not None else (ring if ring is not None else 0))
    if shadow:
        over(rgb, a, shift(blur_mask(body, size * 0.05), 0, max(1, size // 25)), BLACK, 0.55)
    if cont is not None:
        over(rgb, a, cont, bg if bg is not None else BLACK, bg_alpha)
    if ring is not None:
        over(rgb, a, ring, fg)
    if outline is not None:
        over(rgb, a, dilate(gm, max(1, size // 28)), outline)
    over(rgb, a, gm, fg)
    return crop_tight(to_image(rgb, a), 2)
