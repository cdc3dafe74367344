"""Screen composition: the interstitial card layout (``card_fraction``) and distractors in the top
band (``distractor_top_fraction``)."""
from __future__ import annotations

import numpy as np
import pytest

from gaa_mlops.data.assets import Assets
from gaa_mlops.data.compose import _card_close_position, _top_band_position, compose_screen
from gaa_mlops.projects import load_projects

RECIPE = {"screen_sizes": [[1280, 720]], "no_close_fraction": 0.0, "distractors": [1, 2],
          "button_width_fraction": [0.05, 0.1], "corner_fraction": 0.7}


@pytest.fixture
def assets(tiny_projects):
    root, names = tiny_projects
    return Assets(load_projects(names, root))


def _screens(assets, recipe, n=6):
    out = []
    for i in range(n):
        img, boxes, labels = compose_screen(np.random.default_rng([3, i]), assets, recipe, (96, 64))
        out.append((np.asarray(img), boxes, labels))
    return out


def test_no_card_fraction_draws_the_same_screens_as_before(assets):
    """Recipes without cards keep their random stream, so their datasets (and digests' meaning) stay."""
    for (a, ba, _), (b, bb, _) in zip(_screens(assets, RECIPE), _screens(assets, {**RECIPE, "card_fraction": 0.0})):
        assert np.array_equal(a, b) and ba == bb


def test_cards_change_the_screens_and_keep_one_close_box(assets):
    plain = _screens(assets, RECIPE)
    carded = _screens(assets, {**RECIPE, "card_fraction": 1.0})
    assert any(not np.array_equal(a, b) for (a, _, _), (b, _, _) in zip(plain, carded))
    for _, boxes, labels in carded:
        assert labels == ["close"] and len(boxes) == 1
        x1, y1, x2, y2 = boxes[0]
        assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 96


def test_close_sits_on_the_cards_top_corner():
    card = (100.0, 400.0, 620.0, 900.0)
    vis = (3, 3, 43, 43)                                   # a 40 px button in its sprite
    places = {"straddles_right": 0, "straddles_left": 0, "inside": 0}
    for i in range(300):
        x, y = _card_close_position(np.random.default_rng(i), card, vis)
        bx1, by1 = x + vis[0], y + vis[1]
        bx2, by2 = bx1 + 40, by1 + 40
        if by1 < card[1] < by2:                              # half outside, across the top edge
            assert bx1 < card[2] < bx2 or bx1 < card[0] < bx2
            places["straddles_right" if bx1 < card[2] < bx2 else "straddles_left"] += 1
        else:                                                # inside, near the top-right corner
            assert card[0] <= bx1 and bx2 <= card[2] and card[1] <= by1 <= card[1] + 40
            assert bx2 > card[2] - 80
            places["inside"] += 1
    assert places["straddles_right"] > places["inside"] > 0 and places["straddles_left"] > 0


def test_extra_close_adds_separate_boxes_only_when_asked(assets):
    for (a, ba, _), (b, bb, _) in zip(_screens(assets, RECIPE), _screens(assets, {**RECIPE, "extra_close": None})):
        assert np.array_equal(a, b) and ba == bb
    extra = _screens(assets, {**RECIPE, "extra_close": [2, 2]}, n=8)
    counts = [len(boxes) for _, boxes, _ in extra]
    assert max(counts) >= 2 and all(1 <= n <= 3 for n in counts)
    for _, boxes, labels in extra:
        assert set(labels) == {"close"}
        for i, a in enumerate(boxes):           # never on top of each other
            for b in boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_no_distractor_top_fraction_draws_the_same_screens_as_before(assets):
    for (a, ba, _), (b, bb, _) in zip(_screens(assets, RECIPE),
                                      _screens(assets, {**RECIPE, "distractor_top_fraction": 0.0})):
        assert np.array_equal(a, b) and ba == bb


def _top_ink_row(with_sprites, without_sprites):
    """The first output row where the distractors changed the screen."""
    changed = np.abs(with_sprites.astype(int) - without_sprites.astype(int)).max(axis=(1, 2)) > 5
    return int(np.argmax(changed)) if changed.any() else None


def test_distractors_on_top_go_where_close_buttons_go(assets):
    """Every screen whose distractors all go on top has ink in its top band (0.05 of the width: 3 px
    of 96 here); the same screens with distractors anywhere mostly do not."""
    recipe = {**RECIPE, "no_close_fraction": 1.0, "distractors": [2, 2]}
    bare = _screens(assets, {**recipe, "distractors": [0, 0]}, n=12)
    on_top = _screens(assets, {**recipe, "distractor_top_fraction": 1.0}, n=12)
    anywhere = _screens(assets, recipe, n=12)
    for (a, boxes, _), (b, _, _) in zip(on_top, bare):
        assert boxes == [] and _top_ink_row(a, b) <= 4
    rows = [_top_ink_row(a, b) for (a, _, _), (b, _, _) in zip(anywhere, bare)]
    assert sum(r is None or r > 4 for r in rows) >= 6


def test_top_band_positions_are_mostly_the_corners():
    rng = np.random.default_rng(0)
    rw, rh, dw, dh = 720, 1280, 60.0, 40.0
    corners = {"left": 0, "right": 0, "along": 0}
    for _ in range(300):
        x, y = _top_band_position(rng, rw, rh, dw, dh)
        assert 0 <= y <= 0.05 * rw and 0 <= x <= rw - dw + 1
        if x <= 0.05 * rw:
            corners["left"] += 1
        elif x >= rw - 0.05 * rw - dw:
            corners["right"] += 1
        else:
            corners["along"] += 1
    assert corners["left"] > corners["along"] and corners["right"] > corners["along"] > 0
