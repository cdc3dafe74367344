"""Shared drawing code for the image-project generators (plain PIL + numpy).

Not a project (the folder name starts with ``_``). Generators import it with::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import _drawing as D

Everything here is deterministic given the ``numpy.random.Generator`` passed in.
Shapes are drawn as masks on a 4x supersampled canvas and downsampled (anti-aliased
edges); layers are composited with the "over" operator in numpy, so the alpha of a
sprite is exact (semi-transparent fills stay semi-transparent).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SS = 4  # supersampling factor for masks

FONT_JA = {
    "gothic": "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "pgothic": "/usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf",
    "mincho": "/usr/share/fonts/opentype/ipafont-mincho/ipam.ttf",
}
_DV = "/usr/share/fonts/truetype/dejavu/"
FONT_LATIN = {
    "sans": _DV + "DejaVuSans.ttf",
    "sans_bold": _DV + "DejaVuSans-Bold.ttf",
    "sans_cond_bold": _DV + "DejaVuSansCondensed-Bold.ttf",
    "sans_oblique": _DV + "DejaVuSans-BoldOblique.ttf",
    "serif": _DV + "DejaVuSerif.ttf",
    "serif_bold": _DV + "DejaVuSerif-Bold.ttf",
    "mono_bold": _DV + "DejaVuSansMono-Bold.ttf",
    "light": _DV + "DejaVuSans-ExtraLight.ttf",
}

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GREYS = [(40, 40, 40), (90, 90, 90), (150, 150, 150), (200, 200, 200), (235, 235, 235)]
COLOURS = [
    (230, 50, 50), (240, 120, 30), (250, 200, 40), (60, 180, 75), (40, 140, 230),
    (120, 70, 210), (230, 60, 150), (30, 190, 190), (255, 90, 90), (20, 60, 140),
]

_font_cache: dict = {}


def font(path: str, px: int) -> ImageFont.FreeTypeFont:
    key = (path, int(px))
    if key not in _font_cache:
        _font_cache[key] = ImageFont.truetype(path, int(px))
    return _font_cache[key]


def pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


# --------------------------------------------------------------------------- masks

def new_mask(w: int, h: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A supersampled L mask for a final (w, h) canvas."""
    m = Image.new("L", (int(w) * SS, int(h) * SS), 0)
    return m, ImageDraw.Draw(m)


def finish_mask(m: Image.Image) -> np.ndarray:
    """Downsample a supersampled mask to float32 0..1."""
    w, h = m.size[0] // SS, m.size[1] // SS
    return np.asarray(m.resize((w, h), Image.BOX), dtype=np.float32) / 255.0


def stroke(d, p0, p1, w, cap="round", fill=255):
    """A thick line segment with round, square or butt caps (coordinates already supersampled)."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    ln = math.hypot(dx, dy) or 1.0
    ux, uy = dx / ln, dy / ln
    nx, ny = -uy, ux
    h = w / 2.0
    if cap == "square":
        x0, y0, x1, y1 = x0 - ux * h, y0 - uy * h, x1 + ux * h, y1 + uy * h
    d.polygon([(x0 + nx * h, y0 + ny * h), (x1 + nx * h, y1 + ny * h),
               (x1 - nx * h, y1 - ny * h), (x0 - nx * h, y0 - ny * h)], fill=fill)
    if cap == "round":
        d.ellipse([x0 - h, y0 - h, x0 + h, y0 + h], fill=fill)
        d.ellipse([x1 - h, y1 - h, x1 + h, y1 + h], fill=fill)


def polyline(d, pts, w, cap="round", fill=255):
    for a, b in zip(pts[:-1], pts[1:]):
        stroke(d, a, b, w, cap, fill)
    if cap == "round" or len(pts) > 2:  # round joins
        h = w / 2.0
        for x, y in pts[1:-1]:
            d.ellipse([x - h, y - h, x + h, y + h], fill=fill)


def draw_x(d, cx, cy, r, w, cap="round", fill=255, angle=45.0):
    """Two crossing strokes; r = half extent of each arm along its axis projection."""
    a = math.radians(angle)
    k = r / max(math.cos(a), 1e-6) if angle == 45.0 else r * math.sqrt(2)
    for ang in (a, math.pi - a):
        dx, dy = math.cos(ang) * k, math.sin(ang) * k
        stroke(d, (cx - dx, cy - dy), (cx + dx, cy + dy), w, cap, fill)


# --------------------------------------------------------------------- compositing

def over(dst_rgb, dst_a, mask, colour, alpha=1.0):
    """In-place 'over' of a flat-coloured layer (mask 0..1 times alpha) on a float RGBA buffer."""
    a = mask * float(alpha)
    col = np.asarray(colour, dtype=np.float32)[None, None, :] / 255.0
    out_a = a + dst_a * (1.0 - a)
    safe = np.where(out_a > 1e-6, out_a, 1.0)
    dst_rgb[:] = (col * a[..., None] + dst_rgb * (dst_a * (1.0 - a))[..., None]) / safe[..., None]
    dst_a[:] = out_a


def to_image(rgb, a) -> Image.Image:
    arr = np.concatenate([rgb, a[..., None]], axis=2)
    return Image.fromarray((np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8), "RGBA")


def blur_mask(mask: np.ndarray, radius: float) -> np.ndarray:
    im = Image.fromarray((np.clip(mask, 0, 1) * 255).astype(np.uint8), "L")
    im = im.filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(im, dtype=np.float32) / 255.0


def shift(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    out = np.zeros_like(mask)
    h, w = mask.shape
    xs, xd = (0, dx) if dx >= 0 else (-dx, 0)
    ys, yd = (0, dy) if dy >= 0 else (-dy, 0)
    out[yd:h - ys if ys else h, xd:w - xs if xs else w] = mask[ys:h - yd if yd else h, xs:w - xd if xd else w]
    return out


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    if px <= 0:
        return mask
    im = Image.fromarray((mask * 255).astype(np.uint8), "L")
    im = im.filter(ImageFilter.MaxFilter(2 * int(px) + 1))
    return np.asarray(im, dtype=np.float32) / 255.0


def alpha_bbox(img: Image.Image, thresh: int = 24):
    a = np.asarray(img.getchannel("A"))
    ys, xs = np.nonzero(a > thresh)
    if len(xs) == 0:
        return (0, 0, img.width, img.height)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def crop_tight(img: Image.Image, pad: int = 2, thresh: int = 3) -> Image.Image:
    x0, y0, x1, y1 = alpha_bbox(img, thresh)
    x0, y0 = max(0, x0 - pad), max(0, y0 - pad)
    x1, y1 = min(img.width, x1 + pad), min(img.height, y1 + pad)
    return img.crop((x0, y0, x1, y1))


def fit_long_side(img: Image.Image, lo: int, hi: int) -> Image.Image:
    """Resize (Pillow premultiplies RGBA) so that the longest side lies in [lo, hi]."""
    ls = max(img.size)
    if lo <= ls <= hi:
        return img
    s = (hi if ls > hi else lo) / ls
    return img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.LANCZOS)


# ------------------------------------------------------------------- close buttons

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
        src = body if spec["fill"] is not None or spec["shape"] == "none" else np.maximum(xm, ring_m if ring_m is not None else 0)
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
            shadow=(dict(alpha=float(rng.uniform(0.4, 0.8)), blur=0.05, dx=0.02, dy=0.04) if rng.random() < 0.4 else None))
    if family == "circle":
        style = pick(rng, ["dark", "white", "colour", "translucent", "ring", "ring_fill"])
        fill = {"dark": pick(rng, [BLACK, GREYS[0], (30, 30, 50)]), "white": WHITE, "colour": pick(rng, COLOURS),
                "translucent": pick(rng, [BLACK, GREYS[0], WHITE]), "ring": None,
                "ring_fill": pick(rng, [BLACK, WHITE, pick(rng, COLOURS)])}[style]
        xc = BLACK if fill == WHITE else (pick(rng, [WHITE, GREYS[4]]) if fill is not None else pick(rng, [WHITE, BLACK, GREYS[3]]))
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
            x_alpha=float(rng.uniform(0.8, 1.0)), x_w=float(rng.uniform(0.05, 0.11)), x_r=float(rng.uniform(0.17, 0.24)),
            cap=cap, knockout=bool(bg == WHITE and rng.random() < 0.3))
    if style == "bare_shadow":
        return close_spec(x_colour=WHITE, x_w=float(rng.uniform(0.04, 0.09)), x_r=float(rng.uniform(0.36, 0.42)), cap=cap,
                          shadow=dict(alpha=float(rng.uniform(0.5, 0.9)), blur=float(rng.uniform(0.04, 0.1)), dx=0.0, dy=0.02))
    return close_spec(x_colour=pick(rng, [WHITE, GREYS[4], BLACK]), x_alpha=float(rng.uniform(0.5, 0.8)),
                      x_w=float(rng.uniform(0.06, 0.15)), x_r=float(rng.uniform(0.36, 0.42)), cap=cap)


# ------------------------------------------------------------------------- text

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


# -------------------------------------------------------------------------- icons

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
    d.polygon([(cx - 2 * k + r * 0.04, cy - r * 0.2), (cx + 2 * k - r * 0.04, cy - r * 0.2), (cx, cy + r * 0.85)], fill=255)


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


# ------------------------------------------------------------------- game buttons

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
        grad = Image.fromarray(_lerp(fill, fill2, t).astype(np.uint8), "RGB").convert("RGBA")
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


# -------------------------------------------------------------------- backgrounds

def _lerp(c0, c1, t):
    c0, c1 = np.asarray(c0, np.float32), np.asarray(c1, np.float32)
    return c0 + (c1 - c0) * t[..., None]


def rand_colour(rng, lo=0, hi=255):
    return tuple(int(v) for v in rng.integers(lo, hi + 1, 3))


def bg_gradient(rng, W, H):
    c0, c1 = rand_colour(rng), rand_colour(rng)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    if rng.random() < 0.5:
        ang = rng.uniform(0, math.pi)
        t = (xx * math.cos(ang) + yy * math.sin(ang))
    else:
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        t = np.hypot(xx - cx, yy - cy)
    t = (t - t.min()) / (np.ptp(t) + 1e-6)
    arr = _lerp(c0, c1, t)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")


def bg_blobs(rng, W, H, n=None, dark=None):
    dark = rng.random() < 0.5 if dark is None else dark
    base = rand_colour(rng, 0, 80) if dark else rand_colour(rng, 150, 255)
    im = Image.new("RGB", (W, H), base)
    d = ImageDraw.Draw(im)
    for _ in range(n or int(rng.integers(6, 16))):
        r = rng.uniform(0.08, 0.35) * W
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        d.ellipse([x - r, y - r * rng.uniform(0.6, 1.6), x + r, y + r], fill=rand_colour(rng))
    return im.filter(ImageFilter.GaussianBlur(W * rng.uniform(0.03, 0.08)))


def bg_noise(rng, W, H):
    c0, c1 = rand_colour(rng), rand_colour(rng)
    low = rng.random((H // 40 + 2, W // 40 + 2)).astype(np.float32)
    low = np.asarray(Image.fromarray((low * 255).astype(np.uint8)).resize((W, H), Image.BICUBIC), np.float32) / 255
    fine = rng.normal(0, rng.uniform(3, 10), (H, W, 1)).astype(np.float32)
    arr = _lerp(c0, c1, low) + fine
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")


def draw_character(d, rng, cx, cy, r):
    """A cartoon 'character' blob with eyes (game ads are full of them)."""
    col = rand_colour(rng, 40, 255)
    d.ellipse([cx - r, cy - r * 1.1, cx + r, cy + r], fill=col)
    for s in (-1, 1):
        ex, ey = cx + s * r * 0.35, cy - r * 0.2
        d.ellipse([ex - r * 0.2, ey - r * 0.25, ex + r * 0.2, ey + r * 0.25], fill=WHITE)
        d.ellipse([ex - r * 0.09, ey - r * 0.1, ex + r * 0.09, ey + r * 0.14], fill=BLACK)
    d.arc([cx - r * 0.35, cy + r * 0.05, cx + r * 0.35, cy + r * 0.55], 20, 160, fill=BLACK, width=max(1, int(r * 0.08)))


def bg_scene(rng, W, H):
    sky0, sky1 = rand_colour(rng, 60, 200), rand_colour(rng, 150, 255)
    t = np.linspace(0, 1, H, dtype=np.float32)[:, None].repeat(W, 1)
    im = Image.fromarray(_lerp(sky0, sky1, t).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    if rng.random() < 0.6:
        sx, sy, sr = rng.uniform(0, W), rng.uniform(0, H * 0.3), W * rng.uniform(0.06, 0.12)
        d.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=(255, 230, 120))
    for _ in range(int(rng.integers(0, 5))):
        x, y, r = rng.uniform(0, W), rng.uniform(0, H * 0.4), W * rng.uniform(0.05, 0.1)
        for k in range(3):
            d.ellipse([x + k * r * 0.7 - r, y - r * 0.6, x + k * r * 0.7 + r, y + r * 0.6], fill=(250, 250, 250))
    gy = H * rng.uniform(0.55, 0.8)
    hills = [(0, H)] + [(x, gy - rng.uniform(0, H * 0.12)) for x in np.linspace(0, W, 6)] + [(W, H)]
    d.polygon(hills, fill=rand_colour(rng, 30, 140))
    d.rectangle([0, gy, W, H], fill=rand_colour(rng, 60, 180))
    for _ in range(int(rng.integers(2, 7))):
        x, y = rng.uniform(0, W), rng.uniform(gy * 0.7, H)
        s = W * rng.uniform(0.04, 0.12)
        if rng.random() < 0.5:
            d.rectangle([x - s, y - s, x + s, y + s], fill=rand_colour(rng), outline=BLACK, width=max(1, int(s * 0.08)))
        else:
            d.polygon([(x, y - s * 1.5), (x - s, y + s), (x + s, y + s)], fill=rand_colour(rng, 20, 120))
    for _ in range(int(rng.integers(1, 4))):
        draw_character(d, rng, rng.uniform(0.15, 0.85) * W, rng.uniform(0.45, 0.85) * H, W * rng.uniform(0.06, 0.15))
    return im.filter(ImageFilter.GaussianBlur(0.6))


def bg_video(rng, W, H):
    im = bg_blobs(rng, W, H, dark=True)
    arr = np.asarray(im, np.float32) * rng.uniform(0.35, 0.8)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    v = 1 - 0.6 * (((xx - W / 2) / W) ** 2 + ((yy - H / 2) / H) ** 2) * 2
    arr *= v[..., None]
    if rng.random() < 0.6:
        bar = int(H * rng.uniform(0.1, 0.25))
        arr[:bar] = 0
        arr[-bar:] = 0
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")


def bg_store(rng, W, H):
    base = pick(rng, [(255, 255, 255), (246, 246, 248), (240, 242, 245)])
    im = Image.new("RGB", (W, H), base)
    d = ImageDraw.Draw(im)
    y = H * 0.04
    u = W / 36
    while y < H * 0.95:
        kind = rng.random()
        if kind < 0.3:  # app row: icon + text lines + button
            s = u * 6
            d.rounded_rectangle([u * 2, y, u * 2 + s, y + s], radius=s * 0.22, fill=rand_colour(rng))
            for k in range(3):
                d.rounded_rectangle([u * 10, y + k * u * 2, u * (10 + rng.uniform(8, 18)), y + k * u * 2 + u], radius=u / 2,
                                    fill=(60, 60, 60) if k == 0 else (170, 170, 170))
            d.rounded_rectangle([W - u * 10, y + s * 0.3, W - u * 2, y + s * 0.3 + u * 2.6], radius=u * 1.3,
                                fill=pick(rng, [(0, 122, 255), (1, 135, 95), (230, 230, 235)]))
            y += s + u * 2
        elif kind < 0.55:  # screenshot strip
            h = u * rng.uniform(10, 18)
            for k in range(3):
                d.rounded_rectangle([u * 2 + k * u * 11.5, y, u * 12.5 + k * u * 11.5, y + h], radius=u,
                                    fill=rand_colour(rng, 80, 230))
            y += h + u * 2
        else:  # paragraph
            for _ in range(int(rng.integers(2, 5))):
                d.rounded_rectangle([u * 2, y, u * rng.uniform(20, 34), y + u * 0.9], radius=u / 2, fill=(190, 190, 195))
                y += u * 1.8
            y += u
    return im


BG_KINDS = {"gradient": bg_gradient, "blobs": bg_blobs, "noise": bg_noise, "scene": bg_scene,
            "video": bg_video, "store": bg_store}


def background(rng, kind: str, W: int, H: int, work_scale: float = 1.0) -> Image.Image:
    """A background of one kind, drawn at W*work_scale and resized to (W, H)."""
    w, h = max(8, int(W * work_scale)), max(8, int(H * work_scale))
    im = BG_KINDS[kind](rng, w, h)
    return im if (w, h) == (W, H) else im.resize((W, H), Image.BICUBIC)


# ------------------------------------------------------------------ screen helpers

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


def text_on(screen, xy, text, font_path, px, colour, outline=None, ow=0, anchor="mm"):
    ImageDraw.Draw(screen).text(xy, text, font=font(font_path, px), fill=tuple(colour), anchor=anchor,
                                stroke_width=ow if outline else 0, stroke_fill=tuple(outline) if outline else None)


def button(screen, box, fill, text, font_path, colour=WHITE, radius=None):
    x0, y0, x1, y1 = box
    rounded_card(screen, box, fill, radius if radius is not None else (y1 - y0) // 2, shadow=False)
    px = int((y1 - y0) * 0.45)
    f = font(font_path, px)
    while f.getlength(text) > (x1 - x0) * 0.85 and px > 8:
        px -= 2
        f = font(font_path, px)
    text_on(screen, ((x0 + x1) / 2, (y0 + y1) / 2), text, font_path, px, colour)


def save_jpeg(img: Image.Image, path: Path, quality: int = 80):
    img.convert("RGB").save(path, "JPEG", quality=quality, optimize=True)


def save_sprites(folder: Path, sprites, prefix: str = "s"):
    """Write RGBA sprites as images/<prefix>_NNN.png (old PNGs removed first)."""
    out = Path(folder) / "images"
    clean_dir(out, "*.png")
    for i, im in enumerate(sprites):
        im = fit_long_side(im, 48, 128)  # the sprite contract: longest side 48..128 px
        im.save(out / f"{prefix}_{i:03d}.png", optimize=True)
    return out


def clean_dir(path: Path, pattern: str):
    path.mkdir(parents=True, exist_ok=True)
    for p in path.glob(pattern):
        p.unlink()


# ------------------------------------------------------------- screen composition

def close_at_width(spec: dict, width: int):
    """Render a close button so that its body box is ``width`` px wide. Returns (img, body_box)."""
    img, bb = render_close(spec, width)
    bw = bb[2] - bb[0]
    if abs(bw - width) > max(1, 0.04 * width):
        img, bb = render_close(spec, max(6, round(width * width / max(bw, 1))))
    return img, bb


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


def write_coco(path: Path, images: list, annotations: list, categories=None):
    """COCO file; ``categories`` defaults to the single class close (id 1)."""
    import json
    data = {"images": images, "annotations": annotations,
            "categories": categories or [{"id": 1, "name": "close"}]}
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False))
