"""X inside a circle: filled discs (dark, white, coloured, semi-transparent), outlined
circles (thin/thick ring), ring + X of different colours, optional drop shadow.

Run: python projects/close_circle_x/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

N = 60
STYLES = ["dark", "white", "colour", "translucent", "ring_thin", "ring_thick", "ring_fill", "ring_mixed"]


def main():
    rng = np.random.default_rng(202)
    out = []
    for i in range(N):
        style = STYLES[i % len(STYLES)]
        fill, fill_alpha, ring, ring_w = None, 1.0, None, 0.07
        if style == "dark":
            fill = D.pick(rng, [D.BLACK, (30, 30, 30), (50, 50, 60), (20, 20, 40)])
            xc = D.pick(rng, [D.WHITE, D.GREYS[4], D.GREYS[3]])
        elif style == "white":
            fill = D.pick(rng, [D.WHITE, D.GREYS[4]])
            xc = D.pick(rng, [D.BLACK, D.GREYS[0], D.GREYS[1], (230, 50, 50)])
        elif style == "colour":
            fill = D.pick(rng, D.COLOURS)
            xc = D.WHITE
        elif style == "translucent":
            fill = D.pick(rng, [D.BLACK, D.GREYS[0], D.WHITE])
            fill_alpha = float(rng.uniform(0.4, 0.75))
            xc = D.BLACK if fill == D.WHITE and rng.random() < 0.5 else D.WHITE
        elif style in ("ring_thin", "ring_thick"):
            ring = D.pick(rng, [D.WHITE, D.BLACK, D.GREYS[2]] + D.COLOURS[:4])
            ring_w = float(rng.uniform(0.03, 0.06) if style == "ring_thin" else rng.uniform(0.09, 0.15))
            xc = ring
        elif style == "ring_fill":
            fill = D.pick(rng, [D.BLACK, D.GREYS[0]] + D.COLOURS)
            ring = D.pick(rng, [D.WHITE, D.GREYS[3], (250, 200, 40)])
            ring_w = float(rng.uniform(0.05, 0.12))
            xc = D.WHITE
        else:  # ring and X of different colours, no fill
            ring = D.pick(rng, D.COLOURS + [D.WHITE])
            xc = D.pick(rng, [D.WHITE, D.BLACK, D.GREYS[3]] + D.COLOURS)
            ring_w = float(rng.uniform(0.04, 0.1))
        shadow = dict(alpha=float(rng.uniform(0.35, 0.7)), blur=0.06, dx=0.0, dy=float(rng.uniform(0.02, 0.05))) \
            if rng.random() < 0.3 else None
        spec = D.close_spec(shape="circle", fill=fill, fill_alpha=fill_alpha, ring=ring, ring_w=ring_w,
                            x_colour=xc, x_w=float(rng.uniform(0.05, 0.14)), x_r=float(rng.uniform(0.16, 0.26)),
                            cap=D.pick(rng, ["round", "round", "square", "butt"]), shadow=shadow)
        img, _ = D.render_close(spec, int(rng.integers(48, 121)))
        out.append(img)
    D.save_sprites(HERE, out, "circle_x")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
