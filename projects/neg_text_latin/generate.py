"""Latin text negatives (not_close): words and short phrases, many with x / X inside
(Next, MAX, EXP, Box, Xmas, x2, x10, 3x3, FIXED ...) and ad texts (INSTALL, Play Now,
Free, Skip in 5, AD, Reward ...), DejaVu Sans/Serif/Mono in several weights. No
standalone 'X' / 'x' / 'Close' (those can be real close buttons).

Run: python projects/neg_text_latin/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

X_WORDS = ["Next", "MAX", "EXP", "Box", "Xmas", "x2", "x10", "3x3", "FIXED", "EXTRA", "XP", "Mix", "Fox", "Six",
           "Taxi", "TEXT", "x5", "x100", "Bonus x2", "×2", "×10", "2x", "Max Lv", "Relax", "Xtreme", "Next >",
           "+XP", "Boxes", "XL", "xoxo"]
AD_WORDS = ["INSTALL", "Play Now", "Free", "Skip in 5", "AD", "Reward", "GET", "Download", "Level Up", "WIN",
            "NEW", "Continue", "Claim", "Skip", "Ad", "PLAY", "Install Now", "FREE", "Get Reward", "Try it!",
            "Tap to play", "Sponsored", "5s", "Skip Ad", "Start", "Open", "GO!", "LV 12", "1,000", "Watch"]
FONTS = list(D.FONT_LATIN.values())
COLS = [D.WHITE, D.WHITE, D.BLACK, (255, 220, 0), (230, 40, 40), D.GREYS[1], D.GREYS[3]] + D.COLOURS


def main():
    rng = np.random.default_rng(606)
    items = X_WORDS * 2 + AD_WORDS * 2
    out = []
    for i, text in enumerate(items):
        kw = D.text_sprite_style(rng, i, COLS, outline_colours=[D.BLACK, (40, 20, 0)], max_outline=3)
        px = int(rng.integers(40, 90)) if len(text) <= 3 else int(rng.integers(20, 50))
        img = D.render_text(text, D.pick(rng, FONTS), px, **kw)
        out.append(D.fit_long_side(img, 48, 128))
    D.save_sprites(HERE, out, "latin")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
