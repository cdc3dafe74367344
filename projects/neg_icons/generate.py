"""Hard negatives from the same real icon sets as close_icons: the TRAINING sources' other glyphs
(play, info, plus, check, arrows, chevrons, stars, hearts, gear, menu, search, share, refresh,
volume, question, minus, home, user, bell, lock, gift, coin, cart, download, and a random share of
everything else), drawn with exactly the same style distribution as the close sprites
(projects/_icons.py random_style / render_button), so that neither a set's drawing style nor a
plate tells the verifier the label: only the glyph does.

A glyph is used only when every one of its names passes the conservative negative filter
(_icons.is_negative: no x / close / cancel / remove / delete / clear / cross / ban / slash / off /
error ... token), never a name the close filter accepts, and never a glyph shaped like an X
(_icons.x_likeness: most of its ink on the two diagonals, e.g. crossed cutlery).

The sprites are not committed: `make assets` renders them, or by hand:

Run: python projects/neg_icons/generate.py

Per source: every must-have hard negative the set has (its shortest-named glyph per concept, and a
second variant of plus / plus-in-circle / plus-in-square / info / check / play / chevron /
question), then N_RANDOM or more random others (CAP glyphs in all); one style each.
images/manifest.json records each sprite's source, glyph name, concept and style.
"""
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _icons as IC  # noqa: E402

SEED = 7202
N_RANDOM, CAP = 6, 34      # per source: every must-have concept present, then >= 6 random others
SIZE = (52, 120)


def make_sprites(sources, seed=SEED):
    """[(RGBA sprite, manifest row)] for the given sources (deterministic for a seed)."""
    out = []
    for src in sources:
        rng = IC.source_rng(seed, src)
        for g, concept in IC.pick_negatives(src, rng, N_RANDOM, CAP):
            st = IC.random_style(rng, IC.TRAIN_PLATES)
            size = int(rng.integers(SIZE[0], SIZE[1] + 1))
            base = IC.render_glyph(src, g.name, IC.glyph_px(st, size))
            if base is None or IC.x_likeness(base) > IC.X_LIKE_MAX:   # blank, or shaped like an X
                continue
            img, _ = IC.render_button(base, st, size, g.colour)
            out.append((img, dict(source=src.id, glyph=IC.glyph_label(g), key=g.name, concept=concept or "",
                                  style=st["plate"], effect=st["effect"] or "", knockout=st["knockout"])))
    return out


def main():
    t0 = time.time()
    IC.check_installed()
    rows = make_sprites(IC.sources("train"))
    IC.save_sprites(HERE, [r[0] for r in rows], "icon_neg", [r[1] for r in rows])
    n_src = len({r[1]["source"] for r in rows})
    n_gl = len({(r[1]["source"], r[1]["key"]) for r in rows})
    print(f"neg_icons: {len(rows)} sprites of {n_gl} glyphs from {n_src} sources ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
