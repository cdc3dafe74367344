"""X on a see-through background: semi-transparent dark/white disc or rounded square
(alpha 0.3-0.6) with an X (sometimes the X is cut out of a white disc); thin white X
with no background but a soft shadow; translucent X (alpha 0.5-0.8), with or without
a faint halo.

Run: python projects/close_see_through/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

N = 50


def main():
    rng = np.random.default_rng(404)
    out = []
    for i in range(N):
        style = i % 5
        cap = D.pick(rng, ["round", "round", "square", "butt"])
        if style in (0, 1):  # translucent disc / rounded square
            bg = D.pick(rng, [D.BLACK, D.BLACK, (30, 30, 30), D.WHITE])
            knock = bool(bg == D.WHITE and rng.random() < 0.5)
            spec = D.close_spec(shape="circle" if style == 0 else "square", radius=float(rng.uniform(0.12, 0.35)),
                                fill=bg, fill_alpha=float(rng.uniform(0.3, 0.6)),
                                x_colour=D.WHITE if bg != D.WHITE else D.pick(rng, [D.WHITE, D.BLACK, D.GREYS[0]]),
                                x_alpha=float(rng.uniform(0.75, 1.0)), x_w=float(rng.uniform(0.05, 0.12)),
                                x_r=float(rng.uniform(0.16, 0.25)), cap=cap, knockout=knock,
                                ring=D.WHITE if rng.random() < 0.25 else None, ring_w=0.04,
                                ring_alpha=float(rng.uniform(0.5, 0.9)))
        elif style == 2:  # translucent disc, thin ring look-alike
            spec = D.close_spec(shape="circle", fill=D.BLACK, fill_alpha=float(rng.uniform(0.3, 0.5)),
                                ring=D.WHITE, ring_w=float(rng.uniform(0.03, 0.06)),
                                ring_alpha=float(rng.uniform(0.4, 0.8)),
                                x_colour=D.WHITE, x_alpha=float(rng.uniform(0.6, 0.9)),
                                x_w=float(rng.uniform(0.04, 0.08)), x_r=float(rng.uniform(0.15, 0.22)), cap=cap)
        elif style == 3:  # thin white X, no background, soft shadow
            spec = D.close_spec(x_colour=D.pick(rng, [D.WHITE, D.GREYS[4]]), x_w=float(rng.uniform(0.035, 0.09)),
                                x_r=float(rng.uniform(0.36, 0.42)), cap=cap,
                                shadow=dict(alpha=float(rng.uniform(0.45, 0.9)), blur=float(rng.uniform(0.03, 0.1)),
                                            dx=0.0, dy=float(rng.uniform(0.0, 0.03))))
        else:  # translucent X (alpha 0.5-0.8), optional halo
            spec = D.close_spec(x_colour=D.pick(rng, [D.WHITE, D.WHITE, D.GREYS[4], D.BLACK]),
                                x_alpha=float(rng.uniform(0.5, 0.8)), x_w=float(rng.uniform(0.05, 0.16)),
                                x_r=float(rng.uniform(0.36, 0.42)), cap=cap,
                                glow=dict(colour=D.BLACK, alpha=float(rng.uniform(0.15, 0.35)), blur=0.06)
                                if rng.random() < 0.4 else None)
        img, _ = D.render_close(spec, int(rng.integers(48, 121)))
        out.append(img)
    D.save_sprites(HERE, out, "see_through")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
