"""watch_ad: the in-game buttons that start a rewarded ad (広告を見る, 動画を見て報酬GET, 広告を見て2倍,
Watch ad, Free reward, ...). Game-UI styles: pills and rounded rectangles, solid or gradient fills,
outlines, bevel highlights, drop shadows, a play / play-in-circle / film-strip / TV icon on the left
or text alone, sometimes an "AD" or "x2" corner badge. IPA Gothic / P Gothic and DejaVu Bold.

Run: python projects/watch_ad_buttons/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

TEXTS_JA = ["広告を見る", "動画を見て報酬GET", "広告を見て2倍", "動画を見る", "広告を見て獲得", "動画で2倍",
            "広告を見て復活", "動画を見て回復", "広告を見てもう一回", "動画でボーナス"]
TEXTS_EN = ["Watch ad", "Watch Ad", "Free reward", "WATCH AD", "Watch video", "Watch & get x2", "Free Reward",
            "Watch to revive", "Get 2x"]
FILLS = [((90, 200, 60), (40, 140, 30)), ((255, 170, 30), (230, 100, 10)), ((60, 160, 255), (20, 90, 210)),
         ((170, 90, 240), (110, 40, 190)), ((255, 80, 110), (200, 30, 70)), ((30, 200, 190), (10, 130, 140)),
         ((255, 215, 50), (240, 160, 0))]


def style(rng, i):
    top, bottom = D.pick(rng, FILLS)
    gradient = rng.random() < 0.6
    dark_text = top == (255, 215, 50) and rng.random() < 0.6
    return dict(fill=top, fill2=bottom if gradient else None,
                text_colour=(60, 30, 0) if dark_text else D.WHITE,
                icon=D.pick(rng, ["play", "play_ring", "film", "tv", "play", "none"]),
                icon_colour=(60, 30, 0) if dark_text else D.WHITE,
                radius=float(D.pick(rng, [0.5, 0.5, 0.3, 0.2])),
                outline=D.pick(rng, [None, D.WHITE, (40, 40, 40), (120, 60, 0)]),
                shadow=rng.random() < 0.5, bevel=rng.random() < 0.5,
                text_outline=D.pick(rng, [None, None, (40, 40, 40)]),
                badge=D.pick(rng, [None, None, None, "AD", "x2"]))


def main():
    rng = np.random.default_rng(909)
    out = []
    for i in range(72):
        ja = i % 3 != 2
        text = D.pick(rng, TEXTS_JA if ja else TEXTS_EN)
        fp = D.pick(rng, [D.FONT_JA["gothic"], D.FONT_JA["pgothic"]]) if ja else \
            D.pick(rng, [D.FONT_LATIN["sans_bold"], D.FONT_LATIN["sans_cond_bold"]])
        out.append(D.render_button(text, fp, int(rng.integers(48, 80)), **style(rng, i)))
    for i in range(8):   # icon-only round buttons with a film / play / TV glyph ("watch" without text)
        st = style(rng, i)
        st.update(icon=D.pick(rng, ["film", "play_ring", "tv"]), radius=0.5, badge="AD")
        out.append(D.render_button("", D.FONT_LATIN["sans_bold"], int(rng.integers(56, 90)), **st))
    D.save_sprites(HERE, out, "wa")
    print(f"{len(out)} sprites")


if __name__ == "__main__":
    main()
