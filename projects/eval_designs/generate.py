"""HELD-OUT evaluation screenshots with close buttons of real icon designs that no training project
draws: NEVER put this project in a training set.

The close buttons come only from the HELD-OUT sources of projects/_icon_sources/sources.yaml
(Solar, MingCute, Hugeicons, Iconoir, Fluent UI, Feather, Feather (fe), Streamline, Mage and the
Glyphicons Halflings font), drawn with the shared button renderer (projects/_icons.py) at 3.5-9.5%
of the screen width; the screens reuse eval_screens' layouts (interstitial card, video frame,
playable, store page, reward screen, corner layout; its own seed here) and placement (mostly the
top corners, also the card's corner, under the CTA, anywhere). Distractors: the held-out sets'
non-close glyphs in the same styles (plus, info, play, chevrons, ...) and eval_screens' text and
icon distractors (×2, メ, x2, plus-in-circle ...). 600 screens carry exactly one close button,
300 none; 750 are 720x1280, 150 are 1080x2340; JPEG q80. 600 buttons put one run's standard error near
1 point (200 left it near 2, as large as the differences between recipes).

Outputs (not committed; `make assets` renders them): images/*.jpg, annotations.json (COCO, one
category "close", box = the button body without its shadow) and designs.json (per screen: source,
glyph, whether the glyph encloses its X, and style of its button, for error analysis by design).

Run: python projects/eval_designs/generate.py
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
import _icons as IC  # noqa: E402

_spec = importlib.util.spec_from_file_location("eval_screens_generate", HERE.parent / "eval_screens" / "generate.py")
ES = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ES)

SEED = 20261201
N_CLOSE, N_NO_CLOSE, N_LARGE = 600, 300, 150
WIDTH = (0.035, 0.095)          # button body width / screen width
WIDTH_OK = (0.031, 0.102)       # what is kept (the content test allows 0.03..0.105)


class HeldOut:
    """The held-out sources' close glyphs and a pool of their other glyphs (distractors)."""

    def __init__(self, rng):
        self.sources = {s.id: s for s in IC.sources("heldout")}
        self.close = {sid: IC.close_glyphs(s) for sid, s in self.sources.items()}
        self.close = {k: v for k, v in self.close.items() if v}
        self.negs = {sid: [g for g, _ in IC.pick_negatives(s, rng, n_random=24, cap=60)]
                     for sid, s in self.sources.items()}
        self.negs = {k: v for k, v in self.negs.items() if v}
        self._encloses: dict = {}

    def _button(self, rng, pool, width, neg=False):
        sid = D.pick(rng, sorted(pool))
        g = D.pick(rng, pool[sid])
        src = self.sources[sid]
        st = IC.random_style(rng)
        size = width / st["pill"] if st["plate"] == "pill" else width
        base = IC.render_glyph(src, g.name, IC.glyph_px(st, int(size)))
        if base is None or (neg and IC.x_likeness(base) > IC.X_LIKE_MAX):
            return None
        img, bb = IC.button_at_width(base, st, int(width), g.colour)
        label = IC.glyph_label(g)
        return img, bb, dict(source=sid, glyph=label, enclosed=None if neg else self.encloses(src, g),
                             plate=st["plate"], effect=st["effect"] or "",
                             knockout=st["knockout"], see_through=st["fill"] is not None and st["fill_alpha"] < 1)

    def encloses(self, src, g) -> bool:
        """Whether the glyph draws a frame around its X (close-circle, xmark-square, remove-sign): the
        diary's "X in a circle", recorded so that each run reports it apart from the bare X's. Measured
        on the glyph's full-size render: a name can mislead (a multiplication-sign is a bare ×)."""
        key = (src.id, g.name)
        if key not in self._encloses:
            full = IC.render_glyph(src, g.name)
            self._encloses[key] = full is not None and IC.encloses(full)
        return self._encloses[key]

    def close_button(self, rng, width):
        return self._button(rng, self.close, width)

    def distractor(self, rng, width):
        return self._button(rng, self.negs, width, neg=True)


def make_screen(rng, held, W, H, with_close):
    k = W / 720
    lay = D.pick(rng, ES.LAYOUTS)
    scr, taken, pos = lay(rng, W, H, k)
    box, design = None, None
    if with_close:
        placed = None
        for _ in range(40):
            r = held.close_button(rng, W * rng.uniform(*WIDTH))
            if r is None:
                continue
            img, bb, design = r
            bw, bh = bb[2] - bb[0], bb[3] - bb[1]
            if not WIDTH_OK[0] <= bw / W <= WIDTH_OK[1]:
                continue
            bx, by = pos(bw, bh)
            bx, by = int(np.clip(bx, 0, W - bw)), int(np.clip(by, 0, H - bh))
            placed = (img, bb, design, bx, by, bw, bh)
            if D.contrast(scr, img, bx - bb[0], by - bb[1]) > 30:   # visible on this background
                break
        if placed is None:
            raise RuntimeError("no held-out close button could be drawn")
        img, bb, design, bx, by, bw, bh = placed
        D.paste(scr, img, bx - bb[0], by - bb[1])
        box = [bx, by, bw, bh]
        taken.append((bx, by, bx + bw, by + bh))
    # distractors: some in the top band (where X's live), more when there is no X; half of them
    # the held-out sets' other glyphs in button styles, half eval_screens' texts and icons
    n_top = int(rng.integers(1, 3)) + (1 if not with_close else 0)
    n_any = int(rng.integers(1, 5))
    for j in range(n_top + n_any):
        if rng.random() < 0.5:
            r = held.distractor(rng, W * rng.uniform(0.04, 0.11))
            if r is None:
                continue
            sp = r[0]
        else:
            sp = ES.hard_distractor(rng, k)
        area = (0, 0, W, int(H * 0.1)) if j < n_top else (0, 0, W, H)
        D.paste_free(rng, scr, sp, area, taken, tries=40)
    return scr, box, design


def main():
    t0 = time.time()
    IC.check_installed()
    rng = np.random.default_rng(SEED)
    held = HeldOut(rng)
    out = HERE / "images"
    D.clean_dir(out, "*.jpg")
    n = N_CLOSE + N_NO_CLOSE
    order = rng.permutation(n)
    no_close = set(order[:N_NO_CLOSE].tolist())
    large = set(rng.permutation(n)[:N_LARGE].tolist())
    images, anns, designs = [], [], []
    for i in range(n):
        W, H = (1080, 2340) if i in large else (720, 1280)
        scr, box, design = make_screen(rng, held, W, H, i not in no_close)
        name = f"images/design_{i:03d}.jpg"
        D.save_jpeg(scr, HERE / name, quality=80)
        D.add_screen(images, anns, name, W, H, box)
        designs.append({"file_name": name, "box": box, **(design or {})})
    D.write_coco(HERE / "annotations.json", images, anns)
    (HERE / "designs.json").write_text(json.dumps(designs, indent=0) + "\n")
    by_src = {}
    for d in designs:
        if d.get("source"):
            by_src[d["source"]] = by_src.get(d["source"], 0) + 1
    print(f"eval_designs: {len(images)} screens, {len(anns)} close buttons from {len(by_src)} held-out sources "
          f"{dict(sorted(by_src.items()))} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
