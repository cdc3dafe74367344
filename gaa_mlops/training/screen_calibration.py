"""The verifier's close threshold, chosen where the bot lives: on whole screens, with its detector.

``calibrate.verifier_threshold`` caps the share of ``not_close`` validation CROPS the verifier
accepts. The bot lives on screens: GameEye verifies up to ``top_k`` proposals of a screen and taps
the best one kept, so the rates that matter are taps per screen, and they depend on the detector the
verifier serves with. This step composes screens from the verifier's own projects with its mining
recipe (``model.dataset.hard_negatives.screens``, with a seed of its own so no screen repeats a
training screen), runs GameEye (as deployed: same code, backend and precision) with the mining
detector and the verifier just trained, and keeps the threshold with the highest click success
among those whose false-tap and wrong-tap rates stay within the limits (ties: the higher one).
When none does, the crop-calibrated threshold stays.

Settings (``trainer.calibration``)::

    screens: 6400                 # composed screens; 0 turns this step off
    screen_seed: 7000001          # the screens' seed (another seed: another draw, to see how steady the threshold is)
    screen_no_close_fraction: 0.75  # share of screens without a close button (false taps are measured there)
    compose_workers: 2            # processes composing screens while GameEye scores them (0: in line)
    max_false_tap_rate: 0.0075
    max_wrong_tap_rate: 0.02

Only the ``close`` class is calibrated this way; other classes keep their crop thresholds.
"""
from __future__ import annotations

import multiprocessing as mp
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from gaa_mlops.data.assets import Assets
from gaa_mlops.data.compose import compose_screen
from gaa_mlops.evaluation.metrics import CLOSE, Proposal, verifier_operating_curve
from game_eye.engine import GameEye

SETTINGS = ("screen_no_close_fraction", "max_false_tap_rate", "max_wrong_tap_rate")
COMPOSE_AHEAD_PER_WORKER = 4  # screens composed ahead of the verifier, per worker
SCREEN_SEED = 7_000_001       # default screen_seed; not a dataset seed: no calibration screen is a training screen
# 0.5, 0.8, then 1 - 10^-x for x = 1.0, 1.1, ... 5.0: even steps on the plot's -log10(1 - t) axis
THRESHOLD_GRID = tuple([0.5, 0.8] + [float(1 - 10 ** -x) for x in np.round(np.arange(1.0, 5.01, 0.1), 1)])


@dataclass
class ScreenCalibration:
    threshold: float              # the threshold to ship (the crop one when no grid point met the limits)
    met_limits: bool
    curve: dict                   # verifier_operating_curve on the composed screens
    at_threshold: dict[str, float]
    screens: int
    seed: int                     # the screens' seed (trainer.calibration.screen_seed)


def compose_calibration_screens(assets: Assets, screen_recipe: dict[str, Any], n: int, seed: int = SCREEN_SEED,
                                no_close_fraction: float = 0.5, workers: int = 0):
    """``n`` full-resolution composed screens with their close boxes: (PIL image, [[x1, y1, x2, y2]]).

    Screen ``i`` depends only on (``seed``, ``i``), so ``workers`` composing processes (0: this one)
    yield the same screens in the same order."""
    recipe = {**screen_recipe, "no_close_fraction": no_close_fraction}
    if workers <= 0:
        for i in range(n):
            yield _compose_indexed(assets, recipe, seed, i)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_init_composer, initargs=(assets, recipe)) as pool:
        # A bounded window, not pool.imap: imap composes ahead without limit, and when the verifier is
        # the slower side (more crop margins) the full-resolution screens pile up here until the
        # process runs out of memory (24 GiB at 4 margins on 6400 screens).
        pending: deque = deque()
        for i in range(n):
            pending.append(pool.apply_async(_compose_in_worker, ((seed, i),)))
            if len(pending) >= workers * COMPOSE_AHEAD_PER_WORKER:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _compose_indexed(assets: Assets, recipe: dict[str, Any], seed: int, i: int):
    rng = np.random.default_rng([seed, i])
    sizes = recipe.get("screen_sizes") or [[1280, 720]]
    H, W = (int(v) for v in sizes[int(rng.integers(len(sizes)))])
    screen, boxes, labels = compose_screen(rng, assets, {**recipe, "screen_sizes": [[H, W]]}, (H, W))
    return screen, [list(b) for b, lab in zip(boxes, labels) if lab == CLOSE]


_COMPOSER: dict[str, Any] = {}     # a composing worker's assets and recipe


def _init_composer(assets: Assets, recipe: dict[str, Any]) -> None:
    _COMPOSER.update(assets=assets, recipe=recipe)


def _compose_in_worker(seed_and_index: tuple[int, int]):
    return _compose_indexed(_COMPOSER["assets"], _COMPOSER["recipe"], *seed_and_index)


def choose_threshold(curve: dict, fallback: float, max_false_tap_rate: float,
                     max_wrong_tap_rate: float) -> tuple[float, bool]:
    """(threshold, met_limits): the grid point with the highest click success whose false-tap and
    wrong-tap rates are within the limits, the higher threshold on ties; ``fallback`` when none is.
    A rate no screen measured (NaN: no screen with, or without, a button) counts as 0."""
    click, false_tap, wrong_tap = (np.nan_to_num(np.asarray(curve[k], dtype=float), nan=0.0)
                                   for k in ("click_success", "false_tap_rate", "wrong_tap_rate"))
    ok = (false_tap <= max_false_tap_rate) & (wrong_tap <= max_wrong_tap_rate)
    if not ok.any():
        return float(fallback), False
    best = np.max(click[ok])
    candidates = np.asarray(curve["thresholds"])[ok & (click >= best)]
    return float(candidates.max()), True


def screen_seed(settings: dict[str, Any]) -> int:
    """``trainer.calibration.screen_seed``, :data:`SCREEN_SEED` when unset."""
    seed = settings.get("screen_seed")
    return SCREEN_SEED if seed is None else int(seed)


def calibrate_on_screens(detector_weights: str | Path, verifier_weights: str | Path, assets: Assets,
                         screen_recipe: dict[str, Any], settings: dict[str, Any], crop_threshold: float,
                         thresholds: Sequence[float] = THRESHOLD_GRID, progress: bool = True) -> ScreenCalibration:
    """Run GameEye (detector + verifier files) over composed screens and choose the close threshold."""
    n, seed = int(settings.get("screens", 6400)), screen_seed(settings)
    eye = GameEye(detector_weights, verifier_weights, label=CLOSE)
    truths, proposals = [], []
    screens = compose_calibration_screens(assets, screen_recipe, n, seed=seed,
                                          no_close_fraction=float(settings.get("screen_no_close_fraction", 0.75)),
                                          workers=int(settings.get("compose_workers", 2)))
    for screen, truth in tqdm(screens, total=n, desc="calibrate on screens", disable=not progress,
                              dynamic_ncols=True):
        boxes, scores = eye.propose(screen)
        probs = eye.verify(screen, boxes.tolist())
        truths.append(truth)
        proposals.append([Proposal(b, float(s), float(p)) for b, s, p in zip(boxes.tolist(), scores.tolist(), probs)])
    curve = verifier_operating_curve(truths, proposals, thresholds)
    threshold, met = choose_threshold(curve, crop_threshold, float(settings.get("max_false_tap_rate", 0.0075)),
                                      float(settings.get("max_wrong_tap_rate", 0.02)))
    at = verifier_operating_curve(truths, proposals, [threshold])
    return ScreenCalibration(threshold=threshold, met_limits=met, curve=curve, screens=n, seed=seed,
                             at_threshold={k: float(v[0]) for k, v in at.items() if k != "thresholds"})


def inputs_from_config(cfg) -> tuple[Assets, dict[str, Any], dict[str, Any]]:
    """(assets of the verifier's project set, its mining screen recipe, ``trainer.calibration``)."""
    from omegaconf import OmegaConf

    from gaa_mlops.projects import load_projects

    assets = Assets(load_projects(list(cfg.projects.include), cfg.paths.projects_dir,
                                  str(cfg.projects.get("name", "")) or None))
    screens = OmegaConf.to_container(cfg.model.dataset.hard_negatives.screens, resolve=True)
    return assets, screens, OmegaConf.to_container(cfg.trainer.calibration, resolve=True)


def calibrate_verifier_payload(payload: dict[str, Any], detector_weights: str | Path, assets: Assets,
                               screen_recipe: dict[str, Any], settings: dict[str, Any], workdir: Path,
                               progress: bool = True) -> ScreenCalibration:
    """Set the close threshold of a verifier weight ``payload`` from :func:`calibrate_on_screens`
    (the crop-calibrated one stays in the payload as ``crop_threshold``, with the screen provenance
    under ``threshold_calibration``) and log the metrics and operating curve to the active run."""
    import mlflow

    from gaa_mlops.evaluation.report import operating_curve_figure
    from gaa_mlops.training.plots import log_figure
    from game_eye.weights import file_sha256, save_weights

    crop_threshold = float(payload.get("crop_threshold",       # a recalibration keeps the first one
                                       payload["class_thresholds"].get(CLOSE, payload["score_threshold"])))
    trial = save_weights(Path(workdir) / "screen_calibration" / "crop_calibrated.pth", payload)
    cal = calibrate_on_screens(detector_weights, trial, assets, screen_recipe, settings, crop_threshold,
                               progress=progress)
    payload["crop_threshold"] = crop_threshold
    payload["class_thresholds"] = {**payload["class_thresholds"], CLOSE: cal.threshold}
    payload["score_threshold"] = cal.threshold
    payload["threshold_calibration"] = {
        "method": "screens" if cal.met_limits else "crops (no screen threshold met the limits)",
        "screens": cal.screens, "seed": cal.seed, "detector_sha256": file_sha256(detector_weights),
        **{k: float(settings[k]) for k in SETTINGS if k in settings}, **cal.at_threshold}
    mlflow.log_metrics({"crop_threshold": crop_threshold, "score_threshold": cal.threshold,
                        "screen_calibration_met_limits": float(cal.met_limits),
                        **{f"screen_calibration_{k}": v for k, v in cal.at_threshold.items()}})
    mlflow.log_table({k: v.tolist() for k, v in cal.curve.items()}, "plots/screen_operating_curve.json")
    log_figure(operating_curve_figure(cal.curve, cal.threshold, cal.at_threshold, deployed_label="chosen"),
               "plots/screen_operating_curve.png")
    return cal
