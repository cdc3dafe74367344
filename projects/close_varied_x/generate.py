"""Close buttons with every design parameter drawn independently (domain randomisation): any
shape (bare X, circle, rounded or sharp square) x any fill (none, solid, translucent) x ring or
not x X colour, stroke, length, alpha x outline / drop shadow / halo / knocked-out X. The four
family projects (plain, circle, square, see-through) each cover their own corner of this space;
this one fills the combinations between them, so the verifier learns "an X meant to be tapped"
rather than a short list of looks.

Run: python projects/close_varied_x/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

N = 120


def colour(rng):
    return D.pick(rng, [D.WHITE, D.BLACK] + D.GREYS + D.COLOURS)


def contrasting(rng, bg):
    if bg is None:
        return colour(rng)
    return D.pick(rng, [D.BLACK, D.GREYS[0]]) if sum(bg) > 450 else D.pick(rng, [D.WHITE, D.GREYS[4]])


def random_spec(rng):
    shape = D.pick(rng, ["none", "none", "circle", "circle", "square"])
    fill, fill_alpha, ring = None, 1.0, None
    if shape != "none":
        if rng.random() < 0.75:
            fill = colour(rng)
            fill_alpha = 1.0 if rng.random() < 0.55 else float(rng.uniform(0.3, 0.85))
        if fill is None or rng.random() < 0.35:
            ring = colour(rng)
    x_colour = contrasting(rng, fill) if fill is not None else (ring if ring and rng.random() < 0.6 else colour(rng))
    bare = shape == "none"
    return D.close_spec(
        shape=shape, radius=float(rng.uniform(0.0, 0.45)), fill=fill, fill_alpha=fill_alpha,
        ring=ring, ring_w=float(rng.uniform(0.03, 0.14)), ring_alpha=float(rng.uniform(0.5, 1.0)),
        x_colour=x_colour, x_alpha=1.0 if rng.random() < 0.7 else float(rng.uniform(0.5, 0.95)),
        x_w=float(rng.uniform(0.03, 0.2 if bare else 0.15)),
        x_r=float(rng.uniform(0.3, 0.44) if bare else rng.uniform(0.14, 0.28)),
        cap=D.pick(rng, ["round", "square", "butt"]),
        x_outline=D.pick(rng, [D.BLACK, D.WHITE, (60, 60, 60)]) if rng.random() < 0.3 else None,
        x_outline_w=float(rng.uniform(0.015, 0.06)),
        knockout=bool(fill is not None and rng.random() < 0.12),
        shadow=dict(alpha=float(rng.uniform(0.3, 0.9)), blur=float(rng.uniform(0.03, 0.12)),
                    dx=float(rng.uniform(-0.02, 0.03)),
                    dy=float(rng.uniform(0.0, 0.05))) if rng.random() < 0.4 else None,
        glow=dict(colour=D.pick(rng, [D.BLACK, D.WHITE]), alpha=float(rng.uniform(0.15, 0.4)), blur=0.06)
        if rng.random() < 0.15 else None)


def main():
    rng = np.random.default_rng(606)
    out = []
    for _ in range(N):
        img, _ = D.render_close(random_spec(rng), int(rng.integers(44, 121)))
        out.append(img)
    D.save_sprites(HERE, out, "varied_x")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
