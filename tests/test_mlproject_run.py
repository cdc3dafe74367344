"""`mlflow run .` really runs an entry point of MLproject (local environment, tiny config).

The mlflow CLI runs in tmp_path: it creates the experiment with its cwd's ./mlruns as the artifact
root, which must not be the checkout."""
from __future__ import annotations

import subprocess
import sys

from mlflow import MlflowClient

from tests.tiny import MODEL_OVERRIDES, REPO, subprocess_env, tiny_overrides


def test_mlflow_run_train_entry_point(tmp_path):
    overrides = " ".join([*tiny_overrides(tmp_path), "model=resnet34", *MODEL_OVERRIDES["resnet34"]])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = subprocess_env(uri)
    proc = subprocess.run([sys.executable, "-m", "mlflow", "run", str(REPO), "-e", "train", "--env-manager", "local",
                           "--experiment-name", "gaa-test", "-P", f"overrides={overrides}"],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("gaa-test").experiment_id])
    assert len(runs) == 1, "the entry point must log into the run that `mlflow run` created"
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "resnet34"
    assert run.data.tags["registered_model"] == "gaa-resnet34"


def test_mlflow_run_main_entry_point_is_the_pipeline_parent(tmp_path):
    quoted = ",".join(f"'{o}'" for o in MODEL_OVERRIDES["resnet34"])
    per_model = f'"pipeline.models.resnet34.overrides=[{quoted}]"'
    overrides = " ".join([*tiny_overrides(tmp_path), per_model, "pipeline.steps=[build_datasets,train_resnet34]",
                          "'pipeline.note=via mlflow run'"])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = subprocess_env(uri)
    proc = subprocess.run([sys.executable, "-m", "mlflow", "run", str(REPO), "--env-manager", "local",
                           "--experiment-name", "gaa-test", "-P", f"overrides={overrides}"],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("gaa-test").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.data.tags["gaa.step"] == "pipeline"
    assert parent.data.tags["mlflow.note.content"] == "via mlflow run"
    children = sorted(r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id)
    assert children == ["build_dataset-resnet34", "build_dataset-ssd", "train-resnet34"]


def test_hydra_multirun_gives_one_parent_run_per_job(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = subprocess_env(uri)
    proc = subprocess.run([sys.executable, "-m", "gaa_mlops.pipeline", "-m", *tiny_overrides(tmp_path),
                           "pipeline.steps=[build_datasets]", "trainer.lr=0.01,0.003",
                           f"hydra.sweep.dir={tmp_path / 'multirun'}"],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("gaa-test").experiment_id],
                              filter_string="tags.`gaa.step` = 'pipeline'")
    assert sorted(r.data.params["trainer.lr"] for r in runs) == ["0.003", "0.01"]


def test_launcher_runs_the_entry_point_with_the_venv_when_python3_lacks_it():
    """`.venv/bin/mlflow run .` without an activated venv: MLproject's python3 has no dependencies."""
    from pathlib import Path

    bare = Path(sys.base_prefix) / "bin" / "python3"      # -S: none of its site-packages either
    proc = subprocess.run([str(bare), "-S", "-m", "gaa_mlops.launch", "train", "--help"], cwd=REPO,
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Powered by Hydra" in proc.stdout


def test_launcher_without_any_usable_python_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    import pytest

    from gaa_mlops import launch

    monkeypatch.setattr(launch, "REQUIRED", ("no_such_module_for_gaa",))
    monkeypatch.setattr(launch, "VENV", tmp_path / ".venv")
    with pytest.raises(SystemExit) as exc:
        launch.main(["train"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no_such_module_for_gaa" in err and "make setup" in err
    with pytest.raises(SystemExit):
        launch.main(["no-such-entry"])
