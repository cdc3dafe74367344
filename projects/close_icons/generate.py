"""Close buttons as real icon sets draw them: every close glyph (X, circled X, ×, ✕, ✖, X in a
square / octagon / diamond, thin to heavy, filled, outlined, duotone, emoji ❌ ❎) of every TRAINING
source in projects/_icon_sources/sources.yaml (Iconify sets + Debian icon / symbol fonts), each in
several styles of the shared button renderer (projects/_icons.py: bare, disc, rounded square,
square, pill from its TRAIN_PLATES table; solid, see-through or ring-only plates; knock-out; outline,
shadow, glow). neg_icons draws the same sets' other glyphs with exactly the same style distribution.

The sprites are not committed: `make assets` renders them (after `npm ci` in
projects/_icon_sources and the Debian font packages), or run by hand:

Run: python projects/close_icons/generate.py

Per source at most CAP_GLYPHS glyphs, each in clamp(ceil(TARGET / glyphs), MIN_STYLES, MAX_STYLES)
styles, so that one huge set does not dominate and a set with one X still shows it in many looks.
images/manifest.json records each sprite's source, glyph name and style.
"""
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _icons as IC  # noqa: E402

SEED = 7101
CAP_GLYPHS = 12
TARGET = 40
MIN_STYLES, MAX_STYLES = 4, 10
SIZE = (52, 120)  # plate (or bare glyph) size in px before the 48..128 sprite fit


def make_sprites(sources, seed=SEED):
    """[(RGBA sprite, manifest row)] for the given sources (deterministic for a seed)."""
    out = []
    for src in sources:
        rng = IC.source_rng(seed, src)
        glyphs = IC.pick_close(src, rng, CAP_GLYPHS)
        if not glyphs:
            continue
        n_styles = min(MAX_STYLES, max(MIN_STYLES, math.ceil(TARGET / len(glyphs))))
        for g in glyphs:
            base = IC.render_glyph(src, g.name)
            if base is None:
                continue
            for _ in range(n_styles):
                st = IC.random_style(rng, IC.TRAIN_PLATES)
                img, _ = IC.render_button(base, st, int(rng.integers(SIZE[0], SIZE[1] + 1)), g.colour)
                out.append((img, dict(source=src.id, glyph=IC.glyph_label(g), key=g.name, style=st["plate"],
                                      effect=st["effect"] or "", knockout=st["knockout"])))
    return out


def main():
    t0 = time.time()
    IC.check_installed()
    rows = make_sprites(IC.sources("train"))
    IC.save_sprites(HERE, [r[0] for r in rows], "icon_x", [r[1] for r in rows])
    n_src = len({r[1]["source"] for r in rows})
    n_gl = len({(r[1]["source"], r[1]["key"]) for r in rows})
    print(f"close_icons: {len(rows)} sprites of {n_gl} close glyphs from {n_src} sources ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
