"""Log a built dataset to the active MLflow run: a dataset input (name, digest, source, profile with
per-class counts) plus ``dataset/data_set.tar.gz`` and ``dataset/manifest.json`` as artifacts.

``mlflow ui`` shows it under the run's "Datasets used" with its digest (the first 12 hex digits of
the content digest; the full one is in the profile and the ``gaa.dataset_digest`` tag).
"""
from __future__ import annotations

import json
from typing import Any

import mlflow
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource

from gaa_mlops.data.build import BuiltDataset

DIGEST_CHARS = 12     # MLflow's dataset digest column is short (36 chars in the SQL store)


class GaaDataset(MetaDataset):
    """A metadata-only MLflow dataset whose ``profile`` carries the manifest's counts."""

    def __init__(self, source, name: str, digest: str, profile: dict[str, Any]):
        self._profile = profile
        super().__init__(source=source, name=name, digest=digest)

    @property
    def profile(self) -> dict[str, Any]:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        config = super().to_dict()
        config["profile"] = json.dumps(self._profile, sort_keys=True)
        return config


def as_mlflow_dataset(built: BuiltDataset) -> GaaDataset:
    m = built.manifest
    profile = {"counts": m["counts"], "task": m["task"], "image_size": m["image_size"],
               "classes": m["classes"], "projects": m["projects"], "digest": built.digest,
               "builder_version": m["builder_version"]}
    return GaaDataset(LocalArtifactDatasetSource(str(built.path)), name=built.name,
                      digest=built.digest[:DIGEST_CHARS], profile=profile)


def log_dataset(built: BuiltDataset, context: str = "training", log_archive: bool = True) -> GaaDataset:
    """Inside an active run: log the dataset input, its manifest and (unless ``log_archive`` is
    False, e.g. when another run already holds this digest's archive) ``dataset/data_set.tar.gz``."""
    if mlflow.active_run() is None:
        raise RuntimeError("log_dataset needs an active MLflow run (mlflow.start_run())")
    ds = as_mlflow_dataset(built)
    mlflow.log_input(ds, context=context)
    mlflow.set_tags({"gaa.dataset_digest": built.digest, "gaa.dataset_name": built.name})
    mlflow.log_artifact(str(built.manifest_path), "dataset")
    if log_archive:
        mlflow.log_artifact(str(built.archive), "dataset")
    return ds
