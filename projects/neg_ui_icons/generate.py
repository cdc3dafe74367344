"""Common UI icons as negatives (not_close): play, info, arrows, back, download, plus,
plus in circle (upright, never rotated 45 degrees), minus, check, star, heart, gear,
speaker, pause, menu, home, share, question/exclamation, bell, lock, magnifier, refresh;
bare (optionally outlined / shadowed), in filled or outlined circles and rounded squares.

Run: python projects/neg_ui_icons/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

N = 120
STYLES = ["bare", "circle_fill", "circle_ring", "square_fill", "square_ring", "circle_fill"]


def main():
    rng = np.random.default_rng(707)
    names = list(D.GLYPHS)
    out = []
    for i in range(N):
        name = names[i % len(names)]
        st = STYLES[(i // len(names) + i) % len(STYLES)]
        if name in ("plus", "minus", "info", "question") and i % 2 == 0:
            st = "circle_ring" if st == "bare" else st  # plus/minus/info/? in circle: the classic look-alikes
        fg = D.pick(rng, [D.WHITE, D.WHITE, D.BLACK, D.GREYS[3]] + D.COLOURS)
        bg = D.pick(rng, [D.BLACK, D.GREYS[0], D.WHITE] + D.COLOURS)
        if bg == fg:
            bg = D.BLACK if fg != D.BLACK else D.WHITE
        img = D.render_icon(name, int(rng.integers(48, 118)), st, fg=fg, bg=bg,
                            stroke_w=float(rng.uniform(0.08, 0.15)),
                            outline=((D.BLACK if sum(fg) > 400 else D.WHITE)
                                     if st == "bare" and rng.random() < 0.3 else None),
                            shadow=bool(rng.random() < 0.25), radius=float(rng.uniform(0.1, 0.3)),
                            bg_alpha=float(rng.uniform(0.5, 1.0)) if rng.random() < 0.25 else 1.0)
        out.append(img)
    D.save_sprites(HERE, out, "icon")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
