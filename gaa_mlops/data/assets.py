"""Source images of a project list, grouped by role, loaded lazily, and the sprite augmentation.

Roles: sprites by class (classification projects, RGBA: ``close``, ``watch_ad``, ... and the
negatives under ``other``, whether a project says ``other`` or its alias ``not_close``),
``backgrounds`` (background projects, RGB) and ``screenshots`` (detection projects, with boxes
labelled by class). Every random
choice takes a ``numpy.random.Generator`` so a sample depends only on its own seed.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

from gaa_mlops.projects import NEGATIVE, Augment, Project, Screenshot, is_negative, open_image

RESAMPLE = Image.BILINEAR   # PIL's bilinear resize is antialiased on downscale; GameEye uses it too


def uniform(rng: np.random.Generator, lo_hi: Sequence[float]) -> float:
    lo, hi = float(lo_hi[0]), float(lo_hi[1])
    return lo if hi <= lo else float(rng.uniform(lo, hi))


@lru_cache(maxsize=256)
def load_image(path: str, mode: str) -> Image.Image:
    """``path`` decoded in ``mode``, cached per process (``load_image.cache_clear()`` forgets)."""
    return open_image(path, mode)


def sprite_key(label: str) -> str:
    """The role a label's sprites play: the class itself, or ``other`` for every negative alias."""
    return NEGATIVE if is_negative(label) else label


class Assets:
    """The project list split by role. Cheap to build; images are decoded on first use."""

    def __init__(self, projects: Sequence[Project]):
        self.sprites: dict[str, list[Project]] = {}
        self.backgrounds: list[Project] = []
        self.screenshots: list[Screenshot] = []
        self._shot_weight: dict[Path, float] = {}   # a detection screenshot's project recipe weight
        self.mined_screenshots: list[Screenshot] = []   # of projects with mine_proposals: true
        for p in sorted(projects, key=lambda p: p.name):
            if p.task == "classification":
                self.sprites.setdefault(sprite_key(p.label), []).append(p)
            elif p.task == "background":
                self.backgrounds.append(p)
            elif p.task == "detection":
                self.screenshots.extend(p.screenshots)
                self._shot_weight.update((s.path, max(p.augment.weight, 0.0)) for s in p.screenshots)
                if p.mine_proposals:
                    self.mined_screenshots.extend(p.screenshots)
        self.boxed_screenshots = [s for s in self.screenshots if s.boxes]

    # --- choices -------------------------------------------------------------------------------
    @staticmethod
    def _pick_project(rng: np.random.Generator, projects: Sequence[Project]) -> Project:
        w = np.array([max(p.augment.weight, 0.0) for p in projects], dtype=float)
        w = w / w.sum() if w.sum() > 0 else np.full(len(projects), 1.0 / len(projects))
        return projects[int(rng.choice(len(projects), p=w))]

    def has_sprites(self, label: str) -> bool:
        return bool(self.sprites.get(sprite_key(label)))

    def boxed(self, label: str) -> list[Screenshot]:
        """Detection screenshots holding at least one box of ``label``."""
        return [s for s in self.boxed_screenshots if s.boxes_of(label)]

    def shot_weight(self, shot: Screenshot) -> float:
        """The recipe weight of the project ``shot`` comes from (field frames weigh more)."""
        return self._shot_weight.get(shot.path, 1.0)

    def pick_screenshot(self, rng: np.random.Generator, shots: Sequence[Screenshot]) -> Screenshot:
        """One of ``shots``, each as likely as its project's weight. With equal weights the draw is
        the plain uniform one (so a set without weighted projects draws the crops it always drew)."""
        w = np.array([self.shot_weight(s) for s in shots], dtype=float)
        if np.all(w == w[0]) or w.sum() <= 0:
            return shots[int(rng.integers(len(shots)))]
        return shots[int(rng.choice(len(shots), p=w / w.sum()))]

    def sprite(self, rng: np.random.Generator, label: str) -> tuple[Image.Image, Augment]:
        """A random RGBA sprite of ``label`` (project by weight, then a source uniformly)."""
        p = self._pick_project(rng, self.sprites[sprite_key(label)])
        src = p.sources[int(rng.integers(len(p.sources)))]
        return load_image(str(src), "RGBA"), p.augment

    def screenshot_image(self, shot: Screenshot) -> Image.Image:
        return load_image(str(shot.path), "RGB")

    def background(self, rng: np.random.Generator, size: tuple[int, int],
                   virtual_width: float | None = None) -> Image.Image:
        """An RGB background of ``size`` (W, H): a window of a background photo, a region of a
        detection screenshot away from its close boxes, or a procedural gradient. With
        ``virtual_width`` the window is cut as if the photo spanned a screen that wide (so textures
        keep a phone-like scale in small patches); otherwise the whole photo covers ``size``."""
        kinds = []
        if self.backgrounds:
            kinds += ["photo"] * 6
        if self.screenshots:
            kinds += ["screen"] * 2
        kinds += ["gradient"] * 2
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "photo":
            p = self._pick_project(rng, self.backgrounds)
            img = load_image(str(p.sources[int(rng.integers(len(p.sources)))]), "RGB")
            return _window(rng, img, size, virtual_width, forbidden=(), flip=True)
        if kind == "screen":
            shot = self.screenshots[int(rng.integers(len(self.screenshots)))]
            out = _window(rng, self.screenshot_image(shot), size, virtual_width, forbidden=shot.boxes,
                          flip=False)    # mirrored UI text would not look like a phone screen
            if out is not None:
                return out
        return gradient(rng, size)


def _window(rng, img: Image.Image, size, virtual_width, forbidden, flip: bool) -> Image.Image | None:
    W, H = size
    iw, ih = img.size
    if virtual_width is None:      # cover the whole target: crop to its aspect ratio, random offset
        scale = max(W / iw, H / ih) * uniform(rng, (1.0, 1.3))
    else:
        scale = virtual_width / iw * uniform(rng, (0.8, 1.25))
    cw, ch = min(iw, W / scale), min(ih, H / scale)
    for _ in range(8):
        x0 = float(rng.uniform(0, iw - cw)) if iw > cw else 0.0
        y0 = float(rng.uniform(0, ih - ch)) if ih > ch else 0.0
        if not any(x0 < b[2] and b[0] < x0 + cw and y0 < b[3] and b[1] < y0 + ch for b in forbidden):
            out = img.crop((round(x0), round(y0), round(x0 + cw), round(y0 + ch))).resize((W, H), RESAMPLE)
            return out.transpose(Image.FLIP_LEFT_RIGHT) if flip and rng.random() < 0.5 else out
    return None


def gradient(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A procedural ad-like background: a two-colour gradient with a few soft blocks."""
    W, H = size
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    angle = rng.uniform(0, np.pi)
    gh, gw = max(2, H // 8), max(2, W // 8)          # smooth: compute small, upscale
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    t = (xx / gw * np.cos(angle) + yy / gh * np.sin(angle))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    arr = (c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]).astype(np.uint8)
    img = Image.fromarray(arr, "RGB").resize((W, H), RESAMPLE)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 5))):
        x0, y0 = rng.uniform(0, W), rng.uniform(0, H)
        x1, y1 = x0 + rng.uniform(0.05, 0.6) * W, y0 + rng.uniform(0.02, 0.3) * H
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=col)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=col)
    return img


def augment_sprite(rng: np.random.Generator, sprite: Image.Image, aug: Augment, width: float,
                   use_scale: bool = False) -> Image.Image:
    """Resize an RGBA sprite to ``width`` px (times ``aug.scale`` when ``use_scale``), then hflip,
    colour jitter, opacity and rotation (canvas expanded, so nothing is cut off)."""
    w = width * (uniform(rng, aug.scale) if use_scale else 1.0)
    sw, sh = sprite.size
    w = max(4, int(round(w)))
    h = max(2, int(round(sh * w / sw)))
    img = sprite.resize((w, h), Image.LANCZOS)
    if aug.hflip and rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    if aug.color_jitter > 0:
        rgb, alpha = img.convert("RGB"), img.getchannel("A")
        j = aug.color_jitter
        for enh in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            rgb = enh(rgb).enhance(max(0.0, float(rng.uniform(1 - j, 1 + j))))
        img = rgb.convert("RGBA")
        img.putalpha(alpha)
    op = uniform(rng, aug.opacity)
    if op < 1.0:
        alpha = img.getchannel("A").point(lambda a, op=op: int(round(a * op)))
        img.putalpha(alpha)
    if aug.rotate > 0:
        angle = float(rng.uniform(-aug.rotate, aug.rotate))
        if abs(angle) > 0.5:
            img = img.rotate(angle, resample=Image.BICUBIC, expand=True)
    return img


def alpha_box(sprite: Image.Image, threshold: int = 24) -> tuple[int, int, int, int] | None:
    """Tight box of the visible part of an RGBA sprite (alpha above ``threshold``)."""
    return sprite.getchannel("A").point(lambda a: 255 if a > threshold else 0).getbbox()
