"""Model registry helpers: register trained weights, resolve a version by number or alias, fetch it.

A version trained here is an MLflow logged model (``models:/<model_id>``, made by
``gaa_mlops.logged_models``: a pyfunc with ``artifacts/best_weight.pth`` inside), registered with
that model's id; ``mlflow.pyfunc.load_model("models:/gaa-ssd@champion")`` loads it and
:func:`download_weights` fetches just its weight file. Versions registered from a run folder
holding ``best_weight.pth`` (``register_weights``: stores from before logged models) still resolve.

Version tags written here (training): ``run_id``, ``dataset_digest``, ``git_commit``,
``weights_sha256``, ``val_metric``, ``val_metric_name``. Evaluation adds ``eval.*`` tags,
promotion ``promoted_*``, deploy ``deployed_*``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from game_eye.weights import file_sha256, save_weights

WEIGHTS_DIR = "weights"
WEIGHTS_FILE = "best_weight.pth"
PYFUNC_WEIGHTS = f"artifacts/{WEIGHTS_FILE}"     # the weight file inside a logged model (pyfunc artifact)
log = logging.getLogger(__name__)

CANDIDATE = "candidate"
CHAMPION = "champion"


class RegistryError(LookupError):
    """A model, version or alias that does not exist, or a version whose weights are unusable."""


def register_weights(client: MlflowClient, model_name: str, run_id: str, tags: Mapping[str, object],
                     alias: str | None = CANDIDATE, description: str | None = None) -> ModelVersion:
    """Register ``runs:/<run_id>/weights`` as a new version of ``model_name`` and point ``alias`` at it."""
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    source = f"{client.get_run(run_id).info.artifact_uri}/{WEIGHTS_DIR}"
    mv = client.create_model_version(model_name, source, run_id=run_id,
                                     tags={k: str(v) for k, v in tags.items()}, description=description)
    if alias:
        client.set_registered_model_alias(model_name, alias, mv.version)
    return client.get_model_version(model_name, mv.version)


def register_logged_model(client: MlflowClient, model_name: str, model_id: str, run_id: str,
                          tags: Mapping[str, object], description: str | None = None) -> ModelVersion:
    """Register the logged model ``model_id`` (pending or ready) as a new version of ``model_name``."""
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    return client.create_model_version(model_name, f"models:/{model_id}", run_id=run_id,
                                       tags={k: str(v) for k, v in tags.items()}, description=description,
                                       model_id=model_id)


def discard_version(client: MlflowClient, mv: ModelVersion, model_id: str | None) -> None:
    """Undo a half-made version: delete it and mark its logged model FAILED."""
    client.delete_model_version(mv.name, mv.version)
    if model_id:
        try:
            client.finalize_logged_model(model_id, "FAILED")
        except MlflowException as exc:
            log.warning("logged model %s of deleted %s version %s: %s", model_id, mv.name, mv.version, exc)


def publish_weights(client: MlflowClient, model_name: str, run_id: str, payload: dict, tags: Mapping[str, object],
                    workdir: str | Path, alias: str = CANDIDATE, example_image: str | Path | None = None,
                    metrics: Mapping[str, float] | None = None,
                    dataset: tuple[str, str] | None = None) -> ModelVersion:
    """Create a logged model in the active run ``run_id`` and register it as a new version of
    ``model_name``; write best_weight.pth with that version in its provenance, log the pyfunc around
    it (``gaa_mlops.logged_models``), tag its sha256, link ``metrics`` (the validation numbers, on
    ``dataset`` (name, digest)) to the model, then move ``alias`` to the version.

    A failure part-way deletes the half-made version (its logged model is marked FAILED), so the
    registry never shows a version without its weights; the alias moves only once everything is in place.
    """
    from gaa_mlops import logged_models

    run = client.get_run(run_id)
    lm = client.create_logged_model(run.info.experiment_id, name=model_name, source_run_id=run_id,
                                    model_type=model_name)
    mv = register_logged_model(client, model_name, lm.model_id, run_id, tags)
    try:
        path = save_weights(Path(workdir) / WEIGHTS_FILE, {**payload, "model_name": model_name,
                                                           "version": str(mv.version), "run_id": run_id})
        logged_models.log_pyfunc(lm.model_id, {"weights": path}, example_image)
        client.set_model_version_tag(model_name, mv.version, "weights_sha256", file_sha256(path))
        logged_models.link_metrics(client, run_id, lm.model_id, metrics or {}, dataset)
        client.set_registered_model_alias(model_name, alias, mv.version)
    except BaseException:
        discard_version(client, mv, lm.model_id)
        raise
    return client.get_model_version(model_name, mv.version)


def resolve_version(client: MlflowClient, model_name: str, version: int | str | None = None,
                    alias: str | None = None) -> ModelVersion:
    """The version given by number, else by alias; errors list what exists."""
    try:
        registered = client.get_registered_model(model_name)
    except MlflowException as exc:
        names = sorted(m.name for m in client.search_registered_models())
        raise RegistryError(f"registered model {model_name!r} does not exist; existing: {names}") from exc
    if version is not None:
        try:
            return client.get_model_version(model_name, str(version))
        except MlflowException as exc:
            versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{model_name}'"))
            raise RegistryError(f"{model_name} has no version {version}; existing: {versions}") from exc
    alias = alias or CANDIDATE
    aliases = dict(registered.aliases or {})
    if alias not in aliases:
        raise RegistryError(f"{model_name} has no alias {alias!r}; existing aliases: {aliases}")
    return client.get_model_version_by_alias(model_name, alias)


def logged_model_id(mv: ModelVersion) -> str | None:
    """The id of the logged model behind ``mv`` (None for a version registered from a run folder)."""
    if getattr(mv, "model_id", None):
        return mv.model_id
    source = mv.source or ""
    return source[len("models:/"):] if source.startswith("models:/m-") else None


def weights_uri(client: MlflowClient, mv: ModelVersion) -> str:
    """Where ``mv``'s best_weight.pth is: inside its logged model, else its run folder source."""
    model_id = logged_model_id(mv)
    if model_id is None:
        return mv.source
    location = client.get_logged_model(model_id).artifact_location.rstrip("/")
    return f"{location}/{PYFUNC_WEIGHTS}"


def download_weights(client: MlflowClient, mv: ModelVersion, dst_dir: str | Path) -> Path:
    """Fetch a version's best_weight.pth into ``dst_dir`` and check it against the registered sha256."""
    dst_dir = Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    where = f"models:/{mv.name}/{mv.version}"
    try:
        uri = weights_uri(client, mv)
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst_dir)))
    except Exception as exc:
        raise RegistryError(f"{where}: cannot download its artifacts from {mv.source} ({exc})") from exc
    path = local / WEIGHTS_FILE if local.is_dir() else local
    if path.name != WEIGHTS_FILE or not path.is_file():
        raise RegistryError(f"{where} has no {WEIGHTS_FILE} in {mv.source}")
    expected = (mv.tags or {}).get("weights_sha256")
    if expected and file_sha256(path) != expected:
        raise RegistryError(f"{where}: {path} sha256 does not match the registered weights_sha256 {expected}")
    return path


def fetch_weights(client: MlflowClient, spec: str, dst_dir: str | Path) -> tuple[Path, ModelVersion | None]:
    """Local best_weight.pth for ``spec`` and the registered version it belongs to (if any).

    ``spec`` is a file path, ``models:/<name>@<alias>``, ``models:/<name>/<version>`` or
    ``runs:/<run_id>`` (the weights of the version that run registered, or of a run from before
    logged models: its ``weights/best_weight.pth``).
    """
    spec = str(spec)
    if spec.startswith("models:/"):
        ref = spec[len("models:/"):]
        if "@" in ref:
            name, alias = ref.split("@", 1)
            mv = resolve_version(client, name, alias=alias)
        elif "/" in ref:
            name, version = ref.split("/", 1)
            mv = resolve_version(client, name, version=version)
        else:
            raise RegistryError(f"{spec!r}: expected models:/<name>@<alias> or models:/<name>/<version>")
        return download_weights(client, mv, dst_dir), mv
    if spec.startswith("runs:/"):
        run_id = spec[len("runs:/"):].strip("/").split("/")[0]
        versions = [mv for mv in client.search_model_versions(f"run_id='{run_id}'") if logged_model_id(mv)]
        if versions:      # the logged model the run registered
            mv = max(versions, key=lambda v: int(v.version))
            return download_weights(client, mv, dst_dir), mv
        try:
            local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"{WEIGHTS_DIR}/{WEIGHTS_FILE}",
                                                        dst_path=str(dst_dir))
        except Exception as exc:
            raise RegistryError(f"{spec!r}: run has no {WEIGHTS_DIR}/{WEIGHTS_FILE} ({exc})") from exc
        versions = client.search_model_versions(f"run_id='{run_id}'")
        return Path(local), (versions[0] if versions else None)
    path = Path(spec)
    if not path.is_file():
        raise RegistryError(f"weights {spec!r}: no such file, and not a models:/ or runs:/ URI")
    return path, None


def set_version_tags(client: MlflowClient, mv: ModelVersion, tags: Mapping[str, object]) -> None:
    """Write several tags on one model version."""
    for key, value in tags.items():
        client.set_model_version_tag(mv.name, mv.version, key, str(value))
