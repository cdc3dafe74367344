"""README's `mlflow run` examples, taken from README.md itself, work on a fresh store without an
activated venv, and put the runs and versions where README says (issue: the design card's first use).

The commands run as README writes them; only the test's tiny sizes and tmp paths are appended to
their `-P overrides=...` string.

Run: pytest tests/test_readme_commands.py
"""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from mlflow import MlflowClient

from tests.tiny import MODEL_OVERRIDES, REPO, tiny_overrides

COMMAND = re.compile(r"^(?:\.venv/bin/)?mlflow run \..*$", re.MULTILINE)


def readme_mlflow_runs() -> list[str]:
    return COMMAND.findall((REPO / "README.md").read_text())


def _with_tiny_sizes(command: str, root, model: str | None) -> list[str]:
    argv = shlex.split(command)
    i = argv.index("-P")
    key, value = argv[i + 1].split("=", 1)
    assert key == "overrides", command
    tiny = [o for o in tiny_overrides(root) if not o.startswith(("tracking.experiment_name", "experiment="))]
    per_model = MODEL_OVERRIDES[model] if model else [
        '"pipeline.models.ssd.overrides=[' + ",".join(f"'{o}'" for o in MODEL_OVERRIDES["ssd"]) + ']"',
        '"pipeline.models.resnet34.overrides=[' + ",".join(f"'{o}'" for o in MODEL_OVERRIDES["resnet34"]) + ']"']
    argv[i + 1] = f"{key}={value} {' '.join(tiny + per_model)}"
    return argv


def _run(argv, root):
    """Run a README line from the repo root, as a user does, on a fresh store in ``root``."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri = f"sqlite:///{root / 'mlflow.db'}"
    # The store's experiments keep their artifacts in root, not in the checkout: left to MLflow they
    # would take ./mlruns of the command's cwd, the repo.
    store = SqlAlchemyStore(uri, str(root / "mlruns"))
    if "--experiment-name" in argv:
        name = argv[argv.index("--experiment-name") + 1]
        store.create_experiment(name, artifact_location=(root / "mlruns" / name).as_uri())
    store.engine.dispose()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "MLFLOW_TRACKING_URI": uri}
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def test_readme_shows_the_forms_this_test_runs():
    commands = readme_mlflow_runs()
    assert any(" -e " not in c for c in commands), "the pipeline (main entry point) example"
    assert any("-e train" in c and "--experiment-name" in c for c in commands)
    assert all(c.startswith(".venv/bin/mlflow run .") for c in commands), "README must not need an activated venv"


def test_readme_pipeline_example_on_a_fresh_store(tmp_path):
    (command,) = [c for c in readme_mlflow_runs() if " -e " not in c]
    proc = _run(_with_tiny_sizes(command, tmp_path, None), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("Default")       # no --experiment-name: where mlflow run put its run
    assert Path(exp.artifact_location.removeprefix("file://")).is_relative_to(tmp_path)
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.data.tags["gaa.step"] == "pipeline" and parent.info.status == "FINISHED"
    assert "more kanji negatives" in parent.data.tags["mlflow.note.content"]
    children = {r.data.tags.get("gaa.step") for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert {"train", "evaluate"} <= children
    for name in ("gaa-ssd", "gaa-resnet34"):
        (mv,) = client.search_model_versions(f"name='{name}'")
        assert client.get_run(mv.run_id).info.experiment_id == exp.experiment_id
    assert "logging there" in proc.stdout + proc.stderr   # it says where everything went


def test_readme_train_example_goes_to_the_named_experiment(tmp_path):
    (command,) = [c for c in readme_mlflow_runs() if "-e train" in c]
    name = shlex.split(command)[shlex.split(command).index("--experiment-name") + 1]
    proc = _run(_with_tiny_sizes(command, tmp_path, "ssd"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name(name)
    assert Path(exp.artifact_location.removeprefix("file://")).is_relative_to(tmp_path)
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.tags["registered_model"] == "gaa-ssd" and run.info.status == "FINISHED"
    assert client.search_runs([client.get_experiment_by_name("Default").experiment_id]) == []
