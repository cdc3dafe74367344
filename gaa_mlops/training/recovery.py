"""Keep a run's work when the tracking server goes away mid-run, and pick it up on resume.

When an http(s) tracking server stops answering during training, ``train`` keeps the newest local
checkpoint at ``<paths.root>/data/checkpoints/<run id>/last.pth`` and fails with a
:class:`~gaa_mlops.tracking.TrackingError` that names the server and the resume command. Once the
server is back, ``trainer.resume=<run id>`` takes whichever checkpoint is newer (the kept one or the
run's ``checkpoints/last.pth`` on the server), logs the epochs the server missed, uploads the
checkpoint again and finishes the run; the kept copy is removed once the run has finished.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from urllib.parse import urlparse

import mlflow

from gaa_mlops.training.checkpoint import load_checkpoint

log = logging.getLogger(__name__)


def kept_checkpoint(root: str | Path, run_id: str) -> Path:
    return Path(root).resolve() / "data" / "checkpoints" / run_id / "last.pth"


def server_unreachable(uri: str) -> bool:
    """True when ``uri`` is an http(s) tracking server that does not answer its health check now."""
    from gaa_mlops.tracking import TrackingError, probe_http

    if urlparse(uri).scheme not in ("http", "https"):
        return False
    try:
        probe_http(uri, timeout=3.0)
    except TrackingError:
        return True
    return False


def keep(checkpoint: Path, root: str | Path, run_id: str) -> Path | None:
    """Copy the local ``last.pth`` of a run whose server went away to where resume looks for it."""
    if not checkpoint.is_file():
        return None
    dst = kept_checkpoint(root, run_id)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(checkpoint, dst)
    return dst


def _epoch(path: Path | None) -> int:
    return int(load_checkpoint(path)["epoch"]) if path is not None else 0


def choose(remote: Path | None, root: str | Path, run_id: str) -> tuple[Path, int | None]:
    """The checkpoint to resume from, and (when it is a kept local one newer than the server's)
    the epoch the server has, so the later epochs can be logged again."""
    local = kept_checkpoint(root, run_id)
    if local.is_file():
        server_epoch = _epoch(remote)
        if _epoch(local) > server_epoch:
            log.info("resuming %s from the kept local checkpoint %s (the server has epoch %d)",
                     run_id, local, server_epoch)
            return local, server_epoch
    if remote is None:
        raise FileNotFoundError(f"trainer.resume={run_id}: that run has no checkpoints/last.pth "
                                f"and nothing was kept at {local}")
    return remote, None


def replay(checkpoint: Path, after_epoch: int) -> None:
    """Log to the active run the epochs after ``after_epoch`` and upload the checkpoint again."""
    ckpt = load_checkpoint(checkpoint)
    for row in ckpt["history"]:
        if row["epoch"] > after_epoch:
            mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
    mlflow.log_artifact(str(checkpoint), artifact_path="checkpoints")


def discard(root: str | Path, run_id: str) -> None:
    shutil.rmtree(kept_checkpoint(root, run_id).parent, ignore_errors=True)
