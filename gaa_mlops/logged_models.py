"""GameEye weight files as MLflow 3 logged models (pyfunc), and the pair as ``gaa-game-eye``.

    registry.publish_weights(...)                    # training: one logged model a version (below)
    register_game_eye(client, ssd_mv, resnet_mv)     # the pipeline, after promoting a pair

Every logged model is ``gaa_mlops/pyfunc_game_eye.py`` (a model from code) with ``game_eye`` in its
code/, the weight file(s) byte for byte under artifacts/, a signature (a column ``image`` of
base64 PNG/JPEG strings), an input example (a screenshot, or a crop for the verifier) and pip
requirements of the runtime alone (torch, torchvision, numpy, pillow, mlflow). So
``mlflow.pyfunc.load_model("models:/gaa-ssd@champion")`` and
``mlflow models serve -m models:/gaa-game-eye@champion --env-manager local`` work, and deploy
still ships exactly the registered best_weight.pth.
"""
from __future__ import annotations

import base64
import importlib.metadata
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Mapping
from unittest import mock

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

log = logging.getLogger(__name__)

CODE_FILE = Path(__file__).resolve().with_name("pyfunc_game_eye.py")
GAME_EYE_DIR = Path(__file__).resolve().parents[1] / "game_eye"
GAME_EYE_MODEL = "gaa-game-eye"
SIGNATURE = ModelSignature(inputs=Schema([ColSpec("string", "image")]))
RUNTIME_PACKAGES = ("torch", "torchvision", "numpy", "pillow", "mlflow")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def pip_requirements() -> list[str]:
    """The runtime's packages at the versions installed here (pillow, not the gaa_mlops stack)."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME_PACKAGES]


def first_image(folder: str | Path) -> Path | None:
    """The first image file under ``folder`` (sorted paths), for an input example; None if none."""
    folder = Path(folder)
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    return found[0] if found else None


def example_image(dataset_path: str | Path) -> Path | None:
    """The first image of a built dataset's val split: a screenshot (detector) or a crop (verifier)."""
    return first_image(Path(dataset_path) / "val")


def input_example(image: str | Path | None):
    """The model's input for one image file: a DataFrame with its base64 text in column ``image``."""
    if image is None:
        return None
    import pandas as pd

    return pd.DataFrame({"image": [base64.b64encode(Path(image).read_bytes()).decode("ascii")]})


def log_pyfunc(model_id: str, artifacts: Mapping[str, str | Path], example_image_path: str | Path | None) -> None:
    """Write the pyfunc into the (pending) logged model ``model_id`` from the active run and mark it READY.

    MLflow loads the model once and predicts its input example before uploading it; GameEye's ONNX
    export of that load goes to a temp cache (``$GAME_EYE_CACHE``), not next to the model's weights."""
    client = MlflowClient()
    with tempfile.TemporaryDirectory(prefix="gaa-onnx-") as cache, \
            mock.patch.dict(os.environ, {"GAME_EYE_CACHE": cache}):
        mlflow.pyfunc.log_model(
            name=client.get_logged_model(model_id).name, python_model=str(CODE_FILE),
            artifacts={k: str(v) for k, v in artifacts.items()},
            code_paths=[str(GAME_EYE_DIR)], signature=SIGNATURE, input_example=input_example(example_image_path),
            pip_requirements=pip_requirements(), model_id=model_id)
    if str(client.get_logged_model(model_id).status) != "READY":
        client.finalize_logged_model(model_id, "READY")


def link_metrics(client: MlflowClient, run_id: str, model_id: str, metrics: Mapping[str, float],
                 dataset: tuple[str, str] | None = None) -> None:
    """Log ``metrics`` on the run, linked to the logged model (and to the dataset (name, digest))."""
    if not metrics:
        return
    now = int(time.time() * 1000)
    name, digest = dataset or (None, None)
    client.log_batch(run_id, metrics=[Metric(key=k, value=float(v), timestamp=now, step=0, model_id=model_id,
                                             dataset_name=name, dataset_digest=digest)
                                      for k, v in metrics.items()])


def register_game_eye(client: MlflowClient, ssd_mv: ModelVersion, resnet_mv: ModelVersion,
                      alias: str = "champion", example_image_path: str | Path | None = None) -> ModelVersion:
    """Register the pair ``ssd_mv`` + ``resnet_mv`` as a new version of gaa-game-eye and point ``alias``
    at it (unless the version behind ``alias`` is already that pair). Logged in its own run."""
    from gaa_mlops import registry

    pair = {"ssd_model": ssd_mv.name, "ssd_version": str(ssd_mv.version),
            "resnet_model": resnet_mv.name, "resnet_version": str(resnet_mv.version)}
    try:
        current = registry.resolve_version(client, GAME_EYE_MODEL, alias=alias)
        if all((current.tags or {}).get(k) == v for k, v in pair.items()):
            return current
    except registry.RegistryError:
        pass
    with tempfile.TemporaryDirectory(prefix="gaa-game-eye-") as tmp:
        # both are best_weight.pth: named apart, they sit side by side in the model's artifacts/
        ssd_path = registry.download_weights(client, ssd_mv, Path(tmp) / "ssd").rename(Path(tmp) / "ssd.pth")
        resnet_path = registry.download_weights(client, resnet_mv, Path(tmp) / "resnet").rename(
            Path(tmp) / "resnet.pth")
        nested = mlflow.active_run() is not None
        with mlflow.start_run(run_name="register-game-eye", nested=nested) as run:
            mlflow.set_tags({"gaa.step": "register_game_eye", **{f"gaa.{k}": v for k, v in pair.items()}})
            lm = mlflow.initialize_logged_model(name=GAME_EYE_MODEL, source_run_id=run.info.run_id,
                                                model_type="gaa-game-eye", tags=pair)
            mv = registry.register_logged_model(client, GAME_EYE_MODEL, lm.model_id, run.info.run_id,
                                                {**pair, "run_id": run.info.run_id})
            try:
                log_pyfunc(lm.model_id, {"ssd": ssd_path, "resnet": resnet_path}, example_image_path)
                client.set_registered_model_alias(GAME_EYE_MODEL, alias, mv.version)
            except BaseException:
                registry.discard_version(client, mv, lm.model_id)
                raise
    log.info("registered %s version %s (%s@%s): %s %s + %s %s", GAME_EYE_MODEL, mv.version, GAME_EYE_MODEL, alias,
             ssd_mv.name, ssd_mv.version, resnet_mv.name, resnet_mv.version)
    return client.get_model_version(GAME_EYE_MODEL, mv.version)
