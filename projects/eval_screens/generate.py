"""HELD-OUT evaluation screenshots: NEVER put this project in a training set.

Different seed and different compositions from screens_train: interstitial card with
the X on the card's corner, full-screen video frame with the X top-left (progress bar,
'Ad 1 of 2'), playable ad with the X bottom-centre, app-store-like page with the X
top-right, reward screen with x2 / ×2 texts next to the X, plus a generic corner
layout. Close buttons and distractors are drawn fresh here with this file's own
design sampler (it does not read any sprite file of the sprite projects).
About 120 screens carry exactly one close button (70% in the top corners), about 50
carry none but still show hard distractors (×2, メ, plus-in-circle, info ...).

Run: python projects/eval_screens/generate.py
"""
import sys
from pathlib import Path

import numpy as np
from PIL import ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

N = 170
N_NO_CLOSE = 50
N_LARGE = 30  # 1080x2340
PALETTE = [(255, 59, 48), (255, 149, 0), (52, 199, 89), (0, 122, 255), (175, 82, 222), (255, 45, 85),
           (90, 200, 250), (88, 86, 214), (255, 204, 0)]
HARD_JA = ["×2", "報酬×2", "メ", "乂", "×5", "コイン×500", "文", "ス", "又", "あと3秒", "広告", "スキップ", "2倍"]
HARD_EN = ["x2", "X2", "×2", "MAX", "Next", "x3", "EXP x2", "Box", "AD", "Skip in 3", "FIX", "3x"]
HARD_ICONS = ["plus", "info", "question", "minus", "speaker", "pause", "play", "refresh", "share", "exclaim", "menu"]


def eval_close_spec(rng):
    """This set's own close-button sampler (same families as the sprite projects, own ranges)."""
    fam = D.pick(rng, ["plain", "circle", "circle", "square", "see_through", "translucent"])
    cap = D.pick(rng, ["round", "square", "butt"])
    light = [D.WHITE, (245, 245, 245), (220, 220, 220)]
    darkc = [D.BLACK, (25, 25, 25), (60, 60, 70)]
    if fam == "plain":
        col = D.pick(rng, light + darkc + PALETTE[:3])
        ol = (D.pick(rng, [None, D.BLACK]) if sum(col) > 400 else D.pick(rng, [None, D.WHITE]))
        return D.close_spec(x_colour=col, x_w=float(rng.uniform(0.045, 0.22)), x_r=float(rng.uniform(0.34, 0.43)),
                            cap=cap,
                            x_outline=ol, x_outline_w=float(rng.uniform(0.015, 0.06)),
                            shadow=dict(alpha=0.7, blur=0.07, dx=0.0, dy=0.03) if rng.random() < 0.5 else None)
    if fam == "circle":
        v = rng.random()
        if v < 0.3:
            fill, ring, xc = D.pick(rng, darkc), D.pick(rng, [None, D.WHITE, (150, 150, 150)]), D.pick(rng, light)
        elif v < 0.5:
            fill, ring, xc = D.pick(rng, light), D.pick(rng, [None, (30, 30, 30)]), D.pick(rng, darkc + [PALETTE[0]])
        elif v < 0.75:
            fill, ring, xc = D.pick(rng, PALETTE), D.pick(rng, [None, D.WHITE]), D.WHITE
        else:
            fill, ring = None, D.pick(rng, light + darkc + PALETTE)
            xc = ring if rng.random() < 0.6 else D.pick(rng, light + darkc)
        return D.close_spec(shape="circle", fill=fill, ring=ring, ring_w=float(rng.uniform(0.035, 0.14)), x_colour=xc,
                            x_w=float(rng.uniform(0.05, 0.15)), x_r=float(rng.uniform(0.15, 0.27)), cap=cap,
                            shadow=dict(alpha=0.6, blur=0.08, dx=0.0, dy=0.05) if rng.random() < 0.35 else None)
    if fam == "square":
        fill = D.pick(rng, [None] + darkc + light + PALETTE)
        ring = D.pick(rng, light + darkc) if fill is None or rng.random() < 0.3 else None
        xc = ring if fill is None else (D.BLACK if sum(fill) > 500 else D.WHITE)
        return D.close_spec(shape="square", radius=float(rng.uniform(0.0, 0.35)), fill=fill, ring=ring,
                            ring_w=float(rng.uniform(0.04, 0.12)), x_colour=xc, x_w=float(rng.uniform(0.05, 0.14)),
                            x_r=float(rng.uniform(0.16, 0.27)), cap=cap)
    if fam == "see_through":
        bg = D.pick(rng, [D.BLACK, D.BLACK, (40, 40, 40), D.WHITE])
        return D.close_spec(shape=D.pick(rng, ["circle", "square"]), radius=float(rng.uniform(0.1, 0.4)), fill=bg,
                            fill_alpha=float(rng.uniform(0.3, 0.6)),
                            x_colour=D.WHITE if bg != D.WHITE else D.pick(rng, [D.BLACK, D.WHITE]),
                            x_w=float(rng.uniform(0.05, 0.12)), x_r=float(rng.uniform(0.15, 0.25)), cap=cap,
                            knockout=bool(bg == D.WHITE and rng.random() < 0.4))
    # translucent X or bare thin X with soft shadow
    if rng.random() < 0.5:
        return D.close_spec(x_colour=D.pick(rng, light), x_w=float(rng.uniform(0.03, 0.08)),
                            x_r=float(rng.uniform(0.35, 0.43)),
                            cap=cap, shadow=dict(alpha=float(rng.uniform(0.5, 0.9)),
                                                 blur=float(rng.uniform(0.04, 0.12)), dx=0.0, dy=0.02))
    return D.close_spec(x_colour=D.pick(rng, light + darkc), x_alpha=float(rng.uniform(0.5, 0.8)),
                        x_w=float(rng.uniform(0.06, 0.16)), x_r=float(rng.uniform(0.35, 0.43)), cap=cap)


def hard_distractor(rng, k):
    r = rng.random()
    if r < 0.35:
        t, fp = D.pick(rng, HARD_JA), D.pick(rng, [D.FONT_JA["gothic"], D.FONT_JA["mincho"], D.FONT_JA["pgothic"]])
    elif r < 0.6:
        t, fp = D.pick(rng, HARD_EN), D.pick(rng,
                                             [D.FONT_LATIN["sans_bold"], D.FONT_LATIN["mono_bold"],
                                              D.FONT_LATIN["sans_oblique"], D.FONT_LATIN["sans"]])
    else:
        name = D.pick(rng, HARD_ICONS)
        st = "circle_ring" if name in ("plus", "minus", "info", "question") and rng.random() < 0.6 else \
            D.pick(rng, ["bare", "circle_fill", "square_fill", "circle_ring"])
        return D.render_icon(name, int(rng.uniform(34, 76) * k), st,
                             fg=D.pick(rng, [D.WHITE, D.BLACK, (200, 200, 200)] + PALETTE),
                             bg=D.pick(rng, [D.BLACK, (60, 60, 60)] + PALETTE), bg_alpha=float(rng.uniform(0.35, 1.0)),
                             stroke_w=float(rng.uniform(0.07, 0.16)))
    col = D.pick(rng, [D.WHITE, (255, 230, 60), D.BLACK] + PALETTE)
    return D.render_text(t, fp, int(rng.uniform(26, 64) * k), col, outline=D.BLACK if sum(col) > 350 else D.WHITE,
                         outline_w=int(rng.integers(0, 5) * k),
                         shadow=dict(alpha=0.5, blur=2, dx=1, dy=2) if rng.random() < 0.3 else None,
                         bg=D.pick(rng, [None, None, D.BLACK, PALETTE[3]]), bg_alpha=float(rng.uniform(0.4, 0.9)))


# ----------------------------------------------------------------------- layouts
# each returns (screen, taken boxes, where-the-X-goes function(bw, bh) -> (x, y) of the button's body box)

def _corner(rng, W, H, side):
    m = int(W * rng.uniform(0.02, 0.06))
    y = int(H * rng.uniform(0.02, 0.06))
    return (m if side == "left" else None), y, m


def lay_interstitial(rng, W, H, k):
    scr = D.dim(D.background(rng, D.pick(rng, ["scene", "noise", "gradient"]), W, H, 0.5), rng.uniform(0.5, 0.8))
    cw, ch = int(W * rng.uniform(0.78, 0.92)), int(H * rng.uniform(0.5, 0.7))
    x0, y0 = (W - cw) // 2, (H - ch) // 2
    D.rounded_card(scr, (x0, y0, x0 + cw, y0 + ch), D.pick(rng, [(255, 255, 255), (250, 244, 230), (30, 30, 38)]),
                   int(rng.uniform(8, 40) * k))
    art = D.background(rng, D.pick(rng, ["blobs", "scene"]), cw, int(ch * 0.55), 0.5)
    scr.paste(art, (x0, y0 + int(ch * 0.06)))
    D.button(scr, (x0 + int(cw * 0.1), y0 + int(ch * 0.8), x0 + int(cw * 0.9), y0 + int(ch * 0.8) + int(84 * k)),
             D.pick(rng, PALETTE), D.pick(rng, ["Install", "今すぐ遊ぶ", "OPEN", "無料ダウンロード"]), D.FONT_JA["gothic"])
    D.text_on(scr, (W // 2, y0 + int(ch * 0.7)),
              D.pick(rng, ["最強RPG登場!", "Build your kingdom", "新作パズル", "Match 3 Fun"]),
              D.FONT_JA["gothic"], int(40 * k), (120, 120, 120))

    def pos(bw, bh):
        if rng.random() < 0.65:  # on the card's top-right (or left) corner, half outside
            return (x0 + cw - bw // 2 - int(4 * k),
                    y0 - bh // 2 + int(4 * k)) if rng.random() < 0.8 else (x0 - bw // 2, y0 - bh // 2)
        return (x0 + cw - bw - int(16 * k), y0 + int(16 * k))  # inside the card
    return scr, [(x0, y0, x0 + cw, y0 + ch)], pos


def lay_video(rng, W, H, k):
    scr = D.background(rng, "video", W, H, 0.4)
    d = ImageDraw.Draw(scr)
    py = H - int(rng.uniform(60, 140) * k)
    d.rectangle([0, py, W, py + int(6 * k)], fill=(90, 90, 90))
    d.rectangle([0, py, int(W * rng.uniform(0.1, 0.9)), py + int(6 * k)],
                fill=D.pick(rng, [(255, 204, 0), D.WHITE, (255, 59, 48)]))
    D.text_on(scr, (W - int(24 * k), int(H * 0.04)), D.pick(rng, ["Ad 1 of 2", "広告", "0:15", "Ad · 0:12"]),
              D.FONT_JA["gothic"],
              int(26 * k), (230, 230, 230), anchor="rm")

    def pos(bw, bh):
        if rng.random() < 0.8:
            return (int(W * rng.uniform(0.02, 0.05)), int(H * rng.uniform(0.02, 0.05)))
        return (W - bw - int(W * 0.03), py - bh - int(30 * k))  # bottom-right above the progress bar
    return scr, [(0, py - 4, W, py + int(10 * k))], pos


def lay_playable(rng, W, H, k):
    scr = D.background(rng, "scene", W, H, 0.5)
    d = ImageDraw.Draw(scr)
    gs = int(W * 0.14)
    gx0, gy0 = (W - 5 * gs) // 2, int(H * 0.3)
    for r in range(5):  # match-3 board
        for c in range(5):
            col = D.pick(rng, PALETTE)
            d.rounded_rectangle([gx0 + c * gs + 4, gy0 + r * gs + 4, gx0 + (c + 1) * gs - 4, gy0 + (r + 1) * gs - 4],
                                radius=gs // 5, fill=col)
    D.text_on(scr, (W // 2, int(H * 0.2)), D.pick(rng, ["Tap to play!", "タップしてスタート", "LEVEL 1", "Swipe!"]),
              D.FONT_JA["gothic"], int(50 * k), D.WHITE, outline=D.BLACK, ow=int(3 * k))
    by = int(H * rng.uniform(0.78, 0.84))
    D.button(scr, (int(W * 0.2), by, int(W * 0.8), by + int(80 * k)), D.pick(rng, PALETTE),
             D.pick(rng, ["Play Now", "続きはアプリで", "GET IT"]),
             D.FONT_JA["gothic"])
    taken = [(gx0, gy0, gx0 + 5 * gs, gy0 + 5 * gs), (int(W * 0.2), by, int(W * 0.8), by + int(80 * k)),
             (0, int(H * 0.2) - int(40 * k), W, int(H * 0.2) + int(40 * k))]

    def pos(bw, bh):
        if rng.random() < 0.5:  # bottom centre, under the CTA
            return ((W - bw) // 2, min(H - bh - int(10 * k), by + int(110 * k)))
        return (W - bw - int(W * 0.04), int(H * 0.03)) if rng.random() < 0.5 else (int(W * 0.04), int(H * 0.03))
    return scr, taken, pos


def lay_store(rng, W, H, k):
    scr = D.background(rng, "store", W, H, 1.0)
    d = ImageDraw.Draw(scr)
    hy = int(H * 0.1)
    d.rectangle([0, 0, W, hy], fill=D.pick(rng, [(250, 250, 250), (1, 135, 95), (0, 122, 255)]))

    def pos(bw, bh):
        return (W - bw - int(W * rng.uniform(0.02, 0.05)), int((hy - bh) / 2)) if rng.random() < 0.85 else \
            (int(W * 0.03), int((hy - bh) / 2))
    return scr, [], pos


def lay_reward(rng, W, H, k):
    scr = D.background(rng, D.pick(rng, ["gradient", "blobs"]), W, H, 0.5)
    d = ImageDraw.Draw(scr)
    cx, cy = W // 2, int(H * 0.42)
    for i in range(16):  # sunburst
        a0 = i * 22.5
        d.pieslice([cx - W, cy - W, cx + W, cy + W], a0, a0 + 11, fill=(255, 230, 120) if i % 2 else (255, 200, 60))
    scr = scr.filter(__import__("PIL.ImageFilter", fromlist=["x"]).GaussianBlur(3))
    d = ImageDraw.Draw(scr)
    r = int(W * 0.16)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 200, 0), outline=(200, 130, 0), width=int(10 * k))
    D.text_on(scr, (cx, int(H * 0.62)), D.pick(rng, ["報酬×2 獲得!", "REWARD x2", "コイン×2", "×2 BONUS"]),
              D.FONT_JA["gothic"],
              int(56 * k), D.WHITE, outline=(120, 60, 0), ow=int(4 * k))
    D.button(scr, (int(W * 0.2), int(H * 0.72), int(W * 0.8), int(H * 0.72) + int(84 * k)), (52, 199, 89),
             D.pick(rng, ["受け取る", "Claim", "報酬を受け取る"]), D.FONT_JA["gothic"])
    side = "right" if rng.random() < 0.7 else "left"

    def pos(bw, bh):
        x = W - bw - int(W * 0.04) if side == "right" else int(W * 0.04)
        return (x, int(H * rng.uniform(0.02, 0.05)))
    # ×2 / x2 labels right next to where the X goes
    lab = D.render_text(D.pick(rng, ["×2", "x2", "X2", "報酬×2"]), D.FONT_JA["gothic"], int(40 * k), (255, 255, 255),
                        outline=(0, 0, 0), outline_w=int(3 * k))
    lx = W - int(W * 0.2) - lab.width if side == "right" else int(W * 0.18)
    D.paste(scr, lab, lx, int(H * 0.03))
    return scr, [(cx - r, cy - r, cx + r, cy + r), (0, int(H * 0.58), W, int(H * 0.72) + int(90 * k)),
                 (lx, int(H * 0.03), lx + lab.width, int(H * 0.03) + lab.height)], pos


def lay_corner(rng, W, H, k):
    scr = D.background(rng, D.pick(rng, ["blobs", "noise", "scene", "gradient"]), W, H, 0.5)
    D.text_on(scr, (W // 2, int(H * 0.85)), D.pick(rng, ["今すぐインストール", "DOWNLOAD FREE", "無料"]), D.FONT_JA["gothic"],
              int(48 * k), D.WHITE, outline=D.BLACK, ow=int(3 * k))
    taken = [(0, int(H * 0.85) - int(40 * k), W, int(H * 0.85) + int(40 * k))]

    def pos(bw, bh):
        r = rng.random()
        if r < 0.75:
            return (W - bw - int(W * 0.03) if rng.random() < 0.5 else int(W * 0.03), int(H * rng.uniform(0.015, 0.06)))
        return (int(rng.integers(int(W * 0.05), int(W * 0.95) - bw)), int(H * rng.uniform(0.1, 0.9)))  # anywhere
    return scr, taken, pos


LAYOUTS = [lay_interstitial, lay_video, lay_playable, lay_store, lay_reward, lay_corner]


def place_close(rng, scr, taken, pos):
    """Draw one of this set's close buttons where the layout's ``pos`` puts it (up to 10 designs
    tried until one stands out from the background); return its body box [x, y, w, h]."""
    W, H = scr.size
    for _ in range(10):
        img, bb = D.close_at_width(eval_close_spec(rng), int(W * rng.uniform(0.035, 0.10)))
        bw, bh = bb[2] - bb[0], bb[3] - bb[1]
        bx, by = pos(bw, bh)
        bx, by = int(np.clip(bx, 0, W - bw)), int(np.clip(by, 0, H - bh))
        x, y = bx - bb[0], by - bb[1]
        if D.contrast(scr, img, x, y) > 30:
            break
    D.paste(scr, img, x, y)
    taken.append((bx, by, bx + bw, by + bh))
    return [bx, by, bw, bh]


def make_screen(rng, W, H, with_close):
    k = W / 720
    lay = D.pick(rng, LAYOUTS)
    scr, taken, pos = lay(rng, W, H, k)
    box = place_close(rng, scr, taken, pos) if with_close else None
    # hard distractors: always some in the top band (where X's live), more when there is no X
    n_top = int(rng.integers(1, 3)) + (1 if not with_close else 0)
    n_any = int(rng.integers(1, 5))
    for j in range(n_top + n_any):
        sp = hard_distractor(rng, k)
        area = (0, 0, W, int(H * 0.1)) if j < n_top else (0, 0, W, H)
        D.paste_free(rng, scr, sp, area, taken, tries=40)
    return scr, box


def main():
    rng = np.random.default_rng(20240917)
    out = HERE / "images"
    D.clean_dir(out, "*.jpg")
    order = rng.permutation(N)
    no_close = set(order[:N_NO_CLOSE].tolist())
    large = set(rng.permutation(N)[:N_LARGE].tolist())
    images, anns = [], []
    for i in range(N):
        W, H = (1080, 2340) if i in large else (720, 1280)
        scr, box = make_screen(rng, W, H, i not in no_close)
        name = f"images/eval_{i:03d}.jpg"
        D.save_jpeg(scr, HERE / name, quality=78)
        D.add_screen(images, anns, name, W, H, box)
    D.write_coco(HERE / "annotations.json", images, anns)
    print(f"{len(images)} screens, {len(anns)} close buttons")


if __name__ == "__main__":
    main()
