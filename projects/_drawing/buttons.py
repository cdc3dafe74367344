"""Close buttons (the X on its plate, every style the projects draw) and ad buttons
("watch ad", "play" pills with their little icons)."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .core import (
    BLACK,
    COLOURS,
    FONT_LATIN,
    GREYS,
    SS,
    WHITE,
    alpha_bbox,
    blur_mask,
    crop_tight,
    dilate,
    draw_x,
    finish_mask,
    font,
    lerp,
    new_mask,
    over,
    pick,
    shift,
    to_image,
)


def close_spec(**kw) -> dict:
    """Defaults for a close-button design; override any key."""
    spec = dict(
        shape="none",          # none | circle | square
        radius=0.25,           # corner radius of square, fraction of size
        fill=None, fill_alpha=1.0,
        ring=None, ring_w=0.07, ring_alpha=1.0,
        x_colour=WHITE, x_alpha=1.0,
        x_w=0.10,              # stroke width, fraction of size
        x_r=0.22,              # half extent of the X, fraction of size
        cap="round",           # round | square | butt
        x_outline=None, x_outline_w=0.04, x_outline_alpha=1.0,
        knockout=False,        # X cut out of the fill (see-through X)
        shadow=None,           # dict(alpha, blur, dx, dy) all fractions of size except alpha
        glow=None,             # dict(colour, alpha, blur) soft halo
    )
    spec.update(kw)
    return spec


def render_close(spec: dict, size: int):
    """Render a close button whose container (or X, when shape is none) spans ``size`` px.

    Returns (RGBA image, body_box) where body_box = (x0, y0, x1, y1) is the tight box of
    the button itself (shadow/glow excluded) inside the returned image, which is cropped
    tight with 2 px of transparent padding.
    """
    size = int(size)
    m = int(math.ceil(size * 0.2)) + 3
    W = size + 2 * m
    c = W * SS / 2.0
    S = size * SS
    rgb = np.zeros((W, W, 3), np.float32)
    a = np.zeros((W, W), np.float32)

    def shape_mask(inset=0.0):
        mk, d = new_mask(W, W)
        lo, hi = c - S / 2 + inset, c + S / 2 - inset
        if hi <= lo:
            return finish_mask(mk)
        if spec["shape"] == "circle":
            d.ellipse([lo, lo, hi, hi], fill=255)
        else:
            d.rounded_rectangle([lo, lo, hi, hi], radius=max(0.0, spec["radius"] * S - inset), fill=255)
        return finish_mask(mk)

    def x_mask(extra_w=0.0):
        mk, d = new_mask(W, W)
        draw_x(d, c, c, spec["x_r"] * S, spec["x_w"] * S + extra_w, spec["cap"])
        return finish_mask(mk)

    xm = x_mask()
    body = xm.copy()
    fill_m = ring_m = None
    if spec["shape"] != "none":
        full = shape_mask()
        body = np.maximum(body, full) if (spec["fill"] is not None or spec["ring"] is not None) else body
        if spec["fill"] is not None:
            fill_m = full * (1.0 - xm) if spec["knockout"] else full
        if spec["ring"] is not None:
            ring_m = np.clip(full - shape_mask(spec["ring_w"] * S), 0, 1)
    xo = None
    if spec["x_outline"] is not None:
        xo = x_mask(2 * spec["x_outline_w"] * S)
        body = np.maximum(body, xo)

    if spec["glow"]:
        g = spec["glow"]
        gm = blur_mask(dilate(body, max(1, round(size * 0.03))), g["blur"] * size)
        over(rgb, a, gm, g["colour"], g["alpha"])
    if spec["shadow"]:
        s = spec["shadow"]
        src = body if spec["fill"] is not None or spec["shape"] == "none" else \
            np.maximum(xm, ring_m if ring_m is not None else 0)
        sm = shift(blur_mask(src, max(0.5, s["blur"] * size)), round(s["dx"] * size), round(s["dy"] * size))
        over(rgb, a, sm, BLACK, s["alpha"])
    if fill_m is not None:
        over(rgb, a, fill_m, spec["fill"], spec["fill_alpha"])
    if ring_m is not None:
        over(rgb, a, ring_m, spec["ring"], spec["ring_alpha"])
    if xo is not None and not spec["knockout"]:
        over(rgb, a, xo, spec["x_outline"], spec["x_outline_alpha"])
    if not spec["knockout"]:
        over(rgb, a, xm, spec["x_colour"], spec["x_alpha"])
    img = to_image(rgb, a)
    # body box from the body mask
    ys, xs = np.nonzero(body > 0.25)
    bb = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    x0, y0, x1, y1 = alpha_bbox(img, 3)
    x0, y0 = max(0, x0 - 2), max(0, y0 - 2)
    x1, y1 = min(W, x1 + 2), min(W, y1 + 2)
    img = img.crop((x0, y0, x1, y1))
    return img, (bb[0] - x0, bb[1] - y0, bb[2] - x0, bb[3] - y0)


def random_close_spec(rng, family: str | None = None) -> dict:
    """A random close-button design of one family: plain | circle | square | see_through."""
    family = family or pick(rng, ["plain", "circle", "circle", "square", "see_through"])
    cap = pick(rng, ["round", "round", "square", "butt"])
    if family == "plain":
        col = pick(rng, [WHITE, WHITE, BLACK, GREYS[1], GREYS[3], pick(rng, COLOURS)])
        dark = sum(col) < 300
        return close_spec(
            x_colour=col, x_w=float(rng.uniform(0.05, 0.2)), x_r=float(rng.uniform(0.36, 0.42)), cap=cap,
            x_outline=(pick(rng, [None, WHITE]) if dark else pick(rng, [None, BLACK, (40, 40, 40)])),
            x_outline_w=float(rng.uniform(0.02, 0.05)),
            shadow=(dict(alpha=float(rng.uniform(0.4, 0.8)), blur=0.05, dx=0.02,
                         dy=0.04) if rng.random() < 0.4 else None))
    if family == "circle":
        style = pick(rng, ["dark", "white", "colour", "translucent", "ring", "ring_fill"])
        fill = {"dark": pick(rng, [BLACK, GREYS[0], (30, 30, 50)]), "white": WHITE, "colour": pick(rng, COLOURS),
                "translucent": pick(rng, [BLACK, GREYS[0], WHITE]), "ring": None,
                "ring_fill": pick(rng, [BLACK, WHITE, pick(rng, COLOURS)])}[style]
        xc = BLACK if fill == WHITE else (pick(rng, [WHITE, GREYS[4]]) if fill is not None else pick(rng,
                                                                                                     [WHITE, BLACK,
                                                                                                      GREYS[3]]))
        ring = None
        if style in ("ring", "ring_fill"):
            ring = pick(rng, [WHITE, GREYS[3], BLACK, pick(rng, COLOURS)])
            if style == "ring":
                xc = ring if rng.random() < 0.7 else pick(rng, [WHITE, BLACK])
        return close_spec(
            shape="circle", fill=fill, fill_alpha=float(rng.uniform(0.35, 0.7)) if style == "translucent" else 1.0,
            ring=ring, ring_w=float(rng.uniform(0.04, 0.12)), x_colour=xc, x_w=float(rng.uniform(0.06, 0.13)),
            x_r=float(rng.uniform(0.17, 0.25)), cap=cap,
            shadow=(dict(alpha=0.5, blur=0.06, dx=0.0, dy=0.04) if rng.random() < 0.3 else None))
    if family == "square":
        filled = rng.random() < 0.65
        fill = pick(rng, [BLACK, WHITE, GREYS[0], GREYS[2], pick(rng, COLOURS)]) if filled else None
        ring = None if filled and rng.random() < 0.6 else pick(rng, [WHITE, BLACK, GREYS[2], pick(rng, COLOURS)])
        xc = (BLACK if fill in (WHITE, GREYS[2]) else WHITE) if filled else (ring or WHITE)
        return close_spec(
            shape="square", radius=float(pick(rng, [0.0, 0.1, 0.2, 0.3])), fill=fill, ring=ring,
            ring_w=float(rng.uniform(0.04, 0.1)), x_colour=xc, x_w=float(rng.uniform(0.06, 0.13)),
            x_r=float(rng.uniform(0.18, 0.26)), cap=cap)
    # see_through
    style = pick(rng, ["disc", "rsquare", "bare_shadow", "translucent_x"])
    if style in ("disc", "rsquare"):
        bg = pick(rng, [BLACK, BLACK, WHITE, GREYS[0]])
        return close_spec(
            shape="circle" if style == "disc" else "square", radius=float(rng.uniform(0.15, 0.35)),
            fill=bg, fill_alpha=float(rng.uniform(0.3, 0.6)),
            x_colour=WHITE if bg != WHITE else pick(rng, [BLACK, GREYS[0], WHITE]),
            x_alpha=float(rng.uniform(0.8, 1.0)), x_w=float(rng.uniform(0.05, 0.11)), x_r=float(rng.uniform(0.17,
                                                                                                            0.24)),
            cap=cap, knockout=bool(bg == WHITE and rng.random() < 0.3))
    if style == "bare_shadow":
        return close_spec(x_colour=WHITE, x_w=float(rng.uniform(0.04, 0.09)), x_r=float(rng.uniform(0.36, 0.42)),
                          cap=cap,
                          shadow=dict(alpha=float(rng.uniform(0.5, 0.9)), blur=float(rng.uniform(0.04, 0.1)), dx=0.0,
                                      dy=0.02))
    return close_spec(x_colour=pick(rng, [WHITE, GREYS[4], BLACK]), x_alpha=float(rng.uniform(0.5, 0.8)),
                      x_w=float(rng.uniform(0.06, 0.15)), x_r=float(rng.uniform(0.36, 0.42)), cap=cap)


def _film_icon(d, cx, cy, r, colour):
    """A film strip (frame with sprocket holes) drawn in ``colour``."""
    w, h = r * 1.7, r * 1.25
    d.rounded_rectangle([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], radius=r * 0.15, fill=colour)
    hole = r * 0.16
    for k in range(4):
        x = cx - w / 2 + w * (k + 0.5) / 4
        for y in (cy - h / 2 + hole * 1.2, cy + h / 2 - hole * 1.2):
            d.rectangle([x - hole / 2, y - hole / 2, x + hole / 2, y + hole / 2], fill=(0, 0, 0, 0))
    d.polygon([(cx - r * 0.25, cy - r * 0.3), (cx - r * 0.25, cy + r * 0.3), (cx + r * 0.32, cy)], fill=(0, 0, 0, 0))


def _play_icon(d, cx, cy, r, colour, ring: bool):
    if ring:
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        c2 = (0, 0, 0, 0)
    else:
        c2 = colour
    d.polygon([(cx - r * 0.35, cy - r * 0.5), (cx - r * 0.35, cy + r * 0.5), (cx + r * 0.55, cy)], fill=c2)


def _tv_icon(d, cx, cy, r, colour):
    d.rounded_rectangle([cx - r, cy - r * 0.7, cx + r, cy + r * 0.7], radius=r * 0.25, fill=colour)
    d.line([(cx - r * 0.4, cy - r * 1.15), (cx, cy - r * 0.7), (cx + r * 0.4, cy - r * 1.15)], fill=colour,
           width=max(1, int(r * 0.15)))
    d.polygon([(cx - r * 0.3, cy - r * 0.35), (cx - r * 0.3, cy + r * 0.35), (cx + r * 0.4, cy)], fill=(0, 0, 0, 0))


BUTTON_ICONS = ("none", "play", "play_ring", "film", "tv")


def render_button(text: str, font_path: str, height: int, fill, fill2=None, text_colour=WHITE,
                  icon: str = "none", icon_colour=WHITE, radius: float = 0.5, outline=None,
                  outline_w: float = 0.06, shadow: bool = False, text_outline=None, bevel: bool = False,
                  badge: str | None = None) -> Image.Image:
    """A game-UI button sprite (RGBA, tight): rounded body (``radius`` x height; 0.5 = pill), solid
    ``fill`` or a vertical gradient ``fill`` -> ``fill2``, optional outline, bevel highlight, drop
    shadow, an icon on the left (BUTTON_ICONS) and a text label; ``badge`` adds a small corner tag
    (e.g. "AD", "x2")."""
    H = int(height) * 2                           # drawn at 2x, halved at the end (anti-aliasing)
    f = font(font_path, int(H * 0.42))
    tw = f.getlength(text) if text else 0
    icon_w = H * 0.8 if icon != "none" else 0
    pad = H * 0.45
    W = int(tw + icon_w + 2 * pad + (H * 0.15 if icon != "none" and text else 0))
    W = max(W, H)
    m = int(H * 0.25)
    canvas = Image.new("RGBA", (W + 2 * m, H + 2 * m), (0, 0, 0, 0))
    body = [m, m, m + W, m + H]
    rad = radius * H
    if shadow:
        sh = Image.new("L", canvas.size, 0)
        ImageDraw.Draw(sh).rounded_rectangle([body[0], body[1] + H * 0.08, body[2], body[3] + H * 0.08],
                                             radius=rad, fill=140)
        sh = sh.filter(ImageFilter.GaussianBlur(H * 0.05))
        canvas.paste(Image.new("RGBA", canvas.size, (0, 0, 0, 255)), (0, 0), sh)
    mask = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(body, radius=rad, fill=255)
    if fill2 is not None:
        t = np.linspace(0, 1, canvas.size[1], dtype=np.float32)[:, None].repeat(canvas.size[0], 1)
        grad = Image.fromarray(lerp(fill, fill2, t).astype(np.uint8), "RGB").convert("RGBA")
    else:
        grad = Image.new("RGBA", canvas.size, tuple(fill) + (255,))
    if outline is not None:
        om = Image.new("L", canvas.size, 0)
        ow = max(2, int(H * outline_w))
        ImageDraw.Draw(om).rounded_rectangle([body[0] - ow, body[1] - ow, body[2] + ow, body[3] + ow],
                                             radius=rad + ow, fill=255)
        canvas.paste(Image.new("RGBA", canvas.size, tuple(outline) + (255,)), (0, 0), om)
    canvas.paste(grad, (0, 0), mask)
    if bevel:
        hm = Image.new("L", canvas.size, 0)
        ImageDraw.Draw(hm).rounded_rectangle([body[0] + H * 0.08, body[1] + H * 0.06, body[2] - H * 0.08,
                                              body[1] + H * 0.42], radius=rad * 0.8, fill=70)
        canvas.paste(Image.new("RGBA", canvas.size, (255, 255, 255, 255)), (0, 0), hm)
    x = m + pad
    cy = m + H / 2
    if icon != "none":
        layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        r = H * 0.3
        col = tuple(icon_colour) + (255,)
        if icon in ("play", "play_ring"):
            _play_icon(d, x + r, cy, r, col, ring=icon == "play_ring")
        elif icon == "film":
            _film_icon(d, x + r, cy, r, col)
        else:
            _tv_icon(d, x + r, cy, r, col)
        canvas.alpha_composite(layer)
        x += icon_w + H * 0.15
    if text:
        d = ImageDraw.Draw(canvas)
        ow = max(1, int(H * 0.04)) if text_outline is not None else 0
        d.text((x + tw / 2, cy), text, font=f, fill=tuple(text_colour), anchor="mm", stroke_width=ow,
               stroke_fill=tuple(text_outline) if text_outline is not None else None)
    if badge:
        bf = font(FONT_LATIN["sans_bold"], int(H * 0.26))
        bw = bf.getlength(badge) + H * 0.2
        bx, by = m + W - bw * 0.8, m - H * 0.18
        d = ImageDraw.Draw(canvas)
        d.rounded_rectangle([bx, by, bx + bw, by + H * 0.36], radius=H * 0.1, fill=(250, 220, 40, 255))
        d.text((bx + bw / 2, by + H * 0.18), badge, font=bf, fill=(40, 20, 0, 255), anchor="mm")
    out = canvas.resize((canvas.width // 2, canvas.height // 2), Image.LANCZOS)
    return crop_tight(out, 2)


def close_at_width(spec: dict, width: int):
    """Render a close button so that its body box is ``width`` px wide. Returns (img, body_box)."""
    img, bb = render_close(spec, width)
    bw = bb[2] - bb[0]
    if abs(bw - width) > max(1, 0.04 * width):
        img, bb = render_close(spec, max(6, round(width * width / max(bw, 1))))
    return img, bb
