"""Text sprites (outlined, shadowed) and text drawn straight onto a screen."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .core import (
    BLACK,
    COLOURS,
    GREYS,
    SS,
    WHITE,
    blur_mask,
    crop_tight,
    finish_mask,
    font,
    over,
    pick,
    shift,
    to_image,
)


def render_text(text: str, font_path: str, px: int, colour, outline=None, outline_w: int = 0,
                shadow: dict | None = None, alpha: float = 1.0, bg=None, bg_alpha: float = 1.0,
                bg_pad: float = 0.25) -> Image.Image:
    """Text sprite (RGBA, tight crop with 2 px padding). Optional outline, drop shadow, pill background."""
    f = font(font_path, px)
    ow = int(outline_w) if outline else 0
    x0, y0, x1, y1 = f.getbbox(text, stroke_width=ow)
    pad = int(px * (bg_pad + 0.3)) + 4 + ow
    W, H = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    org = (pad - x0, pad - y0)

    def tmask(sw):
        im = Image.new("L", (W, H), 0)
        ImageDraw.Draw(im).text(org, text, font=f, fill=255, stroke_width=sw, stroke_fill=255)
        return np.asarray(im, dtype=np.float32) / 255.0

    rgb = np.zeros((H, W, 3), np.float32)
    a = np.zeros((H, W), np.float32)
    tm = tmask(0)
    body = tmask(ow) if ow else tm
    if bg is not None:
        bp = int(px * bg_pad)
        im = Image.new("L", (W * SS, H * SS), 0)
        ImageDraw.Draw(im).rounded_rectangle(
            [(pad - bp) * SS, (pad - bp) * SS, (W - pad + bp) * SS, (H - pad + bp) * SS],
            radius=(H - 2 * pad + 2 * bp) * SS * 0.3, fill=255)
        over(rgb, a, finish_mask(im), bg, bg_alpha)
    if shadow:
        sm = shift(blur_mask(body, shadow.get("blur", 2)), shadow.get("dx", 2), shadow.get("dy", 2))
        over(rgb, a, sm, BLACK, shadow.get("alpha", 0.6))
    if ow:
        over(rgb, a, body, outline, alpha)
    over(rgb, a, tm, colour, alpha)
    return crop_tight(to_image(rgb, a), 2)


def text_sprite_style(rng, i: int, colours, outline_colours=(BLACK, (60, 20, 0), (20, 20, 80)),
                      max_outline: int = 4) -> dict:
    """render_text keyword arguments for the i-th sprite of a text-negative project, cycling through
    plain, outline, shadow, pill, outline + shadow; colours and outline widths (1 to ``max_outline``
    px) drawn from rng. Dark text gets a white outline, light text one of ``outline_colours``."""
    col = pick(rng, colours)
    dark = sum(col) < 300
    kind = i % 5
    kw = dict(colour=col)
    if kind in (1, 4):
        kw.update(outline=WHITE if dark else pick(rng, list(outline_colours)),
                  outline_w=int(rng.integers(1, max_outline + 1)))
    if kind in (2, 4):
        kw.update(shadow=dict(alpha=0.6, blur=2, dx=2, dy=2))
    if kind == 3:
        kw.update(bg=pick(rng, [BLACK, GREYS[1]] + COLOURS), bg_alpha=float(rng.uniform(0.5, 1.0)),
                  colour=WHITE)
    return kw


def text_on(screen, xy, text, font_path, px, colour, outline=None, ow=0, anchor="mm"):
    ImageDraw.Draw(screen).text(xy, text, font=font(font_path, px), fill=tuple(colour), anchor=anchor,
                                stroke_width=ow if outline else 0, stroke_fill=tuple(outline) if outline else None)
