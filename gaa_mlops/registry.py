"""Model registry helpers: register trained weights, resolve a version by number or alias, fetch it.

A registered version's source is the run artifact directory ``runs:/<run_id>/weights`` holding
``best_weight.pth``; ``mlflow.artifacts.download_artifacts("models:/gaa-ssd@champion")`` fetches it.

Version tags written here (training): ``run_id``, ``dataset_digest``, ``git_commit``,
``weights_sha256``, ``val_metric``, ``val_metric_name``. Evaluation adds ``eval.*`` tags,
promotion ``promoted_*``, deploy ``deployed_*``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from game_eye.weights import file_sha256, save_weights

WEIGHTS_DIR = "weights"
WEIGHTS_FILE = "best_weight.pth"
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


def publish_weights(client: MlflowClient, model_name: str, run_id: str, payload: dict, tags: Mapping[str, object],
                    workdir: str | Path, alias: str = CANDIDATE) -> ModelVersion:
    """Create a new version of ``model_name``, write best_weight.pth with that version in its
    provenance, log it to ``runs:/<run_id>/weights``, tag its sha256, then move ``alias`` to it.

    A failure part-way deletes the half-made version, so the registry never shows a version
    without its weights; the alias moves only once everything is in place.
    """
    mv = register_weights(client, model_name, run_id, tags, alias=None)
    try:
        path = save_weights(Path(workdir) / WEIGHTS_FILE, {**payload, "model_name": model_name,
                                                           "version": str(mv.version), "run_id": run_id})
        client.log_artifact(run_id, str(path), artifact_path=WEIGHTS_DIR)
        client.set_model_version_tag(model_name, mv.version, "weights_sha256", file_sha256(path))
        client.set_registered_model_alias(model_name, alias, mv.version)
    except BaseException:
        client.delete_model_version(model_name, mv.version)
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


def download_weights(client: MlflowClient, mv: ModelVersion, dst_dir: str | Path) -> Path:
    """Fetch a version's best_weight.pth into ``dst_dir`` and check it against the registered sha256."""
    dst_dir = Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    where = f"models:/{mv.name}/{mv.version}"
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(dst_dir)))
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
    ``runs:/<run_id>`` (that run's ``weights/best_weight.pth``).
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
