"""Fonts, colours and the mask primitives every drawing builds on: strokes, the X, the
"over" composite, blur/shift/dilate of masks, tight crops."""
from __future__ import annotations

import math

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


def lerp(c0, c1, t):
    c0, c1 = np.asarray(c0, np.float32), np.asarray(c1, np.float32)
    return c0 + (c1 - c0) * t[..., None]


def rand_colour(rng, lo=0, hi=255):
    return tuple(int(v) for v in rng.integers(lo, hi + 1, 3))
