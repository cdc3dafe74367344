"""Evaluation of GameEye on held-out screenshots: the bot metrics live in ``metrics``."""
from .metrics import (
    OUTCOMES,
    ScreenOutcome,
    aggregate,
    box_center,
    evaluate_screens,
    first_close,
    latency_percentiles,
    point_in_box,
    screen_outcome,
    tap_pr_curve,
)

__all__ = ["OUTCOMES", "ScreenOutcome", "aggregate", "box_center", "evaluate_screens", "first_close",
           "latency_percentiles", "point_in_box", "screen_outcome", "tap_pr_curve"]
