"""Evaluate a detector + verifier pair end to end on the held-out screenshots and log it to MLflow.

Run:
    python -m gaa_mlops.evaluate                                   # both @candidate
    python -m gaa_mlops.evaluate evaluation.ssd_weights=models:/gaa-ssd/3 \
        evaluation.resnet_weights=runs:/<run id>
    python -m gaa_mlops.evaluate evaluation.ssd_weights=/path/best_weight.pth evaluation.regions=top_corners
    mlflow run . -e evaluate -P overrides="evaluation.limit=50" --env-manager local

Logs click_success, false_tap_rate, miss_rate, wrong_tap_rate, ssd_map50, verifier_accuracy,
latency p50/p95 and model load time; a results table, the worst failures and the PR curve.
The result goes on each evaluated model version as ``eval.*`` tags (same evaluation-set digest ->
comparable across versions in the registry).
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
from gaa_mlops.cli import CONF_DIR, prepare_argv
from gaa_mlops.data.digest import dataset_digest
from gaa_mlops.data.mlflow_dataset import DIGEST_CHARS, GaaDataset
from gaa_mlops.evaluation.report import failure_gallery, pr_curve_figure
from gaa_mlops.evaluation.runner import run_evaluation
from gaa_mlops.projects import load_project
from gaa_mlops.tracking import setup_tracking
from gaa_mlops.training.plots import log_figure

log = logging.getLogger(__name__)
HEADLINE = ("click_success", "false_tap_rate", "miss_rate", "wrong_tap_rate")


def evaluation_digest(project) -> str:
    return dataset_digest([project], task="evaluation", image_size=1, classes=["close"], recipe={})


def _log_eval_input(project, digest: str, counts: dict) -> None:
    ds = GaaDataset(LocalArtifactDatasetSource(str(project.root)), name=project.name, digest=digest[:DIGEST_CHARS],
                    profile={"counts": counts, "task": "evaluation", "digest": digest})
    mlflow.log_input(ds, context="evaluation")


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Resolve both weights, run GameEye over the evaluation project, log and tag; return metrics."""
    root = Path(cfg.paths.root).resolve()
    setup_tracking(cfg.tracking.uri, cfg.tracking.experiment_name, str(root))
    ev = cfg.evaluation
    project = load_project(Path(cfg.paths.projects_dir) / ev.project)
    if project.task != "detection":
        raise ValueError(f"evaluation.project {ev.project!r} is a {project.task} project; it needs boxed screenshots")
    shots = list(project.screenshots)[: ev.limit] if ev.limit else list(project.screenshots)
    digest = evaluation_digest(project)
    client = MlflowClient()
    nested = mlflow.active_run() is not None
    with tempfile.TemporaryDirectory(prefix="gaa-eval-") as tmp, \
            mlflow.start_run(run_name="evaluate", nested=nested) as run:
        ssd_path, ssd_mv = registry.fetch_weights(client, ev.ssd_weights, Path(tmp) / "ssd")
        res_path, res_mv = registry.fetch_weights(client, ev.resnet_weights, Path(tmp) / "resnet")
        mlflow.set_tags({"gaa.step": "evaluate", "eval.dataset_digest": digest})
        mlflow.log_params({"ssd_weights": ev.ssd_weights, "resnet_weights": ev.resnet_weights,
                           "regions": ev.regions, "precision": ev.precision,
                           "project": ev.project, "limit": ev.limit,
                           "ssd_version": ssd_mv.version if ssd_mv else "file",
                           "resnet_version": res_mv.version if res_mv else "file"})
        with_close = sum(1 for s in shots if s.boxes)
        _log_eval_input(project, digest, {"screens": len(shots), "with_close": with_close,
                                          "without_close": len(shots) - with_close})
        result = run_evaluation(str(ssd_path), str(res_path), shots, regions=ev.regions,
                                precision=ev.precision)
        finite = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        mlflow.log_metrics(finite)
        table = {k: [r[k] if not isinstance(r[k], list) else json.dumps(r[k]) for r in result.rows]
                 for k in ("image", "truth", "first_close", "outcome", "hit", "score", "ms")}
        mlflow.log_table(table, "evaluation/results.json")
        log_figure(failure_gallery(result.rows, int(ev.gallery_size)), "evaluation/worst_failures.png")
        log_figure(pr_curve_figure(result.curve, result.metrics), "evaluation/pr_curve.png")
        tags = {"eval.run_id": run.info.run_id, "eval.dataset_digest": digest,
                **{f"eval.{k}": f"{result.metrics[k]:.6f}" for k in HEADLINE},
                "eval.latency_p50_ms": f"{result.metrics['latency_p50_ms']:.1f}", "eval.precision": result.precision}
        mlflow.set_tag("eval.precision", result.precision)
        for mv in (ssd_mv, res_mv):
            if mv is not None:
                registry.set_version_tags(client, mv, tags)
        summary = {"run_id": run.info.run_id, "dataset_digest": digest, **finite, "precision": result.precision,
                   "ssd_version": ssd_mv.version if ssd_mv else None,
                   "resnet_version": res_mv.version if res_mv else None}
    log.info("evaluation: %s", {k: summary[k] for k in HEADLINE if k in summary})
    return summary


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _main(cfg: DictConfig) -> dict[str, Any]:
    return evaluate(cfg)


def main() -> None:
    prepare_argv(sys.argv)
    _main()


if __name__ == "__main__":
    main()
