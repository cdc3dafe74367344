"""Evaluation of GameEye on held-out screenshots: the bot metrics live in ``metrics``."""
from .metrics import (
    OUTCOMES,
    VERIFIER_THRESHOLDS,
    Proposal,
    ScreenOutcome,
    aggregate,
    box_center,
    evaluate_screens,
    first_close,
    latency_percentiles,
    point_in_box,
    proposal_recall,
    screen_outcome,
    tap_pr_curve,
    verifier_operating_curve,
)

__all__ = ["OUTCOMES", "VERIFIER_THRESHOLDS", "Proposal", "ScreenOutcome", "aggregate", "box_center",
           "evaluate_screens", "first_close", "latency_percentiles", "point_in_box", "proposal_recall",
           "screen_outcome", "tap_pr_curve", "verifier_operating_curve"]
