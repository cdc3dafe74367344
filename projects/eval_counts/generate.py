"""HELD-OUT count-string screenshots, a false-tap check: NEVER put this project in a training set.

The "×2" of a reward screen or the "x10" of a shop is the text a bot most easily takes for a close
button: its "×" is one. These screens put count strings where close buttons go, drawn in fonts
that no training project uses, black to thin: Roboto (Android's own font), Liberation Sans and
Serif, and for the Japanese counts M+ 1 / M+ 2 and VL Gothic (Debian's fonts-roboto,
fonts-liberation2, fonts-mplus, fonts-vlgothic; training draws its text in DejaVu, Noto and IPA).

- 300 screens without a close button (one false tap is 0.33 points; at 100, two runs of one recipe
  were 1 and 3 false taps apart). One count sits exactly where the screen's layout puts its X
  (eval_screens' layouts: the top corners, the card's corner, under the CTA ...), one or two more
  in the top band, up to two anywhere. Any tap on these is a false tap.
- 100 screens with a close button (eval_screens' own button sampler), with one to three counts in
  the top band beside it and up to two anywhere: a tap on a count is a wrong tap.

Each screen draws its counts in one font, as a game does: single digits (×2 … ×9, x4, X3, 3x),
longer ones (×10, ×250, x1.5) and, in the Japanese fonts, Japanese ones (報酬×2, コイン×5, ガチャ×10),
in this file's own looks: plain, outlined, shadowed, on a badge, and as bright reward labels.
400 screens, 60 of them 1080x2340, the rest 720x1280; JPEG q80.

Outputs (not committed; `make assets` renders them with the fonts it installs): images/*.jpg,
annotations.json (COCO, one category "close"; a screen without a button has no annotation) and
designs.json (per screen, the font family and weight of its counts: `evaluate` reports the false-tap
rate per value, e.g. eval_counts.false_tap_rate.weight.thin).

Run: python projects/eval_counts/generate.py
"""
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _drawing as D  # noqa: E402

_spec = importlib.util.spec_from_file_location("eval_screens_generate", HERE.parent / "eval_screens" / "generate.py")
ES = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ES)

SEED = 20261207
N_WITH_CLOSE, N_NO_CLOSE, N_LARGE = 100, 300, 60

_ROBOTO = "/usr/share/fonts/truetype/roboto/unhinted/RobotoTTF/"
_LIBERATION = "/usr/share/fonts/truetype/liberation2/"
_MPLUS = "/usr/share/fonts/opentype/mplus/"
_VL = "/usr/share/fonts/truetype/vlgothic/"
# every weight from black to thin: fonts_by_weight lets each screen draw its weight first
LATIN_FONTS = [_ROBOTO + f for f in ("Roboto-Regular.ttf", "Roboto-Bold.ttf", "Roboto-Black.ttf",
                                     "Roboto-BoldItalic.ttf", "Roboto-Light.ttf", "Roboto-Thin.ttf")] + \
              [_LIBERATION + f for f in ("LiberationSans-Bold.ttf", "LiberationSans-Regular.ttf",
                                         "LiberationSerif-Bold.ttf")]
JA_FONTS = [_MPLUS + f for f in ("Mplus1-Bold.otf", "Mplus1-Black.otf", "Mplus2-ExtraBold.otf", "Mplus2-Black.otf",
                                 "Mplus2-Medium.otf", "Mplus1-Light.otf", "Mplus2-Light.otf", "Mplus1-Thin.otf",
                                 "Mplus2-Thin.otf")] + \
    [_VL + "VL-Gothic-Regular.ttf", _VL + "VL-PGothic-Regular.ttf"]
FONTS = LATIN_FONTS + JA_FONTS

SINGLE = ["×2", "×3", "×4", "×5", "×6", "×8", "×9", "x2", "x4", "X3", "3x", "2×"]
LONGER = ["×10", "×30", "×250", "×999", "x1.5", "x50", "20x"]
JAPANESE = ["報酬×2", "コイン×5", "ガチャ×10", "経験値×3", "ダイヤ×50", "×2倍"]
COLOURS = [D.WHITE, D.BLACK, (255, 230, 60), (255, 140, 0), (235, 50, 50), (60, 200, 90), (80, 160, 255)]
BADGES = [(230, 40, 40), (20, 20, 20), (255, 150, 0), (70, 70, 200)]


WEIGHTS = {"thin": "thin", "light": "light", "regular": "regular", "medium": "regular", "bold": "bold",
           "bolditalic": "bold", "extrabold": "bold", "black": "black"}


def count_text(rng, font: str) -> str:
    """A count that ``font`` has the glyphs of (Japanese ones only in the Japanese fonts)."""
    r = rng.random()
    if r < 0.55:
        return D.pick(rng, SINGLE)
    if r < 0.8 or font not in JA_FONTS:
        return D.pick(rng, LONGER)
    return D.pick(rng, JAPANESE)


def font_attributes(font: str) -> dict:
    """{"font": family, "weight": thin | light | regular | bold | black} of a font file."""
    family, style = Path(font).stem.rsplit("-", 1)
    return {"font": family, "weight": WEIGHTS[style.lower()]}


def count_sprite(rng, k, font: str):
    """One count in ``font`` in one of four looks, its cap height about that of a close button."""
    text = count_text(rng, font)
    px = int(rng.uniform(30, 72) * k)
    look = rng.random()
    if look < 0.3:                                   # plain, sometimes a soft shadow
        col = D.pick(rng, COLOURS)
        kw = dict(colour=col, shadow=dict(alpha=0.6, blur=2, dx=1, dy=2) if rng.random() < 0.5 else None)
    elif look < 0.6:                                 # outlined
        col = D.pick(rng, COLOURS)
        kw = dict(colour=col, outline=D.WHITE if sum(col) < 300 else D.BLACK,
                  outline_w=max(1, int(rng.integers(1, 5) * k)))
    elif look < 0.8:                                 # on a badge
        kw = dict(colour=D.WHITE, bg=D.pick(rng, BADGES), bg_alpha=float(rng.uniform(0.7, 1.0)),
                  bg_pad=float(rng.uniform(0.15, 0.35)))
    else:                                            # bright reward label, thick dark outline
        kw = dict(colour=D.pick(rng, [(255, 225, 40), (255, 255, 255), (255, 170, 30)]),
                  outline=D.pick(rng, [(80, 30, 0), D.BLACK, (30, 30, 120)]),
                  outline_w=max(2, int(rng.integers(3, 7) * k)),
                  shadow=dict(alpha=0.6, blur=2, dx=2, dy=3) if rng.random() < 0.5 else None)
    return D.render_text(text, font, px, **kw)


def place_count_at_x(rng, scr, taken, pos, k, font):
    """Paste a count where the layout would put its close button, visible and clear of the layout's
    own labels; False if 20 tries found no such count."""
    W, H = scr.size
    labels = [b for b in taken if (b[2] - b[0]) * (b[3] - b[1]) < 0.05 * W * H]   # not the card the X sits on
    for _ in range(20):
        sp = count_sprite(rng, k, font)
        if sp.width >= W // 2:
            continue
        x, y = pos(sp.width, sp.height)
        x, y = int(np.clip(x, 0, W - sp.width)), int(np.clip(y, 0, H - sp.height))
        if not D.overlaps((x, y, x + sp.width, y + sp.height), labels) and D.contrast(scr, sp, x, y) > 30:
            D.paste(scr, sp, x, y)
            taken.append((x, y, x + sp.width, y + sp.height))
            return True
    return False


def fonts_by_weight() -> dict[str, list[str]]:
    """The fonts of each weight, so that a screen draws a weight first: each gets about a fifth."""
    out: dict[str, list[str]] = {}
    for font in FONTS:
        out.setdefault(font_attributes(font)["weight"], []).append(font)
    return out


def make_screen(rng, W, H, with_close, by_weight):
    k = W / 720
    scr, taken, pos = D.pick(rng, ES.LAYOUTS)(rng, W, H, k)
    font = D.pick(rng, by_weight[D.pick(rng, sorted(by_weight))])
    box = ES.place_close(rng, scr, taken, pos) if with_close else None
    if not with_close and not place_count_at_x(rng, scr, taken, pos, k, font):
        raise RuntimeError("no count could be drawn where this screen's close button would go")
    n_top = int(rng.integers(1, 3)) + (1 if with_close else 0)
    n_any = int(rng.integers(0, 3))
    for j in range(n_top + n_any):
        sp = count_sprite(rng, k, font)
        area = (0, 0, W, int(H * 0.12)) if j < n_top else (0, 0, W, H)
        D.paste_free(rng, scr, sp, area, taken, tries=40)
    return scr, box, font_attributes(font)


def check_fonts():
    missing = [f for f in FONTS if not Path(f).is_file()]
    if missing:
        raise SystemExit(f"eval_counts: fonts missing: {missing}; `make system-packages` installs them "
                         "(fonts-roboto, fonts-liberation2, fonts-mplus, fonts-vlgothic)")


def main():
    t0 = time.time()
    check_fonts()
    rng = np.random.default_rng(SEED)
    out = HERE / "images"
    D.clean_dir(out, "*.jpg")
    n = N_WITH_CLOSE + N_NO_CLOSE
    no_close = set(rng.permutation(n)[:N_NO_CLOSE].tolist())
    large = set(rng.permutation(n)[:N_LARGE].tolist())
    by_weight = fonts_by_weight()
    images, anns, designs = [], [], []
    for i in range(n):
        W, H = (1080, 2340) if i in large else (720, 1280)
        scr, box, design = make_screen(rng, W, H, i not in no_close, by_weight)
        name = f"images/count_{i:03d}.jpg"
        D.save_jpeg(scr, HERE / name, quality=80)
        D.add_screen(images, anns, name, W, H, box)
        designs.append({"file_name": name, "box": box, **design})
    D.write_coco(HERE / "annotations.json", images, anns)
    (HERE / "designs.json").write_text(json.dumps(designs, indent=0, ensure_ascii=False) + "\n")
    print(f"eval_counts: {len(images)} screens, {len(anns)} with a close button ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
