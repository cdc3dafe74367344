"""Multiplier-text negatives (not_close): a "×" or "x" that is part of a count or a bonus (×2, x10,
X3, 2x, ×1.5, 報酬×2, コイン×100, Coins x100, EXP×3 ...), in DejaVu, Noto Sans/Serif and IPA fonts,
plain, outlined, shadowed, on pills and on dark badges.

Why a project of its own: on composed screens and on eval_designs the verifier's highest-scoring
false proposals are this kind of "×" (the SSD proposes the glyph, the crop shows its digit), and
the other text projects hold only a few such strings among many words. A lone "×" never appears:
alone it IS a plain-X close button.

Run: python projects/neg_text_times/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

_NOTO = "/usr/share/fonts/truetype/noto/"
LATIN_FONTS = list(D.FONT_LATIN.values()) + [_NOTO + f for f in (
    "NotoSans-Regular.ttf", "NotoSans-Bold.ttf", "NotoSans-BoldItalic.ttf", "NotoSerif-Bold.ttf",
    "NotoSerif-Regular.ttf")]
JA_FONTS = list(D.FONT_JA.values())
COUNTS = ["2", "3", "5", "10", "20", "50", "100", "1000", "1.5", "2.5", "99", "4"]
SIGNS = ["×", "×", "×", "x", "X"]
JA_WORDS = ["報酬", "コイン", "ジェム", "経験値", "ボーナス", "ダイヤ", "スコア", "攻撃力", "ガチャ", "チケット"]
LATIN_WORDS = ["Coins", "Reward", "EXP", "Gems", "Bonus", "Score", "ATK", "Lv", "Gold", "Combo"]
COLS = [D.WHITE, D.WHITE, D.BLACK, (255, 220, 0), (255, 240, 120), (230, 40, 40), D.GREYS[1], D.GREYS[3]] + D.COLOURS


def multiplier_text(rng) -> tuple[str, bool]:
    """(text, needs a Japanese font): a sign and a count, after or before it, sometimes with a word."""
    sign, n = D.pick(rng, SIGNS), D.pick(rng, COUNTS)
    space = " " if rng.random() < 0.2 else ""
    core = f"{sign}{space}{n}" if rng.random() < 0.8 else f"{n}{space}{sign}"
    r = rng.random()
    if r < 0.3:
        return f"{D.pick(rng, JA_WORDS)}{core}", True
    if r < 0.5:
        return f"{D.pick(rng, LATIN_WORDS)} {core}", False
    return core, False


def main():
    rng = np.random.default_rng(707)
    out = []
    for i in range(240):
        text, ja = multiplier_text(rng)
        fonts = JA_FONTS if ja else LATIN_FONTS + JA_FONTS[:1]
        px = int(rng.integers(36, 96)) if len(text) <= 3 else int(rng.integers(22, 60))
        img = D.render_text(text, D.pick(rng, fonts), px, **D.text_sprite_style(rng, i, COLS, dark_badge=True))
        out.append(D.fit_long_side(img, 48, 128))
    D.save_sprites(HERE, out, "times")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
