"""The real Hydra config, shrunk: real projects, a handful of tiny images, 1 epoch, tmp store."""
from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
CONF = str(REPO / "conf")


def tiny_overrides(root: Path, experiment: str = "gaa-test") -> list[str]:
    return [
        "experiment=quick",
        f"paths.root={root}",
        f"paths.projects_dir={REPO / 'projects'}",
        f"paths.datasets_dir={root / 'datasets'}",
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        f"tracking.experiment_name={experiment}",
        "tracking.log_system_metrics=false",
        "model.dataset.n_train=8",
        "model.dataset.n_val=4",
        "trainer.epochs=1",
        "trainer.batch_size=4",
        "evaluation.limit=4",
    ]


MODEL_OVERRIDES = {
    "ssd": ["model.image_size=[128,72]", "model.model_kwargs.channels=[8,8,8,16,16]"],
    "resnet34": ["model.arch=resnet18", "model.image_size=32", "trainer.calibration.screens=6"],
}


def compose_tiny(root: Path, model: str = "ssd", *extra: str) -> "DictConfig":  # noqa: F821
    """Compose inside an initialised Hydra (``hydra_conf`` fixture or ``initialize_config_dir``)."""
    return compose(config_name="config", overrides=[*tiny_overrides(root), f"model={model}",
                                                    *MODEL_OVERRIDES[model], *extra])


def hydra_init():
    return initialize_config_dir(config_dir=CONF, version_base="1.3")


def subprocess_env(tracking_uri: str) -> dict:
    """This environment for a child process: the venv's python first on PATH (MLproject calls
    `python`), the given store, and no MLflow run/experiment left over from other tests."""
    import os
    import sys
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME")}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    return env
