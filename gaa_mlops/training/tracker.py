"""Where ``training.fit`` reports: the active MLflow run, or nowhere (ranks > 0 of a torchrun).

The training loop calls a :class:`Tracker` and never MLflow itself, so the loop can be read, run
and tested without a tracking store::

    fit(..., tracker=MlflowTracker())     # the default on rank 0: the active run
    fit(..., tracker=NullTracker())       # the default on the other ranks: nothing leaves the process
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Tracker(Protocol):
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None: ...

    def log_artifact(self, path: Path, artifact_path: str) -> None: ...

    def log_figure(self, fig, artifact_file: str) -> None: ...


class MlflowTracker:
    """The active MLflow run."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        import mlflow

        mlflow.log_metrics(metrics, step=step)

    def log_artifact(self, path: Path, artifact_path: str) -> None:
        import mlflow

        mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_figure(self, fig, artifact_file: str) -> None:
        from gaa_mlops.training.plots import log_figure

        log_figure(fig, artifact_file)


class NullTracker:
    """Logs nothing (the figures are still closed: pyplot keeps every open one alive)."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def log_artifact(self, path: Path, artifact_path: str) -> None:
        pass

    def log_figure(self, fig, artifact_file: str) -> None:
        import matplotlib.pyplot as plt

        plt.close(fig)
