"""Train the detector or the verifier as one tracked MLflow run and register the result.

Run:
    python -m gaa_mlops.train model=ssd trainer.epochs=3
    python -m gaa_mlops.train model=resnet34 experiment=quick
    mlflow run . -e train -P overrides="model=ssd trainer.epochs=3" --env-manager local
    python -m gaa_mlops.train model=ssd trainer.resume=<run id>     # continue an interrupted run
    torchrun --standalone --nproc_per_node=2 -m gaa_mlops.train model=resnet34   # 2 processes (DDP, gloo)
    python -m gaa_mlops.train tracking=server trainer.device=cuda     # GPU host, shared tracking server

The run logs the resolved config (params + config.yaml), the dataset input, the code (git commit,
dirty flag, source archive), per-epoch metrics, plots and ``checkpoints/last.pth``, then logs the
weights as an MLflow model (a pyfunc holding ``best_weight.pth``: ``gaa_mlops.logged_models``, its
validation metrics linked to it) and registers that as a new version of ``model.registered_name``
with alias ``candidate``.

Under torchrun only rank 0 talks to MLflow (see ``gaa_mlops.distributed``). If an http tracking
server stops answering mid-run, the newest checkpoint is kept locally and the error names the
server and the ``trainer.resume=<run id>`` that continues once it is back (``training.recovery``).
"""
from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
import mlflow
import torch
from mlflow import MlflowClient
from omegaconf import DictConfig, OmegaConf

from gaa_mlops import distributed, registry
from gaa_mlops.classes import resolve_in_place
from gaa_mlops.cli import CONF_DIR, prepare_argv, user_errors_in_one_line
from gaa_mlops.config_schema import ConfigError
from gaa_mlops.data.build import BuiltDataset, build_for_config
from gaa_mlops.data.digest import normalize_image_size
from gaa_mlops.data.loaders import ClassificationDataset, DetectionDataset
from gaa_mlops.data.mlflow_dataset import DIGEST_CHARS, log_dataset
from gaa_mlops.data.verifier import runtime_margin
from gaa_mlops.logged_models import example_image
from gaa_mlops.run_logging import log_code, log_config
from gaa_mlops.tracking import TrackingError, setup_tracking
from gaa_mlops.training import recovery
from gaa_mlops.training.fit import TrainerSettings, calibration_crops, fit, weight_payload
from gaa_mlops.training.optim import OPTIMIZERS, SCHEDULERS
from gaa_mlops.training.precision import autocast_dtype, precision_name
from gaa_mlops.training.screen_calibration import calibrate_verifier_payload, inputs_from_config
from gaa_mlops.training.tracker import NullTracker
from game_eye.crops import EXTRA_MARGINS_KEY, MARGIN_KEY, MIRROR_KEY
from game_eye.models import CLASSIFIER_ARCHS, DETECTOR_ARCHS, build_classifier, build_detector
from game_eye.quantize import CALIBRATION_KEY
from game_eye.weights import file_sha256, load_weights

log = logging.getLogger(__name__)
TASKS = {"detection": DETECTOR_ARCHS, "classification": CLASSIFIER_ARCHS}


def check_names(cfg: DictConfig) -> None:
    """Fail before any work on names that do not exist (the schema checks the rest:
    ``gaa_mlops.config_schema``)."""
    m, t = cfg.model, cfg.trainer
    if m.task not in TASKS:
        raise ConfigError(f"unknown model.task {m.task!r}; valid: {list(TASKS)}")
    if m.arch not in TASKS[m.task]:
        raise ConfigError(f"unknown model.arch {m.arch!r} for task {m.task}; valid: {list(TASKS[m.task])}")
    if t.optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown trainer.optimizer {t.optimizer!r}; valid: {list(OPTIMIZERS)}")
    if t.scheduler not in SCHEDULERS:
        raise ConfigError(f"unknown trainer.scheduler {t.scheduler!r}; valid: {list(SCHEDULERS)}")


def warm_start(model: torch.nn.Module, spec: str, arch: str, classes: list[str], image_size: Any,
               workdir: Path, task: str = "detection") -> dict[str, str]:
    """Load the weights of ``spec`` (file, models:/name@alias, models:/name/N, runs:/id) into
    ``model`` before training (``trainer.init_from``: fine-tune a version on new data instead of
    starting from scratch). They must be of the same arch and classes, and a detector of the same
    image size (its anchors depend on it; a classifier's layers do not, so a verifier may be
    fine-tuned to larger crops); returns the tags that record where training started."""
    path, _ = registry.fetch_weights(MlflowClient(), spec, workdir)
    doc = load_weights(path)
    want = {"arch": arch, "classes": list(classes)}
    got = {"arch": doc["arch"], "classes": list(doc["classes"])}
    if task == "detection":
        want["image_size"] = normalize_image_size(image_size)
        got["image_size"] = normalize_image_size(doc["image_size"])
    bad = [f"{k} {got[k]!r} (this model: {want[k]!r})" for k in want if got[k] != want[k]]
    if bad:
        raise ValueError(f"trainer.init_from={spec}: {path} cannot start this model: " + "; ".join(bad))
    try:
        model.load_state_dict(doc["state_dict"])
    except RuntimeError as exc:  # model_kwargs differ: shapes do not match
        raise ValueError(f"trainer.init_from={spec}: {path} does not fit this model's layers "
                         f"({str(exc).splitlines()[0][:200]}); check model.model_kwargs") from exc
    return {"gaa.init_from": spec, "gaa.init_sha256": file_sha256(path)}


def _calibrate_on_screens(cfg: DictConfig, built: BuiltDataset, payload: dict[str, Any], workdir: Path) -> None:
    """The verifier's close threshold from whole composed screens with the detector its dataset was
    mined with (``gaa_mlops.training.screen_calibration``); skipped without mining or with ``screens: 0``."""
    if built.detector is None or not int(cfg.trainer.calibration.get("screens", 0)) \
            or "close" not in payload["classes"]:
        return
    cal = calibrate_verifier_payload(payload, built.detector, *inputs_from_config(cfg), workdir)
    log.info("screen calibration on %d screens: close threshold %.6g (crop-calibrated %.6g): %s",
             cal.screens, cal.threshold, payload["crop_threshold"], cal.at_threshold)


def check_dataset_classes(model_classes: list[str], task: str, dataset_classes: list[str], where: str) -> None:
    expected = [c for c in model_classes if c != "background"] if task == "detection" else list(model_classes)
    if list(dataset_classes) != expected:
        raise ValueError(f"dataset {where} has classes {list(dataset_classes)} but model.classes expects {expected}")


def build_model(task: str, arch: str, classes: list[str], image_size: Any, model_kwargs: dict) -> torch.nn.Module:
    if task == "detection":
        return build_detector(arch, len(classes), image_size, **model_kwargs)
    return build_classifier(arch, len(classes), **model_kwargs)


def _server_checkpoint(run_id: str, dst: Path) -> Path | None:
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoints/last.pth",
                                                        dst_path=str(dst)))
    except Exception as exc:
        log.info("run %s has no checkpoints/last.pth on the tracking store (%s)", run_id, exc)
        return None


def train(cfg: DictConfig) -> dict[str, Any]:
    """Build or reuse the dataset, train, register; return the run id, version and metrics.

    Under torchrun every rank calls this; ranks other than 0 train their shard and return
    ``{"rank": r, "world_size": n}`` without touching MLflow."""
    check_names(cfg)
    resolve_in_place(cfg)  # model.classes: auto -> the project set's classes, logged as such
    settings = TrainerSettings(**OmegaConf.to_container(cfg.trainer, resolve=True))
    ctx = distributed.context_from_env()
    device = distributed.resolve_device(settings.device, ctx)  # before any work: a missing GPU fails here
    precision = precision_name(autocast_dtype(settings.precision, device))  # ... and bf16 on a GPU without it
    root = Path(cfg.paths.root).resolve()
    uri = setup_tracking(cfg.tracking.uri, cfg.tracking.experiment_name, str(root)) if ctx.is_main else None
    distributed.init(device, ctx)
    try:
        torch.set_num_threads(distributed.threads_per_process(ctx))
        if ctx.is_main:
            return _train_main(cfg, settings, ctx, root, uri, precision)
        _train_worker(cfg, settings, ctx)
        return {"rank": ctx.rank, "world_size": ctx.world_size}
    finally:
        distributed.shutdown(ctx)


def _datasets(cfg: DictConfig, ctx: distributed.DistContext):
    """Rank 0 builds (or reuses) the dataset; the other ranks wait, then read the cached copy."""
    m = cfg.model
    classes = list(m.classes)
    built = build_for_config(cfg) if ctx.is_main else None
    distributed.barrier(ctx)
    if built is None:
        built = build_for_config(cfg)
    check_dataset_classes(classes, m.task, built.manifest["classes"], str(built.path))
    if m.task == "detection":
        window = cfg.trainer.get("detector_window")
        return built, DetectionDataset(built.path, "train", window=window), DetectionDataset(built.path, "val")
    return built, ClassificationDataset(built.path, "train", classes), ClassificationDataset(built.path, "val", classes)


def _model_spec(m: DictConfig) -> tuple[list[str], Any, dict]:
    image_size = OmegaConf.to_container(m.image_size) if OmegaConf.is_config(m.image_size) else m.image_size
    return list(m.classes), image_size, OmegaConf.to_container(m.model_kwargs, resolve=True)


def _train_worker(cfg: DictConfig, settings: TrainerSettings, ctx: distributed.DistContext) -> None:
    m = cfg.model
    classes, image_size, model_kwargs = _model_spec(m)
    _, train_set, val_set = _datasets(cfg, ctx)
    with tempfile.TemporaryDirectory(prefix=f"gaa-train-rank{ctx.rank}-") as tmp:
        torch.manual_seed(int(cfg.seed))
        model = build_model(m.task, m.arch, classes, image_size, model_kwargs)
        fit(m.task, model, train_set, val_set, settings, classes, int(cfg.seed), Path(tmp), None, dist=ctx,
            tracker=NullTracker())     # only rank 0 reports; nothing here talks to MLflow


def _check_resumable(client: MlflowClient, resume_id: str, built: BuiltDataset) -> None:
    logged = client.get_run(resume_id).data.tags.get("gaa.dataset_digest")
    if logged and logged != built.digest:
        raise ConfigError(f"trainer.resume={resume_id}: that run trained on dataset {logged[:12]} but the "
                          f"projects and recipe now build {built.digest[:12]}; start a new run instead of "
                          "mixing two datasets in one")


def _open_run(cfg: DictConfig, ctx: distributed.DistContext, root: Path, built: BuiltDataset,
              resume_id: str | None, workdir: Path) -> Path | None:
    """Inside the run just started: a new run gets its tags, config, code and dataset; a resumed
    one its checkpoint back (with the epochs the tracking server missed replayed). Returns the
    checkpoint to resume from."""
    if not resume_id:
        mlflow.set_tags({"gaa.step": "train", "gaa.model": cfg.model.name, "gaa.processes": str(ctx.world_size)})
        log_config(cfg, exclude=("trainer.resume",))
        log_code()
        log_dataset(built)      # the archive stays with the first run of the store that logs it
        return None
    resume_from, replay_after = recovery.choose(_server_checkpoint(resume_id, workdir / "resume"), root, resume_id)
    if replay_after is not None:
        recovery.replay(resume_from, replay_after)
    return resume_from


def _weight_file(cfg: DictConfig, built: BuiltDataset, result, run_id: str, workdir: Path) -> dict[str, Any]:
    """The weight document of the best state; a verifier's also carries its int8 calibration crops,
    its runtime crop margin, whether GameEye averages a crop with its mirror image (and with crops at
    further margins), and the close threshold chosen on whole screens (with that scoring)."""
    m = cfg.model
    classes, image_size, model_kwargs = _model_spec(m)
    payload = weight_payload(result, m.arch, classes, image_size, model_kwargs, built.digest, run_id,
                             m.registered_name)
    if m.task == "classification":
        payload[CALIBRATION_KEY] = calibration_crops(built.path, classes)
        payload[MARGIN_KEY] = runtime_margin(built.manifest["recipe"])
        payload[MIRROR_KEY] = bool(m.get("mirror_average", False))    # before the threshold is chosen for it
        if m.get("extra_crop_margins"):
            payload[EXTRA_MARGINS_KEY] = [float(v) for v in m.extra_crop_margins]
        _calibrate_on_screens(cfg, built, payload, workdir)
    return payload


def _register(client: MlflowClient, cfg: DictConfig, built: BuiltDataset, result, payload: dict, run_id: str,
              workdir: Path) -> dict[str, Any]:
    """Publish the weight file as the run's logged model and a new registered version; the summary."""
    m = cfg.model
    tags = {"run_id": run_id, "dataset_digest": built.digest,
            "git_commit": mlflow.get_run(run_id).data.tags.get("git_commit", "unknown"),
            "val_metric_name": result.metric_name, "val_metric": f"{result.best_metric:.6f}"}
    mv = registry.publish_weights(client, m.registered_name, run_id, payload, tags, workdir,
                                  example_image=example_image(built.path),
                                  metrics={f"best_{k}": v for k, v in result.final_val.items()},
                                  dataset=(built.name, built.digest[:DIGEST_CHARS]))
    mlflow.set_tags({"registered_model": m.registered_name, "registered_version": mv.version})
    return {"run_id": run_id, "model_name": m.registered_name, "version": int(mv.version),
            "dataset_digest": built.digest, "best_epoch": result.best_epoch,
            result.metric_name: result.best_metric, "score_threshold": payload["score_threshold"],
            **result.final_val}


def _train_main(cfg: DictConfig, settings: TrainerSettings, ctx: distributed.DistContext, root: Path,
                uri: str, precision: str) -> dict[str, Any]:
    m = cfg.model
    classes, image_size, model_kwargs = _model_spec(m)
    built, train_set, val_set = _datasets(cfg, ctx)
    client = MlflowClient()
    resume_id = settings.resume
    nested = mlflow.active_run() is not None and resume_id is None
    run_id = None
    if resume_id:
        _check_resumable(client, resume_id, built)
    with tempfile.TemporaryDirectory(prefix="gaa-train-") as tmp:
        workdir = Path(tmp)
        try:
            with mlflow.start_run(run_id=resume_id, run_name=f"train-{m.name}", nested=nested,
                                  log_system_metrics=bool(cfg.tracking.log_system_metrics)) as run:
                run_id = run.info.run_id
                resume_from = _open_run(cfg, ctx, root, built, resume_id, workdir)
                mlflow.set_tag("gaa.train_precision", precision)   # what trainer.precision resolved to here
                torch.manual_seed(int(cfg.seed))
                model = build_model(m.task, m.arch, classes, image_size, model_kwargs)
                if settings.init_from and not resume_id:
                    mlflow.set_tags(warm_start(model, settings.init_from, m.arch, classes, image_size,
                                               workdir / "init", m.task))
                result = fit(m.task, model, train_set, val_set, settings, classes, int(cfg.seed), workdir,
                             resume_from, dist=ctx)
                payload = _weight_file(cfg, built, result, run_id, workdir)
                summary = _register(client, cfg, built, result, payload, run_id, workdir)
        except Exception as exc:
            if run_id is None or not recovery.server_unreachable(uri):
                raise
            kept = recovery.keep(workdir / "last.pth", root, run_id)
            where = f"its newest checkpoint is kept at {kept}" if kept else "no epoch had finished yet"
            raise TrackingError(
                f"MLflow tracking server {uri} stopped answering during training run {run_id} "
                f"({type(exc).__name__}); {where}. Once the server is back, continue with: "
                f"python -m gaa_mlops.train model={m.name} trainer.resume={run_id}") from exc
    recovery.discard(root, run_id)
    log.info("registered %s version %s (alias candidate): %s", m.registered_name, summary["version"], summary)
    return summary


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
@user_errors_in_one_line
def _main(cfg: DictConfig) -> dict[str, Any]:
    return train(cfg)


def main() -> None:
    prepare_argv(sys.argv)
    _main()


if __name__ == "__main__":
    main()
