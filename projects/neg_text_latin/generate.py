"""Latin text negatives (not_close): words and short phrases, many with x / X inside
(Next, MAX, EXP, Box, Xmas, x2, x10, 3x3, FIXED ...) and ad texts (INSTALL, Play Now,
Free, Skip in 5, AD, Reward ...), DejaVu Sans/Serif/Mono in several weights; and reward
multipliers (×2, x5, 10×, ×100 ...) in DejaVu, Noto and IPA Gothic, plain, outlined or on a
button plate. No standalone 'X' / 'x' / 'Close' (those can be real close buttons).

Multipliers get a family of their own: a "×5" next to a reward, cut at GameEye's crop margin,
is an X with a digit beside it, and such crops (verifier scores 0.85-0.99) are most of the
pair's false taps on eval_screens and eval_designs when a dozen multiplier sprites are all it sees.

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
_NOTO = "/usr/share/fonts/truetype/noto/"
MULTIPLIER_FONTS = FONTS + [D.FONT_JA["gothic"], D.FONT_JA["pgothic"], _NOTO + "NotoSans-Bold.ttf",
                            _NOTO + "NotoSans-Regular.ttf", _NOTO + "NotoSerif-Bold.ttf",
                            _NOTO + "NotoSans-BoldItalic.ttf"]
MULTIPLIER_FORMS = ["×{}", "×{}", "x{}", "X{}", "{}×", "{}x", "× {}", "x {}", "×{}!", "+{}×"]
MULTIPLIER_NUMBERS = [2, 2, 3, 4, 5, 5, 10, 20, 50, 100, 500, 1.5]
N_MULTIPLIERS = 96
COLS = [D.WHITE, D.WHITE, D.BLACK, (255, 220, 0), (230, 40, 40), D.GREYS[1], D.GREYS[3]] + D.COLOURS


def main():
    rng = np.random.default_rng(606)
    items = X_WORDS * 2 + AD_WORDS * 2
    out = []
    for i, text in enumerate(items):
        col = D.pick(rng, COLS)
        dark = sum(col) < 300
        kind = i % 5
        kw = dict(colour=col)
        if kind in (1, 4):
            kw.update(outline=D.WHITE if dark else D.pick(rng, [D.BLACK, (40, 20, 0)]), outline_w=int(rng.integers(1, 4)))
        if kind in (2, 4):
            kw.update(shadow=dict(alpha=0.6, blur=2, dx=2, dy=2))
        if kind == 3:
            kw.update(bg=D.pick(rng, [D.BLACK, D.GREYS[1]] + D.COLOURS), bg_alpha=float(rng.uniform(0.5, 1.0)),
                      colour=D.WHITE)
        px = int(rng.integers(40, 90)) if len(text) <= 3 else int(rng.integers(20, 50))
        img = D.render_text(text, D.pick(rng, FONTS), px, **kw)
        out.append(D.fit_long_side(img, 48, 128))
    out += multipliers(np.random.default_rng(607))
    D.save_sprites(HERE, out, "latin")
    print(f"{len(out)} sprites")


def multipliers(rng) -> list:
    """Reward multipliers: plain, outlined, shadowed or on a rounded button plate (a quarter each)."""
    out = []
    for i in range(N_MULTIPLIERS):
        text = D.pick(rng, MULTIPLIER_FORMS).format(D.pick(rng, MULTIPLIER_NUMBERS))
        col = D.pick(rng, COLS)
        dark = sum(col) < 300
        kw = dict(colour=col)
        kind = i % 4
        if kind == 1:
            kw.update(outline=D.WHITE if dark else D.pick(rng, [D.BLACK, (40, 20, 0)]),
                      outline_w=int(rng.integers(1, 4)))
        elif kind == 2:
            kw.update(shadow=dict(alpha=0.6, blur=2, dx=2, dy=2))
        elif kind == 3:
            kw.update(bg=D.pick(rng, [D.BLACK, D.GREYS[1]] + D.COLOURS), bg_alpha=float(rng.uniform(0.6, 1.0)),
                      colour=D.WHITE if rng.random() < 0.7 else D.pick(rng, [(255, 220, 0), D.BLACK]),
                      bg_pad=float(rng.uniform(0.2, 0.5)))
        img = D.render_text(text, D.pick(rng, MULTIPLIER_FONTS), int(rng.integers(40, 90)), **kw)
        out.append(D.fit_long_side(img, 48, 128))
    return out


if __name__ == "__main__":
    main()
