"""Count-string negatives (not_close): the "×" of a count ("×5", "x10", "2×", "×1000") with its
number beside it, in DejaVu, Noto Sans / Serif / Display and IPA Gothic, plain, outlined, shadowed,
on a pill, and in the thick-outlined bright look of game reward labels.

A lone "×" is a close button, so the verifier can only tell "×5" from one by the number next to
it. Single-digit counts are the hardest (before this project a from-scratch verifier passed the
"×" of "×5" at p > 0.95 on one crop in six, and of "×10" on none), so they are most of the list.
The crop pipeline cuts single-character windows of wide text sprites and the miner cuts the
detector's proposals of these sprites on composed screens: both put the "×" in the middle of the
crop with the digits at its edge, as GameEye sees a count.

Run: python projects/neg_counts/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

SINGLE_DIGIT = ["×2", "×3", "×5", "×7", "×9", "x2", "x3", "x5", "X2", "X5", "2×", "3×", "5x"]
LONGER = ["×10", "×20", "×50", "×99", "×100", "×500", "×1000", "×1.5", "x10", "x100", "10x", "×2!", "×25", "×300"]
_NOTO = "/usr/share/fonts/truetype/noto/"
FONTS = list(D.FONT_LATIN.values()) + [D.FONT_JA["gothic"], D.FONT_JA["pgothic"]] + [
    _NOTO + f for f in ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf", "NotoSans-BoldItalic.ttf",
                        "NotoSerif-Regular.ttf", "NotoSerif-Bold.ttf", "NotoSansDisplay-Bold.ttf",
                        "NotoSansDisplay-Regular.ttf")]
BOLD_FONTS = [D.FONT_LATIN["sans_bold"], D.FONT_LATIN["sans_cond_bold"], _NOTO + "NotoSans-Bold.ttf",
              _NOTO + "NotoSansDisplay-Bold.ttf", _NOTO + "NotoSerif-Bold.ttf"]
COLS = [D.WHITE, D.WHITE, D.BLACK, (255, 220, 0), (255, 150, 0), (230, 40, 40), D.GREYS[1]] + D.COLOURS
REWARD_FILLS = [(255, 220, 0), (255, 170, 20), (255, 255, 255), (120, 230, 80), (255, 120, 160)]
REWARD_OUTLINES = [(90, 40, 0), (0, 0, 0), (120, 20, 20), (30, 30, 110)]
COPIES = {"single": 10, "longer": 5}


def reward_style(rng) -> dict:
    """Bright fill, thick dark outline, often a drop shadow: the "×5" of a game's reward label."""
    kw = dict(colour=D.pick(rng, REWARD_FILLS), outline=D.pick(rng, REWARD_OUTLINES),
              outline_w=int(rng.integers(2, 7)))
    if rng.random() < 0.5:
        kw.update(shadow=dict(alpha=0.6, blur=2, dx=2, dy=3))
    return kw


def main():
    rng = np.random.default_rng(909)
    items = SINGLE_DIGIT * COPIES["single"] + LONGER * COPIES["longer"]
    out = []
    for i, text in enumerate(items):
        if i % 3 == 2:
            font, kw = D.pick(rng, BOLD_FONTS), reward_style(rng)
        else:
            font, kw = D.pick(rng, FONTS), D.text_sprite_style(rng, i, COLS, max_outline=4)
        img = D.render_text(text, font, int(rng.integers(28, 96)), **kw)
        out.append(D.fit_long_side(img, 48, 128))
    D.save_sprites(HERE, out, "count")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
