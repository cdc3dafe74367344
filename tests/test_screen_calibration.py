"""The verifier's close threshold chosen on composed screens: the choice rule on curves whose answer
is known, and the real thing (GameEye on composed screens of tiny projects) end to end."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gaa_mlops.data.assets import Assets
from gaa_mlops.evaluation.metrics import verifier_operating_curve
from gaa_mlops.projects import load_projects
from gaa_mlops.training.screen_calibration import (
    THRESHOLD_GRID,
    calibrate_on_screens,
    choose_threshold,
    compose_calibration_screens,
)
from game_eye.models import build_classifier, build_detector
from game_eye.weights import save_weights

SCREENS = {"screen_sizes": [[256, 144]], "distractors": [1, 3], "button_width_fraction": [0.08, 0.15],
           "corner_fraction": 0.7}


def _curve(click, ftr, wrong, thresholds=(0.5, 0.9, 0.99, 0.999)):
    return {"thresholds": np.array(thresholds), "click_success": np.array(click),
            "false_tap_rate": np.array(ftr), "wrong_tap_rate": np.array(wrong)}


def test_choose_threshold_best_click_within_limits_higher_on_ties_else_fallback():
    # 0.5 taps too often where there is no button; 0.9 is the best click success within the limits
    curve = _curve([0.95, 0.90, 0.80, 0.60], [0.10, 0.01, 0.0, 0.0], [0.0, 0.02, 0.0, 0.0])
    assert choose_threshold(curve, 0.9976, 0.01, 0.02) == (0.9, True)
    # a stricter wrong-tap limit rules 0.9 out too
    assert choose_threshold(curve, 0.9976, 0.01, 0.01) == (0.99, True)
    # equal click success: the higher (safer) threshold
    tie = _curve([0.9, 0.9, 0.9, 0.5], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0])
    assert choose_threshold(tie, 0.9976, 0.01, 0.02) == (0.99, True)
    # nothing within the limits: the crop-calibrated threshold stays
    bad = _curve([0.9, 0.8, 0.7, 0.6], [0.2, 0.2, 0.1, 0.05], [0.0, 0.0, 0.0, 0.0])
    assert choose_threshold(bad, 0.9976, 0.01, 0.02) == (0.9976, False)


def test_grid_is_increasing_and_reaches_five_nines():
    assert list(THRESHOLD_GRID) == sorted(set(THRESHOLD_GRID))
    assert THRESHOLD_GRID[0] == 0.5 and abs(THRESHOLD_GRID[-1] - 0.99999) < 1e-12


def test_calibration_screens_are_deterministic_in_line_or_in_workers_and_mix_close_and_no_close(tiny_projects):
    pdir, names = tiny_projects
    assets = Assets(load_projects(names, pdir))
    a = list(compose_calibration_screens(assets, SCREENS, 12, no_close_fraction=0.5))
    b = list(compose_calibration_screens(assets, SCREENS, 12, no_close_fraction=0.5, workers=2))   # 2 processes
    assert all(np.array_equal(np.asarray(x[0]), np.asarray(y[0])) and x[1] == y[1] for x, y in zip(a, b))
    other = list(compose_calibration_screens(assets, SCREENS, 12, seed=11, no_close_fraction=0.5))
    assert not all(np.array_equal(np.asarray(x[0]), np.asarray(y[0])) for x, y in zip(a, other))
    assert all(x[0].size == (144, 256) for x in a)
    with_close = sum(bool(t) for _, t in a)
    assert 0 < with_close < 12 and all(len(t) <= 1 for _, t in a)


def test_calibrate_on_screens_runs_game_eye_and_reports_the_chosen_point(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    assets = Assets(load_projects(names, pdir))
    torch.manual_seed(0)
    tiny = {"channels": [8, 8, 8, 16, 16]}
    det = save_weights(tmp_path / "ssd.pth", dict(
        arch="ssd_tiny", num_classes=2, classes=["background", "close"], image_size=[128, 72], model_kwargs=tiny,
        state_dict=build_detector("ssd_tiny", 2, [128, 72], **tiny).state_dict(), score_threshold=0.0))
    ver = save_weights(tmp_path / "ver.pth", dict(
        arch="resnet18", num_classes=2, classes=["close", "not_close"], image_size=32,
        state_dict=build_classifier("resnet18", 2).state_dict(), score_threshold=0.5))
    # untrained models: whatever the curve, the choice must follow the rule on it
    cal = calibrate_on_screens(det, ver, assets, SCREENS, {"screens": 10, "max_false_tap_rate": 1.0,
                                                           "max_wrong_tap_rate": 1.0}, 0.5, progress=False)
    assert cal.screens == 10 and cal.met_limits
    assert set(cal.curve) == {"thresholds", "click_success", "false_tap_rate", "wrong_tap_rate", "miss_rate"}
    best = cal.curve["click_success"].max()
    assert cal.threshold == max(t for t, c in zip(cal.curve["thresholds"], cal.curve["click_success"]) if c == best)
    i = list(cal.curve["thresholds"]).index(cal.threshold)
    assert cal.at_threshold["click_success"] == pytest.approx(cal.curve["click_success"][i])
    # limits nothing can meet: the crop threshold stays
    strict = calibrate_on_screens(det, ver, assets, SCREENS, {"screens": 10, "max_false_tap_rate": -1.0},
                                  0.77, progress=False)
    assert (strict.threshold, strict.met_limits) == (0.77, False)


def test_curve_of_the_rule_matches_the_operating_curve_helper():
    """The calibration scores screens with the same helper the evaluation uses (one tap rule)."""
    from gaa_mlops.evaluation.metrics import Proposal

    truths = [[[0, 0, 10, 10]], []]
    props = [[Proposal([0, 0, 10, 10], 0.9, 0.95)], [Proposal([50, 50, 60, 60], 0.9, 0.999)]]
    curve = verifier_operating_curve(truths, props, [0.9, 0.99, 0.9999])
    assert choose_threshold(curve, 0.5, 0.0, 0.0) == (0.9999, True)    # no tap at all beats a false one
    assert choose_threshold(curve, 0.5, 1.0, 0.0) == (0.9, True)


def test_choose_threshold_when_no_screen_had_a_button():
    """A draw without a screen with a button has no click success (NaN): the false-tap cap decides."""
    from gaa_mlops.evaluation.metrics import Proposal

    props = [[Proposal([50, 50, 60, 60], 0.9, 0.95)], [Proposal([50, 50, 60, 60], 0.9, 0.999)], []]
    curve = verifier_operating_curve([[], [], []], props, [0.9, 0.99, 0.9999])
    assert np.isnan(curve["click_success"]).all()
    assert choose_threshold(curve, 0.5, 0.4, 0.0) == (0.9999, True)
    assert choose_threshold(curve, 0.5, -1.0, 0.0) == (0.5, False)
