"""Evaluate a detector + verifier pair end to end on the held-out screenshots and log it to MLflow.

Run:
    python -m gaa_mlops.evaluate                                   # both @candidate
    python -m gaa_mlops.evaluate evaluation.ssd_weights=models:/gaa-ssd/3 \
        evaluation.resnet_weights=runs:/<run id>
    python -m gaa_mlops.evaluate evaluation.ssd_weights=/path/best_weight.pth evaluation.regions=top_corners
    mlflow run . -e evaluate -P overrides="evaluation.limit=50" --env-manager local

    python -m gaa_mlops.evaluate experiment=watch_ad     # three-class models on [eval_screens, eval_watch_ad]

Logs click_success, false_tap_rate, miss_rate, wrong_tap_rate, ssd_map50, proposal_recall (the
click-success ceiling set by the detector), verifier_accuracy, latency p50/p95 and model load time;
a results table, the worst failures, the PR curve and the operating curve (click success / false-tap
rate the same pair would get at other verifier thresholds).
Every other class the models report (e.g. watch_ad) gets the same bot metrics under its prefix
(``watch_ad.click_success``: tapped right on screens with a watch_ad button; ``watch_ad.false_tap_rate``:
tapped one on screens without), its own table column, gallery and PR curve.
The result goes on each evaluated model version as ``eval.*`` tags (``eval.watch_ad.click_success``,
..., and ``eval.classes``); same evaluation-set digest -> comparable across versions in the registry.
``evaluation.project`` is one detection project or a list of them (evaluated together).
``evaluation.extra_projects`` are more held-out sets, each evaluated on its own, reported next to it
under its name (``eval_designs.click_success``, ``eval_counts.false_tap_rate``, tags
``eval.eval_designs.click_success``, artifacts under ``evaluation/eval_designs/``); the promotion gate
reads the primary set and the extra sets that ``promote.gate_sets`` names (``field_*``).
A set that records its screens' designs (``designs.json``, as ``eval_designs`` does) also gets click
success per design attribute: metrics ``eval_designs.click_success.plate.rsquare`` ..., the table
``by_design.json`` and the chart ``by_design.png`` (``gaa_mlops.evaluation.breakdown``); where it
records what its screens without a button show (``eval_counts``), the false-tap rate per attribute:
``eval_counts.false_tap_rate.weight.thin`` ..., ``false_taps_by_design.json`` and ``.png``.
"""
from __future__ import annotations

import json
import logging
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
import mlflow
from mlflow import MlflowClient
from mlflow.data.sources import LocalArtifactDatasetSource
from omegaconf import DictConfig

from gaa_mlops import registry
from gaa_mlops.cli import CONF_DIR, prepare_argv, user_errors_in_one_line
from gaa_mlops.data.digest import dataset_digest
from gaa_mlops.data.mlflow_dataset import DIGEST_CHARS, GaaDataset
from gaa_mlops.evaluation.breakdown import (
    breakdown_metrics,
    breakdown_table,
    design_breakdown,
    false_tap_breakdown,
    load_designs,
)
from gaa_mlops.evaluation.report import breakdown_figure, failure_gallery, operating_curve_figure, pr_curve_figure
from gaa_mlops.evaluation.runner import metric_name, run_evaluation
from gaa_mlops.projects import load_project
from gaa_mlops.tracking import setup_tracking
from gaa_mlops.training.plots import log_figure
from game_eye.engine import DEFAULT_TOP_K

log = logging.getLogger(__name__)
HEADLINE = ("click_success", "false_tap_rate", "miss_rate", "wrong_tap_rate")
STAGE_KEYS = ("proposal_recall", "verifier_pass_rate", "ssd_map50")


def evaluation_digest(project) -> str:
    """Content address of the evaluation set: one project or a list of them."""
    projects = list(project) if isinstance(project, (list, tuple)) else [project]
    return dataset_digest(projects, task="evaluation", image_size=1, classes=["close"], recipe={})


def _log_eval_input(projects, digest: str, counts: dict) -> None:
    name = "+".join(p.name for p in projects)
    source = str(projects[0].root if len(projects) == 1 else projects[0].root.parent)
    ds = GaaDataset(LocalArtifactDatasetSource(source), name=name, digest=digest[:DIGEST_CHARS],
                    profile={"counts": counts, "task": "evaluation", "digest": digest})
    mlflow.log_input(ds, context="evaluation")


def load_evaluation_projects(spec, projects_dir) -> list:
    """``evaluation.project``: a name or a list of names of detection projects."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(spec):
        spec = OmegaConf.to_container(spec, resolve=True)
    names = [spec] if isinstance(spec, str) else list(spec)
    projects = [load_project(Path(projects_dir) / n) for n in names]
    for p in projects:
        if p.task != "detection":
            raise ValueError(f"evaluation.project {p.name!r} is a {p.task} project; it needs boxed screenshots")
    return projects


def class_tags(metrics: dict, classes: list[str]) -> dict[str, str]:
    """``eval.*`` tags of every class: the close ones keep their names, the others are prefixed."""
    tags = {"eval.classes": ",".join(classes)}
    for c in classes:
        for k in HEADLINE:
            name = metric_name(c, k)
            if name in metrics:
                tags[f"eval.{name}"] = f"{metrics[name]:.6f}"
    return tags


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Resolve both weights, run GameEye over the evaluation project, log and tag; return metrics."""
    root = Path(cfg.paths.root).resolve()
    setup_tracking(cfg.tracking.uri, cfg.tracking.experiment_name, str(root))
    ev = cfg.evaluation
    projects = load_evaluation_projects(ev.project, cfg.paths.projects_dir)
    shots = [s for p in projects for s in (list(p.screenshots)[: ev.limit] if ev.limit else p.screenshots)]
    digest = evaluation_digest(projects)
    top_k = DEFAULT_TOP_K if ev.top_k is None else int(ev.top_k)
    client = MlflowClient()
    nested = mlflow.active_run() is not None
    with tempfile.TemporaryDirectory(prefix="gaa-eval-") as tmp, \
            mlflow.start_run(run_name="evaluate", nested=nested) as run:
        ssd_path, ssd_mv = registry.fetch_weights(client, ev.ssd_weights, Path(tmp) / "ssd")
        res_path, res_mv = registry.fetch_weights(client, ev.resnet_weights, Path(tmp) / "resnet")
        mlflow.set_tags({"gaa.step": "evaluate", "eval.dataset_digest": digest})
        mlflow.log_params({"ssd_weights": ev.ssd_weights, "resnet_weights": ev.resnet_weights,
                           "regions": ev.regions, "precision": ev.precision, "top_k": top_k,
                           "project": ",".join(p.name for p in projects),
                           "limit": ev.limit,
                           "ssd_version": ssd_mv.version if ssd_mv else "file",
                           "resnet_version": res_mv.version if res_mv else "file"})
        with_close = sum(1 for s in shots if s.boxes_of("close"))
        counts = {"screens": len(shots), "with_close": with_close, "without_close": len(shots) - with_close}
        for c in sorted({c for s in shots for c in s.classes} - {"close"}):
            counts[f"with_{c}"] = sum(1 for s in shots if s.boxes_of(c))
        _log_eval_input(projects, digest, counts)
        designs = {path: d for p in projects for path, d in load_designs(p.root).items()}
        result = run_evaluation(str(ssd_path), str(res_path), shots, regions=ev.regions,
                                precision=ev.precision, top_k=top_k)
        finite = _log_result(result, prefix="", folder="evaluation", gallery_size=int(ev.gallery_size),
                             designs=designs)
        extra_tags = {}
        for extra in load_evaluation_projects(ev.get("extra_projects") or [], cfg.paths.projects_dir):
            extra_shots = list(extra.screenshots)[: ev.limit] if ev.limit else list(extra.screenshots)
            extra_designs = load_designs(extra.root)
            extra_result = run_evaluation(str(ssd_path), str(res_path), extra_shots, regions=ev.regions,
                                          precision=ev.precision, top_k=top_k)
            finite |= _log_result(extra_result, prefix=f"{extra.name}.", folder=f"evaluation/{extra.name}",
                                  gallery_size=int(ev.gallery_size), designs=extra_designs)
            extra_tags |= {f"eval.{extra.name}.{k}": f"{finite[f'{extra.name}.{k}']:.6f}"
                           for k in (*HEADLINE, *STAGE_KEYS) if f"{extra.name}.{k}" in finite}
            extra_tags[f"eval.{extra.name}.dataset_digest"] = evaluation_digest([extra])
        tags = {"eval.run_id": run.info.run_id, "eval.dataset_digest": digest,
                **class_tags(result.metrics, result.classes),
                "eval.latency_p50_ms": f"{result.metrics['latency_p50_ms']:.1f}", "eval.precision": result.precision,
                "eval.top_k": str(top_k), **extra_tags}
        mlflow.set_tags({k: tags[k] for k in ("eval.precision", "eval.top_k")})
        for mv in (ssd_mv, res_mv):
            if mv is not None:
                registry.set_version_tags(client, mv, tags)
        summary = {"run_id": run.info.run_id, "dataset_digest": digest, **finite, "precision": result.precision,
                   "ssd_version": ssd_mv.version if ssd_mv else None,
                   "resnet_version": res_mv.version if res_mv else None}
    log.info("evaluation: %s", {k: v for k, v in summary.items()
                                if any(k.endswith(metric_name(c, h)) for c in result.classes for h in HEADLINE)})
    return summary


def _log_result(result, prefix: str, folder: str, gallery_size: int, designs: dict | None = None) -> dict[str, float]:
    """Log one evaluation set's metrics (names prefixed with ``prefix``), results table, gallery and
    curves (under ``folder``), and with ``designs`` (``load_designs``) its click success and false-tap
    rate by design;
    return its finite metrics, prefixed (the by-design ones stay on the run: the summary keeps the
    headline numbers)."""
    finite = {f"{prefix}{k}": v for k, v in result.metrics.items()
              if isinstance(v, (int, float)) and math.isfinite(v)}
    by_design = design_breakdown(result.rows, designs) if designs else {}
    if by_design:
        mlflow.log_metrics(breakdown_metrics(by_design, prefix))
        mlflow.log_table(breakdown_table(by_design), f"{folder}/by_design.json")
        log_figure(breakdown_figure(by_design, result.metrics.get("click_success", float("nan"))),
                   f"{folder}/by_design.png")
    false_taps_by_design = false_tap_breakdown(result.rows, designs) if designs else {}
    if false_taps_by_design:
        mlflow.log_metrics(breakdown_metrics(false_taps_by_design, prefix, key="false_tap_rate"))
        mlflow.log_table(breakdown_table(false_taps_by_design), f"{folder}/false_taps_by_design.json")
        log_figure(breakdown_figure(false_taps_by_design, result.metrics.get("false_tap_rate", float("nan")),
                                    key="false_tap_rate"), f"{folder}/false_taps_by_design.png")
    mlflow.log_metrics(finite)
    table = {k: [r[k] if not isinstance(r[k], list) else json.dumps(r[k]) for r in result.rows]
             for k in ("image", "truth", "first_close", "outcome", "hit", "score", "ms")}
    for c, rows in result.per_class_rows.items():
        if c != result.label:
            table[f"outcome.{c}"] = [r["outcome"] for r in rows]
            table[f"tap.{c}"] = [json.dumps(r["tap_box"]) for r in rows]
    mlflow.log_table(table, f"{folder}/results.json")
    log_figure(failure_gallery(result.rows, gallery_size), f"{folder}/worst_failures.png")
    log_figure(pr_curve_figure(result.curve, result.metrics), f"{folder}/pr_curve.png")
    if result.operating_curve:
        mlflow.log_table({k: v.tolist() for k, v in result.operating_curve.items()}, f"{folder}/operating_curve.json")
        log_figure(operating_curve_figure(result.operating_curve, result.verifier_threshold, result.metrics),
                   f"{folder}/operating_curve.png")
    for c, rows in result.per_class_rows.items():
        if c != result.label:
            operating = {"click_success": result.metrics.get(metric_name(c, "click_success"), 0),
                         "tap_precision": result.metrics.get(metric_name(c, "tap_precision"), 0)}
            log_figure(failure_gallery(rows, gallery_size), f"{folder}/{c}/worst_failures.png")
            log_figure(pr_curve_figure(result.per_class_curves[c], operating), f"{folder}/{c}/pr_curve.png")
    return finite


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
@user_errors_in_one_line
def _main(cfg: DictConfig) -> dict[str, Any]:
    return evaluate(cfg)


def main() -> None:
    prepare_argv(sys.argv)
    _main()


if __name__ == "__main__":
    main()
