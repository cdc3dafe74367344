"""A user's mistake stops before any run, in one line that names the culprit (issue: hardening, 4).

The schema (gaa_mlops.config_schema) is checked on the composed config; the entry points print
``error: ...`` and exit 1, with the traceback only under ``--verbose`` / ``HYDRA_FULL_ERROR=1``.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from gaa_mlops.cli import CONF_DIR
from gaa_mlops.config_schema import ConfigError, check_config

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("overrides, named", [
    (["trainer.lr=abc"], "trainer.lr='abc': Input should be a valid number"),
    (["trainer.epochs=-1"], "trainer.epochs=-1: Input should be greater than 0"),
    (["model.dataset.n_train=-5"], "model.dataset.n_train=-5: Input should be greater than 0"),
    (["trainer.lr=nan"], "trainer.lr=nan: Input should be a finite number"),
    (["trainer.optimizer=adam"], "trainer.optimizer='adam': Input should be 'sgd' or 'adamw'"),
    (["trainer.precision=fp16"], "trainer.precision='fp16': Input should be 'auto', 'fp32' or 'bf16'"),
    (["model=resnet34", "trainer.calibration.max_false_tap_rate=1.5"],
     "trainer.calibration.max_false_tap_rate=1.5: Input should be less than or equal to 1"),
    (["model.dataset.distractors=[8,2]"], "model.dataset.distractors=[8, 2]: Value error, [low, high]"),
    (["evaluation.top_k=0"], "evaluation.top_k=0: Input should be greater than 0"),
    (["model.image_size=[576]"], "model.image_size"),
])
def test_a_bad_setting_names_its_key_value_and_range(overrides, named):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert named in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("overrides", [[], ["model=resnet34"], ["experiment=quick"],
                                       ["experiment=quick", "model=resnet34"],
                                       ["experiment=watch_ad", "model=resnet34"], ["deploy=ssh"]])
def test_the_shipped_configs_pass_the_schema(overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        check_config(compose(config_name="config", overrides=overrides))


def _run(module: str, *args: str, store: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for name in ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", module, *args, f"paths.root={store}",
                           f"tracking.uri=sqlite:///{store / 'mlflow.db'}"],
                          cwd=store, env=env, capture_output=True, text=True, timeout=180)


def _runs_in(store: Path) -> int:
    db = store / "mlflow.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from runs").fetchone()[0]


def test_train_with_a_bad_setting_is_one_line_and_creates_no_run(tmp_path):
    out = _run("gaa_mlops.train", "trainer.lr=abc", store=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: config trainer.lr='abc': Input should be a valid number, unable to parse string as a number"]
    assert _runs_in(tmp_path) == 0


def test_the_pipeline_checks_each_models_config_before_its_parent_run(tmp_path):
    out = _run("gaa_mlops.pipeline", "pipeline.models.resnet34.overrides=['model.dataset.n_train=-5']", store=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["error: config model.dataset.n_train=-5: Input should be greater than 0"]
    assert _runs_in(tmp_path) == 0


def test_a_missing_project_is_one_line_and_verbose_shows_the_traceback(tmp_path):
    bad = ["model=resnet34", "projects.include=[no_such_project]", f"paths.projects_dir={REPO / 'projects'}"]
    out = _run("gaa_mlops.build_dataset", *bad, store=tmp_path)
    errors = [line for line in out.stderr.splitlines() if " INFO mlflow." not in line]   # a new store says so
    assert out.returncode == 1 and len(errors) == 1, out.stderr
    assert errors[0].startswith("error: project 'no_such_project' named in project set 'resnet34' does not exist")
    verbose = _run("gaa_mlops.build_dataset", *bad, "--verbose", store=tmp_path)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr and "no_such_project" in verbose.stderr
