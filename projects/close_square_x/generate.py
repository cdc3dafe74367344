"""X inside a square / rounded square, filled and outlined.

Run: python projects/close_square_x/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

N = 40


def main():
    rng = np.random.default_rng(303)
    out = []
    radii = [0.0, 0.08, 0.15, 0.22, 0.3]
    for i in range(N):
        mode = i % 4  # 0 filled, 1 outlined, 2 filled+border, 3 translucent fill
        fill = ring = None
        fill_alpha = 1.0
        if mode in (0, 2, 3):
            fill = D.pick(rng, [D.BLACK, D.WHITE, D.GREYS[0], D.GREYS[2]] + D.COLOURS)
        if mode in (1, 2):
            ring = D.pick(rng, [D.WHITE, D.BLACK, D.GREYS[2], D.GREYS[4]] + D.COLOURS[:3])
            if ring == fill:
                ring = D.WHITE if fill != D.WHITE else D.BLACK
        if mode == 3:
            fill = D.pick(rng, [D.BLACK, D.GREYS[0], D.WHITE])
            fill_alpha = float(rng.uniform(0.45, 0.8))
        if fill is None:
            xc = ring
        else:
            xc = D.BLACK if sum(fill) > 500 and fill_alpha > 0.9 else D.WHITE
        spec = D.close_spec(shape="square", radius=radii[i % len(radii)], fill=fill, fill_alpha=fill_alpha,
                            ring=ring, ring_w=float(rng.uniform(0.04, 0.11)), x_colour=xc,
                            x_w=float(rng.uniform(0.05, 0.14)), x_r=float(rng.uniform(0.17, 0.27)),
                            cap=D.pick(rng, ["round", "square", "butt"]),
                            shadow=dict(alpha=0.5, blur=0.05, dx=0.02, dy=0.04) if rng.random() < 0.25 else None)
        img, _ = D.render_close(spec, int(rng.integers(48, 121)))
        out.append(img)
    D.save_sprites(HERE, out, "square_x")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
