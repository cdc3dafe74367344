"""Build (or reuse) the dataset of one model from its project set and log it to MLflow.

Run:
    python -m gaa_mlops.build_dataset model=ssd
    python -m gaa_mlops.build_dataset model=resnet34 experiment=quick
    python -m gaa_mlops.build_dataset model=resnet34 model.image_size=96 projects=no_ja_text
    mlflow run . -e build_dataset -P overrides="model=ssd" --env-manager local

The dataset lands in ``<paths.datasets_dir>/<model>-<digest[:12]>`` (an unchanged input is a cache
hit; a digest that a run of the tracking store keeps is fetched from there instead of rebuilt); the
run ``build_dataset-<model>`` gets it as a dataset input whose source is the archive's artifact URI,
plus ``dataset/data_set.tar.gz`` when no run of the store keeps it yet.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
import mlflow
from omegaconf import DictConfig

from gaa_mlops.cli import CONF_DIR, prepare_argv, user_errors_in_one_line
from gaa_mlops.data.build import build_for_config
from gaa_mlops.data.mlflow_dataset import log_dataset
from gaa_mlops.tracking import setup_tracking


def build_and_log(cfg: DictConfig) -> dict[str, Any]:
    """Build or reuse ``cfg.model``'s dataset, log it in a run; return a summary."""
    root = Path(cfg.paths.root).resolve()
    setup_tracking(cfg.tracking.uri, cfg.tracking.experiment_name, str(root))
    built = build_for_config(cfg)
    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_name=f"build_dataset-{cfg.model.name}", nested=nested) as run:
        mlflow.set_tags({"gaa.step": "build_dataset", "gaa.model": str(cfg.model.name)})
        mlflow.log_params({"cache_hit": built.cache_hit, "dataset_name": built.name})
        if "fetched_from" in built.extra:
            mlflow.set_tag("gaa.dataset_fetched_from", built.extra["fetched_from"])
        mlflow.log_metric("build_seconds", built.seconds)
        log_dataset(built)
    return {"run_id": run.info.run_id, "dataset_dir": str(built.path), "name": built.name,
            "digest": built.digest, "cache_hit": built.cache_hit, "seconds": round(built.seconds, 3),
            "counts": built.manifest["counts"], "fetched_from": built.extra.get("fetched_from")}


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
@user_errors_in_one_line
def _main(cfg: DictConfig) -> dict[str, Any]:
    summary = build_and_log(cfg)
    print(f"dataset:   {summary['dataset_dir']}\n"
          f"digest:    {summary['digest']}\n"
          f"cache hit: {summary['cache_hit']} ({summary['seconds']} s"
          f"{', fetched from run ' + summary['fetched_from'] if summary['fetched_from'] else ''})\n"
          f"counts:    {summary['counts']}\n"
          f"run:       {summary['run_id']}")
    return summary


def main() -> None:
    prepare_argv(sys.argv)
    _main()


if __name__ == "__main__":
    main()
