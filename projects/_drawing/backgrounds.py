"""Screen backgrounds: gradients, blobs, noise, game scenes, video frames, store pages."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .core import BLACK, WHITE, lerp, pick, rand_colour


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
    arr = lerp(c0, c1, t)
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
    arr = lerp(c0, c1, low) + fine
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")


def draw_character(d, rng, cx, cy, r):
    """A cartoon 'character' blob with eyes (game ads are full of them)."""
    col = rand_colour(rng, 40, 255)
    d.ellipse([cx - r, cy - r * 1.1, cx + r, cy + r], fill=col)
    for s in (-1, 1):
        ex, ey = cx + s * r * 0.35, cy - r * 0.2
        d.ellipse([ex - r * 0.2, ey - r * 0.25, ex + r * 0.2, ey + r * 0.25], fill=WHITE)
        d.ellipse([ex - r * 0.09, ey - r * 0.1, ex + r * 0.09, ey + r * 0.14], fill=BLACK)
    d.arc([cx - r * 0.35, cy + r * 0.05, cx + r * 0.35, cy + r * 0.55], 20, 160, fill=BLACK,
          width=max(1, int(r * 0.08)))


def bg_scene(rng, W, H):
    sky0, sky1 = rand_colour(rng, 60, 200), rand_colour(rng, 150, 255)
    t = np.linspace(0, 1, H, dtype=np.float32)[:, None].repeat(W, 1)
    im = Image.fromarray(lerp(sky0, sky1, t).astype(np.uint8), "RGB")
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
                d.rounded_rectangle([u * 10, y + k * u * 2, u * (10 + rng.uniform(8, 18)), y + k * u * 2 + u],
                                    radius=u / 2,
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
                d.rounded_rectangle([u * 2, y, u * rng.uniform(20, 34), y + u * 0.9], radius=u / 2,
                                    fill=(190, 190, 195))
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
