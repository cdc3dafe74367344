"""Hard negatives for watch_ad (label other): game buttons that do NOT start an ad, drawn in the same
styles as watch_ad_buttons (pills, gradients, bevels, icons): はじめる, OK, ショップ, Play, スタート,
つづける, 設定, もどる, Shop, Start, Next, Level 5, ガチャ ... with play-like arrows on some, so the
verifier learns that a play icon alone is not an ad. 閉じる is deliberately absent (it can be a real
close button), and so is any ad / video wording (広告, 動画, Watch, reward).

Run: python projects/neg_game_buttons/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

TEXTS_JA = ["はじめる", "ショップ", "スタート", "つづける", "設定", "もどる", "ガチャ", "ランキング", "ステージ3",
            "レベルアップ", "購入する", "受け取る", "決定", "キャンセル", "はい", "いいえ", "ホーム", "次のステージ"]
TEXTS_EN = ["OK", "Play", "Shop", "Start", "Next", "Level 5", "Continue", "Settings", "Buy", "Retry", "Home",
            "PLAY", "Upgrade", "Menu"]
FILLS = [((90, 200, 60), (40, 140, 30)), ((255, 170, 30), (230, 100, 10)), ((60, 160, 255), (20, 90, 210)),
         ((170, 90, 240), (110, 40, 190)), ((255, 80, 110), (200, 30, 70)), ((120, 120, 130), (70, 70, 80)),
         ((255, 215, 50), (240, 160, 0)), ((250, 250, 250), (210, 210, 215))]


def main():
    rng = np.random.default_rng(919)
    out = []
    for i in range(64):
        ja = i % 2 == 0
        text = D.pick(rng, TEXTS_JA if ja else TEXTS_EN)
        fp = D.pick(rng, [D.FONT_JA["gothic"], D.FONT_JA["pgothic"]]) if ja else \
            D.pick(rng, [D.FONT_LATIN["sans_bold"], D.FONT_LATIN["sans_cond_bold"]])
        top, bottom = D.pick(rng, FILLS)
        light = sum(top) > 650
        out.append(D.render_button(
            text, fp, int(rng.integers(44, 80)), fill=top, fill2=bottom if rng.random() < 0.6 else None,
            text_colour=(40, 40, 50) if light else D.WHITE,
            icon="play" if text in ("Play", "PLAY", "スタート", "Start") and rng.random() < 0.6 else "none",
            icon_colour=(40, 40, 50) if light else D.WHITE, radius=float(D.pick(rng, [0.5, 0.3, 0.2])),
            outline=D.pick(rng, [None, D.WHITE, (40, 40, 40)]), shadow=rng.random() < 0.5,
            bevel=rng.random() < 0.5, badge=D.pick(rng, [None, None, None, None, "NEW", "!"])))
    D.save_sprites(HERE, out, "gb")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
