"""Japanese text negatives (not_close): kana/kanji single characters and short words,
X-like characters (メ 乂 又 文 ナ ス; × only inside strings), strings with × inside (報酬×2, ×10, コイン×100)
and typical ad texts, in IPA Gothic / P Gothic / Mincho, various colours and sizes,
with and without outline, shadow or pill background. 閉じる is deliberately absent (it
can be a real close button). ㄨ (U+3128) is absent: no installed font has the glyph.

The X-like characters and some other singles are also drawn as icon buttons, in the training
button styles that close_icons uses (projects/_icons.py: disc, rounded square, square or pill;
solid, see-through or ring; outline, shadow, glow): on a plate a character looks like an icon
button, and a verifier that knows it only as text takes some (又 on a rounded square) for a close.

Run: python projects/neg_text_ja/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402
import _icons as IC  # noqa: E402

# A lone "×" glyph IS a plain-X close button to the eye: it appears only inside strings (×2, 報酬×2),
# never alone, or the verifier would learn to reject real close buttons.
X_LIKE = ["メ", "乂", "又", "文", "ナ", "ス", "メ", "乂", "火", "木"]
X_STRINGS = ["報酬×2", "×2", "×10", "コイン×100", "×3", "×5", "経験値×2", "ボーナス×3", "×100", "ジェム×50",
             "報酬2倍", "メール", "メダル", "スター", "ナイス"]
AD_TEXTS = ["今すぐプレイ", "インストール", "無料", "報酬を受け取る", "スキップ", "広告", "あと5秒", "ダウンロード",
            "無料で遊ぶ", "続ける", "次へ", "プレイ", "ゲット", "獲得", "今すぐ", "メニュー", "ガチャ", "レベルアップ",
            "限定", "報酬", "開始", "詳しくはこちら", "あと3秒", "PR", "スタート", "勝利", "大人気"]
SINGLES = ["ア", "カ", "キ", "サ", "タ", "ド", "ヌ", "木", "本", "大", "火", "水", "金", "円", "入", "人", "力", "十",
           "七", "夕", "あ", "の", "め", "ぬ", "广", "告", "無", "料"]
FONTS = [D.FONT_JA["gothic"], D.FONT_JA["pgothic"], D.FONT_JA["mincho"]]
BUTTON_STYLES_PER_X_LIKE = 6
BUTTON_SINGLES = 24
COLS = [D.WHITE, D.WHITE, D.BLACK, (255, 220, 0), (230, 40, 40), D.GREYS[1], D.GREYS[3]] + D.COLOURS


def button_sprites(rng) -> list:
    """The X-like characters (each in BUTTON_STYLES_PER_X_LIKE looks) and BUTTON_SINGLES other
    singles as plated buttons in the training styles of close_icons / neg_icons."""
    chars = [c for c in dict.fromkeys(X_LIKE) for _ in range(BUTTON_STYLES_PER_X_LIKE)]
    chars += [SINGLES[i] for i in rng.choice(len(SINGLES), BUTTON_SINGLES, replace=False)]
    plated = [p for p in IC.TRAIN_PLATES if p != "none"]   # bare characters are the text sprites above
    out = []
    for ch in chars:
        style = IC.random_style(rng, plated)
        glyph = IC.render_font_glyph(D.pick(rng, FONTS), ord(ch))
        out.append(IC.render_button(glyph, style, int(rng.integers(52, 121)))[0])
    return out


def main():
    rng = np.random.default_rng(505)
    items = []
    for k in range(5):  # X-like characters: many variants, these are the hard negatives
        items += [(t, "single") for t in X_LIKE]
    items += [(t, "string") for t in X_STRINGS * 2]
    items += [(t, "string") for t in AD_TEXTS * 2]
    items += [(t, "single") for t in SINGLES]
    out = []
    for i, (text, kind) in enumerate(items):
        px = int(rng.integers(48, 110)) if kind == "single" else int(rng.integers(20, 60))
        img = D.render_text(text, D.pick(rng, FONTS), px, **D.text_sprite_style(rng, i, COLS))
        out.append(D.fit_long_side(img, 48, 128))
    out += button_sprites(np.random.default_rng(506))
    D.save_sprites(HERE, out, "ja")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
