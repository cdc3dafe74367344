"""HELD-OUT evaluation game screens for watch_ad: NEVER put this project in a training set.

Game screens (not ad screens), 720x1280: a game scene with a HUD (coins, gems, level), a play
button, and on 30 of 48 screens one button that starts a rewarded ad: in the bottom area, under a
reward card ("クリア!" / "Stage clear" popup with 広告を見て2倍 under it), or beside the play button.
The other 18 show only non-ad buttons (はじめる, OK, ショップ, Play ...). The watch_ad buttons use this
file's own seed, colours and texts (some never seen in training: 動画を見てコイン獲得,
Watch ad to revive, 広告で報酬アップ); annotations are COCO with the single category watch_ad.

Run: python projects/eval_watch_ad/generate.py
"""
import sys
from pathlib import Path

import numpy as np
from PIL import ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

N, N_WITH = 48, 30
W, H = 720, 1280
AD_TEXTS = ["広告を見る", "動画を見て報酬GET", "広告を見て2倍", "動画を見てコイン獲得", "広告で報酬アップ", "Watch ad",
            "Free reward", "Watch ad to revive", "WATCH VIDEO"]
OTHER_TEXTS = ["はじめる", "OK", "ショップ", "Play", "スタート", "つづける", "Next", "Shop", "ホーム"]
PALETTE = [((120, 220, 80), (60, 160, 40)), ((255, 190, 60), (235, 120, 20)), ((90, 180, 255), (40, 110, 230)),
           ((200, 110, 255), (130, 50, 210)), ((255, 110, 140), (215, 45, 90))]


def font_for(text):
    """IPA Gothic for a text with Japanese characters, DejaVu Sans Bold otherwise."""
    return D.FONT_JA["gothic"] if any(ord(ch) > 0x3000 for ch in text) else D.FONT_LATIN["sans_bold"]


def ad_button(rng, height):
    text = D.pick(rng, AD_TEXTS)
    top, bottom = D.pick(rng, PALETTE)
    return D.render_button(text, font_for(text), height, fill=top,
                           fill2=bottom if rng.random() < 0.7 else None,
                           icon=D.pick(rng, ["play", "play_ring", "film", "tv"]),
                           radius=float(D.pick(rng, [0.5, 0.25])),
                           outline=D.pick(rng, [None, D.WHITE]), bevel=rng.random() < 0.6,
                           badge=D.pick(rng, [None, "AD", "x2"]))


def other_button(rng, height):
    text = D.pick(rng, OTHER_TEXTS)
    top, bottom = D.pick(rng, PALETTE)
    return D.render_button(text, font_for(text), height, fill=top,
                           fill2=bottom if rng.random() < 0.5 else None,
                           icon="play" if text in ("Play", "スタート") else "none", radius=0.5, bevel=rng.random() < 0.5)


def hud(screen, rng):
    d = ImageDraw.Draw(screen)
    d.rectangle([0, 0, W, 90], fill=tuple(int(v) for v in rng.integers(20, 80, 3)))
    for k, label in enumerate([f"{int(rng.integers(100, 99999))}", f"{int(rng.integers(1, 999))}",
                               f"Lv.{int(rng.integers(1, 99))}"]):
        x = 30 + k * 230
        d.ellipse([x, 25, x + 40, 65], fill=D.pick(rng, [(250, 200, 40), (80, 200, 255), (255, 120, 120)]))
        D.text_on(screen, (x + 55, 45), label, D.FONT_LATIN["sans_bold"], 28, D.WHITE, anchor="lm")


def main():
    rng = np.random.default_rng(4242)
    D.clean_dir(HERE / "images", "*.jpg")
    images, anns = [], []
    with_ad = set(rng.permutation(N)[:N_WITH].tolist())
    for i in range(N):
        screen = D.background(rng, D.pick(rng, ["scene", "scene", "blobs", "gradient"]), W, H, work_scale=0.5)
        hud(screen, rng)
        taken = [(0, 0, W, 95)]
        layout = D.pick(rng, ["bottom", "popup", "beside"])
        if layout == "popup":
            screen = D.dim(screen, 0.45)
            card = (80, 330, 640, 900)
            D.rounded_card(screen, card, D.pick(rng, [(255, 250, 235), (40, 50, 80)]), 40)
            D.text_on(screen, (360, 420), D.pick(rng, ["クリア!", "Stage clear", "報酬", "Reward"]),
                      D.FONT_JA["gothic"], 64, D.pick(rng, [(240, 120, 20), (60, 160, 255)]))
            taken.append(card[:2] + (card[2], card[1] + 160))
        play = other_button(rng, int(rng.integers(70, 100)))
        px, py = (W - play.width) // 2, int(rng.integers(980, 1120)) if layout != "popup" else 640
        D.paste(screen, play, px, py)
        taken.append((px, py, px + play.width, py + play.height))
        if i in with_ad:
            b = ad_button(rng, int(rng.integers(60, 96)))
            bb = D.alpha_bbox(b)
            if layout == "popup":
                area = (90, 740, 630, 890)
            elif layout == "beside":
                area = (0, py - 40, W, min(H, py + play.height + 200))
            else:
                area = (0, 700, W, H - 20)
            pos = D.place_free(rng, (b.width, b.height), area, taken) or \
                D.place_free(rng, (b.width, b.height), (0, 600, W, H), taken) or (20, 620)
            D.paste(screen, b, *pos)
            x0, y0 = pos[0] + bb[0], pos[1] + bb[1]
            bw, bh = bb[2] - bb[0], bb[3] - bb[1]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "bbox": [x0, y0, bw, bh],
                         "area": bw * bh, "iscrowd": 0})
        name = f"images/game_{i:03d}.jpg"
        D.save_jpeg(screen, HERE / name, quality=72)
        images.append({"id": i + 1, "file_name": name, "width": W, "height": H})
    D.write_coco(HERE / "annotations.json", images, anns, categories=[{"id": 1, "name": "watch_ad"}])
    print(f"{len(images)} screens, {len(anns)} watch_ad buttons")


if __name__ == "__main__":
    main()
