"""Log a built dataset to the active MLflow run, and fetch it back by digest on another machine.

``log_dataset`` gives the run a dataset input (name, digest, profile with per-class counts, and as
its source the artifact URI of the logged ``data_set.tar.gz``: ``mlflow-artifacts:/...`` through a
tracking server, resolvable from any machine that reaches it) plus ``dataset/manifest.json``; the
first run of a store that logs a digest keeps the archive (``dataset/data_set.tar.gz``, its sha256
in the tag ``gaa.dataset_archive_sha256``), later runs point at it.

``fetch_logged_dataset`` is the builder's ``fetch`` hook: when the local cache lacks a digest, it
downloads that run's archive, checks its sha256 and manifest digest, and puts the dataset in place,
so a second machine trains on exactly the bytes the first one built.

``mlflow ui`` shows it under the run's "Datasets used" with its digest (the first 12 hex digits of
the content digest; the full one is in the profile and the ``gaa.dataset_digest`` tag).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Optional

import mlflow
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource

from gaa_mlops.data.build import ARCHIVE, MANIFEST, BuiltDataset
from game_eye.weights import file_sha256

log = logging.getLogger(__name__)
DIGEST_CHARS = 12     # MLflow's dataset digest column is short (36 chars in the SQL store)
ARCHIVE_ARTIFACT = f"dataset/{ARCHIVE}"
ARCHIVE_SHA_TAG = "gaa.dataset_archive_sha256"
DIGEST_TAG = "gaa.dataset_digest"


class ArtifactDatasetSource(DatasetSource):
    """A dataset whose bytes are an MLflow artifact (``mlflow-artifacts:/``, ``file://``, ``s3://``
    ...): ``load()`` downloads it through the tracking URI in use."""

    def __init__(self, uri: str):
        self._uri = str(uri)

    @property
    def uri(self) -> str:
        return self._uri

    @staticmethod
    def _get_source_type() -> str:
        return "mlflow_artifact"

    def load(self, dst_path: Optional[str] = None) -> str:
        return mlflow.artifacts.download_artifacts(artifact_uri=self._uri, dst_path=dst_path)

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False            # only ever built explicitly, never guessed from a string

    @classmethod
    def _resolve(cls, raw_source: Any) -> "ArtifactDatasetSource":
        return cls(str(raw_source))

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self._uri}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> "ArtifactDatasetSource":
        return cls(source_dict["uri"])


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


def as_mlflow_dataset(built: BuiltDataset, source: Optional[DatasetSource] = None) -> GaaDataset:
    """The MLflow dataset of ``built``; its source is ``source``, else the local folder."""
    m = built.manifest
    profile = {"counts": m["counts"], "task": m["task"], "image_size": m["image_size"],
               "classes": m["classes"], "projects": m["projects"], "digest": built.digest,
               "builder_version": m["builder_version"]}
    return GaaDataset(source or LocalArtifactDatasetSource(str(built.path)), name=built.name,
                      digest=built.digest[:DIGEST_CHARS], profile=profile)


def archive_holder(digest: str):
    """The newest run of the tracking store that keeps the archive of dataset ``digest``, or None."""
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string=f"tags.`{DIGEST_TAG}` = '{digest}'",
                              order_by=["attributes.start_time DESC"])
    return next((r for r in runs if r.data.tags.get(ARCHIVE_SHA_TAG)), None)


def log_dataset(built: BuiltDataset, context: str = "training", log_archive: Optional[bool] = None) -> GaaDataset:
    """Inside an active run: log the dataset input, its manifest and, when ``log_archive`` is True
    (None: when no run of the store keeps this digest's archive yet), ``dataset/data_set.tar.gz``.
    The input's source is the archive's artifact URI (this run's, or the run's that keeps it)."""
    if mlflow.active_run() is None:
        raise RuntimeError("log_dataset needs an active MLflow run (mlflow.start_run())")
    holder = archive_holder(built.digest) if not log_archive else None
    mlflow.set_tags({DIGEST_TAG: built.digest, "gaa.dataset_name": built.name})
    mlflow.log_artifact(str(built.manifest_path), "dataset")
    if log_archive or (log_archive is None and holder is None):
        mlflow.log_artifact(str(built.archive), "dataset")
        mlflow.set_tag(ARCHIVE_SHA_TAG, file_sha256(built.archive))
        source = ArtifactDatasetSource(mlflow.get_artifact_uri(ARCHIVE_ARTIFACT))
    elif holder is not None:
        source = ArtifactDatasetSource(f"{holder.info.artifact_uri.rstrip('/')}/{ARCHIVE_ARTIFACT}")
    else:
        source = None           # log_archive=False and no run keeps it: only this machine has it
    ds = as_mlflow_dataset(built, source)
    mlflow.log_input(ds, context=context)
    return ds


def fetch_logged_dataset(digest: str, name: str, datasets_dir: str | os.PathLike) -> Optional[str]:
    """The builder's ``fetch`` hook: put dataset ``digest`` into ``<datasets_dir>/<name>`` from the
    archive a run of the tracking store keeps; return that run's id, or None when no run keeps it or
    the archive does not check out (sha256, manifest digest), so the caller builds it instead."""
    if not mlflow.is_tracking_uri_set():    # no store chosen: never create MLflow's default one here
        return None
    try:
        holder = archive_holder(digest)
    except Exception as exc:           # an unreachable store must not stop a local build
        log.warning("dataset %s: could not look for it in the tracking store (%s); building it here", name, exc)
        return None
    if holder is None:
        return None
    root = Path(datasets_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".fetch-{name}-", dir=root))
    try:
        try:
            archive = Path(mlflow.artifacts.download_artifacts(
                run_id=holder.info.run_id, artifact_path=ARCHIVE_ARTIFACT, dst_path=str(tmp / "download")))
        except Exception as exc:
            log.warning("dataset %s: could not download it from run %s (%s); building it here",
                        name, holder.info.run_id, exc)
            return None
        if file_sha256(archive) != holder.data.tags[ARCHIVE_SHA_TAG]:
            log.warning("dataset %s: the archive of run %s does not match its sha256 tag; building it here",
                        name, holder.info.run_id)
            return None
        with tarfile.open(archive) as tar:
            tar.extractall(tmp / "x", filter="data")        # no absolute paths, links or devices
        folder = tmp / "x" / name
        manifest = json.loads((folder / MANIFEST).read_text()) if (folder / MANIFEST).is_file() else {}
        if manifest.get("digest") != digest:
            log.warning("dataset %s: the archive of run %s holds another dataset; building it here",
                        name, holder.info.run_id)
            return None
        os.replace(archive, folder / ARCHIVE)
        os.chmod(folder, 0o755)
        try:
            os.rename(folder, root / name)                   # whole, or not at all
        except OSError:
            if not (root / name / MANIFEST).is_file():
                raise
        log.info("dataset %s: fetched from run %s", name, holder.info.run_id)
        return holder.info.run_id
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
