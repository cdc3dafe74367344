"""Plain X close buttons: stroke weights thin..bold, white/black/grey/red/coloured,
with or without a dark (or light) outline and drop shadow, round/square/butt caps.

Run: python projects/close_plain_x/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

N = 60


def main():
    rng = np.random.default_rng(101)
    colours = [D.WHITE, D.BLACK, D.GREYS[1], D.GREYS[3], (230, 40, 40)] + D.COLOURS
    widths = [0.04, 0.06, 0.09, 0.12, 0.16, 0.2]
    caps = ["round", "square", "butt"]
    out = []
    for i in range(N):
        col = colours[i % len(colours)]
        dark = sum(col) < 300
        deco = i % 4  # 0 none, 1 outline, 2 shadow, 3 outline+shadow
        outline = (D.WHITE if dark else D.pick(rng, [D.BLACK, (40, 40, 40), (120, 0, 0)])) if deco in (1, 3) else None
        shadow = dict(alpha=float(rng.uniform(0.4, 0.85)), blur=float(rng.uniform(0.03, 0.08)),
                      dx=float(rng.uniform(-0.02, 0.03)), dy=float(rng.uniform(0.0, 0.05))) if deco in (2, 3) else None
        spec = D.close_spec(x_colour=col, x_w=widths[(i // 3) % len(widths)] * float(rng.uniform(0.9, 1.1)),
                            x_r=float(rng.uniform(0.36, 0.42)), cap=caps[i % 3], x_outline=outline,
                            x_outline_w=float(rng.uniform(0.02, 0.05)), shadow=shadow)
        img, _ = D.render_close(spec, int(rng.integers(48, 121)))
        out.append(img)
    D.save_sprites(HERE, out, "plain_x")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
