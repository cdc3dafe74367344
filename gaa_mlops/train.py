"""Train the detector or the verifier as one tracked MLflow run and register the result.

Run:
    python -m gaa_mlops.train model=ssd trainer.epochs=3
    python -m gaa_mlops.train model=resnet34 experiment=quick
    mlflow run . -e train -P overrides="model=ssd trainer.epochs=3" --env-manager local
    python -m gaa_mlops.train model=ssd trainer.resume=<run id>     # continue an interrupted run

The run logs the resolved config (params + config.yaml), the dataset input, the code (git commit,
dirty flag, source archive), per-epoch metrics, plots, ``checkpoints/last.pth`` and
``weights/best_weight.pth``, then registers the weights as a new version of
``model.registered_name`` with alias ``candidate``.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
import mlflow
import torch
from mlflow import MlflowClient
from omegaconf import DictConfig, OmegaConf

from gaa_mlops import registry
from gaa_mlops.cli import CONF_DIR, prepare_argv
from gaa_mlops.data.build import build_for_config
from gaa_mlops.data.loaders import ClassificationDataset, DetectionDataset
from gaa_mlops.data.mlflow_dataset import log_dataset
from gaa_mlops.run_logging import log_code, log_config
from gaa_mlops.tracking import setup_tracking
from gaa_mlops.training.fit import TrainerSettings, fit, weight_payload
from gaa_mlops.training.optim import OPTIMIZERS, SCHEDULERS
from game_eye.models import CLASSIFIER_ARCHS, DETECTOR_ARCHS, build_classifier, build_detector

log = logging.getLogger(__name__)
TASKS = {"detection": DETECTOR_ARCHS, "classification": CLASSIFIER_ARCHS}


def check_config(cfg: DictConfig) -> None:
    """Fail before any work on names that do not exist."""
    m, t = cfg.model, cfg.trainer
    if m.task not in TASKS:
        raise ValueError(f"unknown model.task {m.task!r}; valid: {list(TASKS)}")
    if m.arch not in TASKS[m.task]:
        raise ValueError(f"unknown model.arch {m.arch!r} for task {m.task}; valid: {list(TASKS[m.task])}")
    if t.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown trainer.optimizer {t.optimizer!r}; valid: {list(OPTIMIZERS)}")
    if t.scheduler not in SCHEDULERS:
        raise ValueError(f"unknown trainer.scheduler {t.scheduler!r}; valid: {list(SCHEDULERS)}")


def check_dataset_classes(model_classes: list[str], task: str, dataset_classes: list[str], where: str) -> None:
    expected = [c for c in model_classes if c != "background"] if task == "detection" else list(model_classes)
    if list(dataset_classes) != expected:
        raise ValueError(f"dataset {where} has classes {list(dataset_classes)} but model.classes expects {expected}")


def build_model(task: str, arch: str, classes: list[str], image_size: Any, model_kwargs: dict) -> torch.nn.Module:
    if task == "detection":
        return build_detector(arch, len(classes), image_size, **model_kwargs)
    return build_classifier(arch, len(classes), **model_kwargs)


def _resume_checkpoint(client: MlflowClient, run_id: str, dst: Path) -> Path:
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoints/last.pth",
                                                   dst_path=str(dst))
    except Exception as exc:
        raise FileNotFoundError(f"trainer.resume={run_id}: that run has no checkpoints/last.pth ({exc})") from exc
    return Path(path)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Build or reuse the dataset, train, register; return the run id, version and metrics."""
    check_config(cfg)
    root = Path(cfg.paths.root).resolve()
    setup_tracking(cfg.tracking.uri, cfg.tracking.experiment_name, str(root))
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    m = cfg.model
    classes = list(m.classes)
    image_size = OmegaConf.to_container(m.image_size) if OmegaConf.is_config(m.image_size) else m.image_size
    model_kwargs = OmegaConf.to_container(m.model_kwargs, resolve=True)
    settings = TrainerSettings(**OmegaConf.to_container(cfg.trainer, resolve=True))
    built = build_for_config(cfg)
    check_dataset_classes(classes, m.task, built.manifest["classes"], str(built.path))
    if m.task == "detection":
        train_set, val_set = DetectionDataset(built.path, "train"), DetectionDataset(built.path, "val")
    else:
        train_set = ClassificationDataset(built.path, "train", classes)
        val_set = ClassificationDataset(built.path, "val", classes)

    client = MlflowClient()
    resume_id = settings.resume
    nested = mlflow.active_run() is not None and resume_id is None
    with tempfile.TemporaryDirectory(prefix="gaa-train-") as tmp, mlflow.start_run(
        run_id=resume_id, run_name=f"train-{m.name}", nested=nested,
        log_system_metrics=bool(cfg.tracking.log_system_metrics),
    ) as run:
        workdir = Path(tmp)
        resume_from = _resume_checkpoint(client, resume_id, workdir / "resume") if resume_id else None
        if resume_from is None:
            mlflow.set_tags({"gaa.step": "train", "gaa.model": m.name})
            log_config(cfg, exclude=("trainer.resume",))
            log_code(root)
            log_dataset(built, log_archive=not built.cache_hit)  # whoever built it logged the archive
        torch.manual_seed(int(cfg.seed))
        model = build_model(m.task, m.arch, classes, image_size, model_kwargs)
        result = fit(m.task, model, train_set, val_set, settings, classes, int(cfg.seed), workdir, resume_from)
        payload = weight_payload(result, m.arch, classes, image_size, model_kwargs, built.digest,
                                 run.info.run_id, m.registered_name)
        tags = {"run_id": run.info.run_id, "dataset_digest": built.digest,
                "git_commit": mlflow.get_run(run.info.run_id).data.tags.get("git_commit", "unknown"),
                "val_metric_name": result.metric_name, "val_metric": f"{result.best_metric:.6f}"}
        mv = registry.publish_weights(client, m.registered_name, run.info.run_id, payload, tags, workdir)
        mlflow.set_tags({"registered_model": m.registered_name, "registered_version": mv.version})
        summary = {"run_id": run.info.run_id, "model_name": m.registered_name, "version": int(mv.version),
                   "dataset_digest": built.digest, "best_epoch": result.best_epoch,
                   result.metric_name: result.best_metric, "score_threshold": result.score_threshold,
                   **result.final_val}
    log.info("registered %s version %s (alias candidate): %s", m.registered_name, mv.version, summary)
    return summary


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _main(cfg: DictConfig) -> dict[str, Any]:
    return train(cfg)


def main() -> None:
    prepare_argv(sys.argv)
    _main()


if __name__ == "__main__":
    main()
