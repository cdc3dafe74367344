"""Where runs go: one call every entry point makes before its first MLflow call.

    uri = setup_tracking(cfg.tracking.uri, cfg.tracking.experiment_name, cfg.paths.root)

``uri`` None → ``$MLFLOW_TRACKING_URI`` → else MLflow's embedded default,
``sqlite:///<abs root>/mlflow.db`` with artifacts in ``<abs root>/mlruns``. The store is checked
right away: an unreachable one fails fast with :class:`TrackingError` naming the URI.

Under ``mlflow run`` (``$MLFLOW_RUN_ID`` set) the entry point logs into the run that ``mlflow run``
created, so everything goes to that run's experiment (``--experiment-name X``, or MLflow's
``Default`` without it), not to ``tracking.experiment_name``; it says so when the two differ.
Inside an active run (the pipeline's steps) runs go to that run's experiment, nested under it.

Every experiment runs go to is tagged ``mlflow.experimentKind = custom_model_development`` (unless
it already has a kind), so MLflow 3's UI opens it on its runs and model-training view instead of
its GenAI view (traces, token usage).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow import MlflowClient

log = logging.getLogger(__name__)


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or used."""


def default_uri(root: str | Path) -> str:
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


def probe_http(uri: str, timeout: float = 5.0) -> None:
    """Raise :class:`TrackingError` when the tracking server at ``uri`` does not answer ``/health``."""
    import urllib.error
    import urllib.request

    url = uri.rstrip("/") + "/health"
    try:
        urllib.request.urlopen(url, timeout=timeout).read(64)
    except urllib.error.HTTPError:
        return  # the server answered (e.g. auth required): reachable; MLflow reports the rest
    except Exception as e:
        raise TrackingError(f"MLflow tracking server {uri} is unreachable ({e})") from e


def _mlflow_run_experiment(client: MlflowClient):
    """The experiment runs must go to whatever the config says: the active run's (a step of the
    pipeline nests its run under the parent), else the one of the run ``mlflow run`` created for this
    process (``$MLFLOW_RUN_ID``); None when neither is there."""
    active = mlflow.active_run()
    run_id = active.info.run_id if active is not None else os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return None
    try:
        return client.get_experiment(client.get_run(run_id).info.experiment_id)
    except Exception:       # a stale id from elsewhere: start_run will report it
        return None


def _ensure_kind(client: MlflowClient, exp) -> None:
    if EXPERIMENT_KIND_TAG not in (exp.tags or {}):
        client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)


def setup_tracking(uri: str | None, experiment_name: str, root: str | Path) -> str:
    """Point MLflow at ``uri`` (see module doc), make ``experiment_name`` active (created if needed)
    and return the tracking URI in use."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri(root)
    local_default = uri == default_uri(root)
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        probe_http(uri)
    elif scheme == "sqlite":
        db = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
        if db is not None and str(db) != ":memory:" and not db.parent.is_dir():
            raise TrackingError(f"tracking store {uri}: folder {db.parent} does not exist")
    mlflow.set_tracking_uri(uri)
    try:
        client = MlflowClient(uri)
        adopted = _mlflow_run_experiment(client)
        if adopted is not None:
            if adopted.name != experiment_name and mlflow.active_run() is None:
                log.warning("`mlflow run` created run %s in experiment %r: logging there, not in %r "
                            "(give `mlflow run` --experiment-name %s to use that one)",
                            os.environ["MLFLOW_RUN_ID"], adopted.name, experiment_name, experiment_name)
            _ensure_kind(client, adopted)
            mlflow.set_experiment(experiment_id=adopted.experiment_id)
            return uri
        exp = client.get_experiment_by_name(experiment_name)
        if exp is None:
            artifacts = (Path(root).resolve() / "mlruns").as_uri() if local_default else None
            client.create_experiment(experiment_name, artifact_location=artifacts,
                                     tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        else:
            if exp.lifecycle_stage == "deleted":
                client.restore_experiment(exp.experiment_id)
            _ensure_kind(client, exp)
        mlflow.set_experiment(experiment_name)
    except TrackingError:
        raise
    except Exception as e:
        raise TrackingError(f"tracking store {uri} is not usable: {type(e).__name__}: {e}") from e
    return uri


def setup_tracking_from_config(cfg) -> str:
    """:func:`setup_tracking` with a composed config's ``tracking.uri``, ``tracking.experiment_name``
    and ``paths.root``."""
    return setup_tracking(cfg.tracking.uri, cfg.tracking.experiment_name, str(cfg.paths.root))
