"""Synthetic game-ad screenshots for detector training (COCO boxes in annotations.json).

Layouts: full-screen ad (title, product/character art, rating, CTA, app bar) and a
centred card over a dimmed game; one close button (drawn fresh, all design families)
mostly in the top corners, sometimes bottom-centre under the card or on the card's
corner; a quarter of the screens have no close button. Text/icon distractors (×2, メ,
info, plus-in-circle, AD) sit around, some in the corners where X's usually are.

Run: python projects/screens_train/generate.py
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

N = 40
N_NO_CLOSE = 10
TITLES_EN = ["Merge Dragons!", "Tower Rush", "Puzzle Quest", "Candy Blast", "Idle Miner", "Hero Wars", "Farm Story"]
TITLES_JA = ["ドラゴン大冒険", "パズルの王国", "ひまつぶしゲーム", "最強の勇者", "農園ものがたり", "にゃんこ大集合"]
CTAS = [("INSTALL", "en"), ("Play Now", "en"), ("今すぐプレイ", "ja"), ("インストール", "ja"), ("無料で遊ぶ", "ja"),
        ("Download", "en"), ("GET", "en")]
DISTRACT_JA = ["報酬×2", "×2", "メ", "×10", "コイン×100", "広告", "スキップ", "あと5秒", "乂", "無料", "文"]
DISTRACT_EN = ["x2", "AD", "MAX", "Next", "Skip in 5", "x10", "Reward", "EXP", "Free", "Box"]
ICONS = ["info", "plus", "question", "speaker", "star", "play", "heart", "menu", "minus", "gear"]


def font_for(lang, rng):
    return D.pick(rng, [D.FONT_JA["gothic"], D.FONT_JA["pgothic"]]) if lang == "ja" else \
        D.pick(rng, [D.FONT_LATIN["sans_bold"], D.FONT_LATIN["sans_cond_bold"], D.FONT_LATIN["serif_bold"]])


def distractor(rng, k):
    """A random text or icon sprite at scale k (k = W / 720)."""
    r = rng.random()
    if r < 0.55:
        lang = "ja" if rng.random() < 0.55 else "en"
        text = D.pick(rng, DISTRACT_JA if lang == "ja" else DISTRACT_EN)
        col = D.pick(rng, [D.WHITE, (255, 220, 0), D.BLACK] + D.COLOURS)
        return D.render_text(text, font_for(lang, rng), int(rng.uniform(22, 48) * k), col,
                             outline=D.BLACK if sum(col) > 300 else D.WHITE, outline_w=int(rng.integers(0, 4) * k),
                             bg=D.pick(rng, [None, None, (0, 0, 0)]), bg_alpha=0.5)
    name = D.pick(rng, ICONS)
    return D.render_icon(name, int(rng.uniform(30, 70) * k), D.pick(rng, ["bare", "circle_fill", "circle_ring"]),
                         fg=D.pick(rng, [D.WHITE, D.GREYS[3], D.BLACK] + D.COLOURS),
                         bg=D.pick(rng, [D.BLACK, D.GREYS[0]] + D.COLOURS),
                         bg_alpha=float(rng.uniform(0.4, 1.0)))


def layout_fullscreen(rng, W, H, k):
    scr = D.background(rng, D.pick(rng, ["scene", "scene", "blobs", "gradient", "video", "noise"]), W, H, 0.5)
    taken = []
    lang = "ja" if rng.random() < 0.5 else "en"
    title = D.pick(rng, TITLES_JA if lang == "ja" else TITLES_EN)
    ty = int(H * rng.uniform(0.12, 0.22))
    D.text_on(scr, (W // 2, ty), title, font_for(lang, rng), int(58 * k), D.pick(rng, [D.WHITE, (255, 220, 0)]),
              outline=D.BLACK, ow=int(4 * k))
    taken.append((0, ty - int(45 * k), W, ty + int(45 * k)))
    d = __import__("PIL.ImageDraw", fromlist=["Draw"]).Draw(scr)
    cy = int(H * rng.uniform(0.42, 0.55))
    for _ in range(int(rng.integers(1, 3))):
        D.draw_character(d, rng, W * rng.uniform(0.3, 0.7), cy + rng.uniform(-60, 60) * k, W * rng.uniform(0.12, 0.22))
    bx0, by0 = int(W * 0.18), int(H * rng.uniform(0.74, 0.82))
    cta, cl = D.pick(rng, CTAS)
    D.button(scr, (bx0, by0, W - bx0, by0 + int(96 * k)),
             D.pick(rng, [(1, 135, 95), (0, 122, 255), (250, 140, 0), (230, 40, 60)]),
             cta, font_for(cl, rng))
    taken.append((bx0, by0, W - bx0, by0 + int(96 * k)))
    if rng.random() < 0.6:  # app bar at the bottom
        y = H - int(120 * k)
        D.rounded_card(scr, (0, y, W, H), (250, 250, 250), 0, shadow=False)
        d.rounded_rectangle([int(20 * k), y + int(15 * k), int(110 * k), y + int(105 * k)], radius=int(20 * k),
                            fill=D.rand_colour(rng))
        D.text_on(scr, (int(130 * k), y + int(45 * k)), D.pick(rng, TITLES_EN + TITLES_JA), D.FONT_JA["gothic"],
                  int(30 * k),
                  (30, 30, 30), anchor="lm")
        D.text_on(scr, (int(130 * k), y + int(85 * k)), "★★★★☆ 4.5", D.FONT_LATIN["sans"], int(22 * k),
                  (120, 120, 120), anchor="lm")
        taken.append((0, y, W, H))
    card = None
    return scr, taken, card


def layout_card(rng, W, H, k):
    scr = D.background(rng, D.pick(rng, ["scene", "blobs", "store"]), W, H, 0.5)
    scr = D.dim(scr, rng.uniform(0.4, 0.7))
    cw, ch = int(W * rng.uniform(0.72, 0.88)), int(H * rng.uniform(0.45, 0.62))
    x0, y0 = (W - cw) // 2, int((H - ch) * rng.uniform(0.35, 0.55))
    card = (x0, y0, x0 + cw, y0 + ch)
    dark = rng.random() < 0.35
    D.rounded_card(scr, card, (35, 35, 45) if dark else (255, 255, 255), int(28 * k))
    art = D.background(rng, "scene", cw - int(40 * k), int(ch * 0.5), 0.5)
    scr.paste(art, (x0 + int(20 * k), y0 + int(20 * k)))
    lang = "ja" if rng.random() < 0.5 else "en"
    D.text_on(scr, (W // 2, y0 + int(ch * 0.62)), D.pick(rng, TITLES_JA if lang == "ja" else TITLES_EN),
              font_for(lang, rng),
              int(44 * k), D.WHITE if dark else (30, 30, 30))
    cta, cl = D.pick(rng, CTAS)
    by = y0 + int(ch * 0.78)
    D.button(scr, (x0 + int(40 * k), by, x0 + cw - int(40 * k), by + int(80 * k)),
             D.pick(rng, [(1, 135, 95), (0, 122, 255), (250, 140, 0)]),
             cta, font_for(cl, rng))
    return scr, [card], card


def close_position(rng, W, H, k, bw, bh, card):
    m = int(W * rng.uniform(0.015, 0.05))
    top = int(H * rng.uniform(0.015, 0.05))
    r = rng.random()
    if r < 0.72 or card is None and r < 0.85:
        x = m if rng.random() < 0.45 else W - m - bw
        return x, top
    if card is not None and r < 0.86:  # card corner (overlapping the corner) or just above the card's right
        if rng.random() < 0.5:
            return card[2] - bw // 2 - int(6 * k), card[1] - bh // 2 + int(6 * k)
        return card[2] - bw, card[1] - bh - int(14 * k)
    if card is not None:  # bottom centre under the card
        return (W - bw) // 2, card[3] + int(30 * k)
    return int(rng.integers(m, W - m - bw)), int(H * rng.uniform(0.06, 0.9))


def make_screen(rng, W, H, with_close):
    k = W / 720
    scr, taken, card = (layout_card if rng.random() < 0.4 else layout_fullscreen)(rng, W, H, k)
    box = None
    if with_close:
        for _ in range(8):
            spec = D.random_close_spec(rng)
            img, bb = D.close_at_width(spec, int(W * rng.uniform(0.035, 0.10)))
            x, y = close_position(rng, W, H, k, bb[2] - bb[0], bb[3] - bb[1], card)
            x, y = x - bb[0], y - bb[1]
            x = int(np.clip(x, -bb[0], W - bb[2]))
            y = int(np.clip(y, -bb[1], H - bb[3]))
            if D.contrast(scr, img, x, y) > 28:
                break
        D.paste(scr, img, x, y)
        box = [x + bb[0], y + bb[1], bb[2] - bb[0], bb[3] - bb[1]]
        taken.append((box[0], box[1], box[0] + box[2], box[1] + box[3]))
    n = int(rng.integers(2, 7))
    for j in range(n):
        sp = distractor(rng, k)
        area = (0, 0, W, int(H * 0.12)) if j == 0 else (0, 0, W, H)  # one distractor near the top edge
        D.paste_free(rng, scr, sp, area, taken)
    return scr, box


def main():
    rng = np.random.default_rng(909)
    out = HERE / "images"
    D.clean_dir(out, "*.jpg")
    images, anns = [], []
    no_close = set(rng.choice(N, N_NO_CLOSE, replace=False).tolist())
    for i in range(N):
        W, H = (1080, 2340) if i % 8 == 7 else (720, 1280)
        scr, box = make_screen(rng, W, H, i not in no_close)
        name = f"images/train_{i:03d}.jpg"
        D.save_jpeg(scr, HERE / name)
        D.add_screen(images, anns, name, W, H, box)
    D.write_coco(HERE / "annotations.json", images, anns)
    print(f"{len(images)} screens, {len(anns)} close buttons")


if __name__ == "__main__":
    main()
