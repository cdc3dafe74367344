"""Bot metrics on hand-made screens whose answer is known."""
import math

import numpy as np
import pytest

from gaa_mlops.evaluation.metrics import (
    Proposal,
    aggregate,
    evaluate_screens,
    first_close,
    latency_percentiles,
    point_in_box,
    proposal_recall,
    screen_outcome,
    tap_pr_curve,
    verifier_operating_curve,
)
from game_eye.detection_result import DetectionResult

TRUE = [[600, 40, 660, 100]]  # one close button, centre (630, 70)


def det(score, box, label="close"):
    return {"label": label, "score": score, "box": box}


def test_hit():
    o = screen_outcome(TRUE, [det(0.9, [610, 50, 650, 90])])
    assert o.outcome == "hit" and o.tap_score == 0.9 and o.tap_box == [610, 50, 650, 90]


def test_miss_when_nothing_detected():
    assert screen_outcome(TRUE, []).outcome == "miss"


def test_miss_when_only_other_labels():
    assert screen_outcome(TRUE, [det(0.99, [610, 50, 650, 90], label="not_close")]).outcome == "miss"


def test_false_tap_and_correct_reject():
    assert screen_outcome([], [det(0.2, [0, 0, 10, 10])]).outcome == "false_tap"
    assert screen_outcome([], []).outcome == "correct_reject"


def test_two_candidates_first_is_wrong():
    # the bot taps the first close only: a right box in second place does not help
    dets = [det(0.8, [10, 10, 50, 50]), det(0.7, [610, 50, 650, 90])]
    o = screen_outcome(TRUE, dets)
    assert o.outcome == "wrong_tap" and o.tap_box == [10, 10, 50, 50]


def test_first_close_skips_other_labels_and_keeps_order():
    dets = [det(0.95, [0, 0, 1, 1], label="not_close"), det(0.6, [610, 50, 650, 90]), det(0.9, [0, 0, 5, 5])]
    assert first_close(dets)["score"] == 0.6
    assert screen_outcome(TRUE, dets).outcome == "hit"


def test_centre_exactly_on_edge_is_inside():
    # box [640, 60, 680, 80] has centre (660, 70): on the right edge of the true box
    assert screen_outcome(TRUE, [det(0.5, [640, 60, 680, 80])]).outcome == "hit"
    assert point_in_box((660, 100), TRUE[0]) and not point_in_box((660.01, 70), TRUE[0])
    assert screen_outcome(TRUE, [det(0.5, [640.02, 60, 680, 80])]).outcome == "wrong_tap"


def test_any_of_several_true_boxes_and_detection_objects():
    truths = [[0, 0, 10, 10], [600, 40, 660, 100]]
    assert screen_outcome(truths, [DetectionResult("close", 0.4, [620, 60, 640, 80])]).outcome == "hit"


def test_aggregate_rates():
    truths = [TRUE, TRUE, TRUE, TRUE, [], [], [], []]
    dets = [[det(0.9, [610, 50, 650, 90])],            # hit
            [det(0.9, [610, 50, 650, 90])],            # hit
            [det(0.8, [0, 0, 20, 20])],                # wrong tap
            [],                                        # miss
            [det(0.3, [0, 0, 20, 20])],                # false tap
            [], [], []]                                # correct rejects
    outs, m = evaluate_screens(truths, dets)
    assert [o.outcome for o in outs] == ["hit", "hit", "wrong_tap", "miss", "false_tap"] + ["correct_reject"] * 3
    assert m["n_with_close"] == 4 and m["n_without_close"] == 4 and m["n_screens"] == 8
    assert m["click_success"] == 0.5 and m["wrong_tap_rate"] == 0.25 and m["miss_rate"] == 0.25
    assert m["false_tap_rate"] == 0.25
    assert m["click_success"] + m["wrong_tap_rate"] + m["miss_rate"] == 1


def test_aggregate_empty_denominators_are_nan():
    m = aggregate(["correct_reject"])
    assert math.isnan(m["click_success"]) and m["false_tap_rate"] == 0.0
    with pytest.raises(ValueError, match="unknown outcome"):
        aggregate(["tap"])


def test_tap_pr_curve():
    truths = [TRUE, TRUE, TRUE, []]
    dets = [[det(0.9, [610, 50, 650, 90])], [det(0.5, [0, 0, 9, 9])], [det(0.5, [610, 50, 650, 90])],
            [det(0.7, [0, 0, 9, 9])]]
    outs, _ = evaluate_screens(truths, dets)
    pr = tap_pr_curve(outs)
    np.testing.assert_allclose(pr["thresholds"], [0.9, 0.7, 0.5])
    np.testing.assert_allclose(pr["precision"], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(pr["recall"], [1 / 3, 1 / 3, 2 / 3])
    np.testing.assert_allclose(pr["false_tap_rate"], [0.0, 1.0, 1.0])
    assert tap_pr_curve([screen_outcome(TRUE, [])])["thresholds"].size == 0


def test_verifier_operating_curve_moves_the_threshold_both_ways():
    on, off = [610, 50, 650, 90], [0, 0, 9, 9]
    truths = [TRUE, TRUE, []]
    proposals = [
        # the true button (verifier unsure) and a glyph the detector likes more
        [Proposal(on, 0.6, 0.995), Proposal(off, 0.9, 0.97)],
        # only a glyph is proposed: a wrong tap once the verifier lets it through
        [Proposal(off, 0.8, 0.92)],
        # a screen without a close button: a false tap below p 0.9991
        [Proposal(off, 0.7, 0.999)],
    ]
    c = verifier_operating_curve(truths, proposals, thresholds=[0.9, 0.96, 0.98, 0.9991])
    # t=0.9: screen 0 taps the glyph (sqrt(.9*.97) > sqrt(.6*.995)), screen 1 the glyph, screen 2 taps
    # t=0.96: screen 1 loses its tap; t=0.98: screen 0's glyph drops out, the true button is tapped;
    # t=0.9991: nothing passes
    np.testing.assert_allclose(c["click_success"], [0.0, 0.0, 0.5, 0.0])
    np.testing.assert_allclose(c["wrong_tap_rate"], [1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(c["miss_rate"], [0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(c["false_tap_rate"], [1.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(c["thresholds"], [0.9, 0.96, 0.98, 0.9991])
    with pytest.raises(ValueError, match="2 truths for 3"):
        verifier_operating_curve(truths[:2], proposals)


def test_proposal_recall_counts_screens_whose_button_was_proposed():
    on, off = [610, 50, 650, 90], [0, 0, 9, 9]
    truths = [TRUE, TRUE, TRUE, []]
    proposals = [[Proposal(off, 0.9, 0.1), Proposal(on, 0.2, 0.0)],   # proposed, even if rejected later
                 [Proposal(off, 0.9, 1.0)], [], [Proposal(on, 0.9, 1.0)]]
    assert proposal_recall(truths, proposals) == pytest.approx(1 / 3)
    assert math.isnan(proposal_recall([[]], [[]]))


def test_latency_percentiles():
    p = latency_percentiles(list(range(1, 101)))
    assert p["p50"] == pytest.approx(50.5) and p["p95"] == pytest.approx(95.05)
    assert math.isnan(latency_percentiles([])["p50"])
    assert set(latency_percentiles([3.0], (50, 95, 99))) == {"p50", "p95", "p99"}
