"""Portrait backgrounds (RGB JPEG q80, 360x640 or 540x960): gradients, blurred colour
blobs ("photos"), noise textures, game-like scenes, dark video-like frames and light
app-store-like pages, spread over light and dark.

Run: python projects/backgrounds/generate.py
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

KINDS = ["gradient", "blobs", "noise", "scene", "video", "store", "scene", "blobs"]
N = 40


def main():
    rng = np.random.default_rng(808)
    out = HERE / "images"
    D.clean_dir(out, "*.jpg")
    for i in range(N):
        kind = KINDS[i % len(KINDS)]
        W, H = (540, 960) if i % 4 == 0 else (360, 640)
        im = D.background(rng, kind, W, H, work_scale=0.5 if kind in ("blobs", "video", "noise") else 1.0)
        if kind in ("gradient", "blobs", "noise") and i % 3 == 0:  # push some to the extremes
            im = Image.blend(im, Image.new("RGB", im.size, D.BLACK if i % 2 else D.WHITE), 0.55)
        D.save_jpeg(im, out / f"bg_{i:03d}_{kind}.jpg")
    print(f"{N} backgrounds")


if __name__ == "__main__":
    main()
