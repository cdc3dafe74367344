"""gaa_mlops against a real shared tracking server: PostgreSQL backend store, proxied artifacts.

One PostgreSQL and one ``mlflow server --serve-artifacts`` for the session (tests/pg_server.py);
these tests never skip: without PostgreSQL they fail and say how to install it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import pytest
from hydra import compose
from mlflow import MlflowClient

from gaa_mlops import registry
from gaa_mlops.data.build import build_for_config
from gaa_mlops.pipeline import model_config
from gaa_mlops.tracking import TrackingError
from gaa_mlops.train import train
from gaa_mlops.training.checkpoint import load_checkpoint
from gaa_mlops.training.recovery import kept_checkpoint
from game_eye.weights import file_sha256
from tests.pg_server import MlflowServer, PostgresServer
from tests.tiny import MODEL_OVERRIDES, compose_tiny, hydra_init, tiny_overrides

pytestmark = pytest.mark.pgserver


class Stack:
    def __init__(self, pg: PostgresServer, server: MlflowServer):
        self.pg, self.server = pg, server


@pytest.fixture(scope="module")
def tracking_server(module_tmp):
    pg = PostgresServer.start()
    server = None
    try:
        backend = pg.create_database("mlflow")
        server = MlflowServer.start(module_tmp, backend)
        yield Stack(pg, server)
    finally:
        if server is not None:
            server.stop()
        pg.stop()


@pytest.fixture
def hydra_conf(monkeypatch):
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    with hydra_init():
        yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


def _server_overrides(root: Path, uri: str, experiment: str) -> list[str]:
    return [*tiny_overrides(root, experiment), f"tracking.uri={uri}"]


def test_tracking_server_config_reads_the_environment(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow-host:5000")
    with hydra_init():
        cfg = compose(config_name="config", overrides=["tracking=server"])
    assert cfg.tracking.uri == "http://mlflow-host:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    with hydra_init():
        assert compose(config_name="config", overrides=["tracking=server"]).tracking.uri == "http://127.0.0.1:5000"


def test_pipeline_through_the_server(tmp_path, hydra_conf, tracking_server):
    from gaa_mlops.pipeline import run_pipeline

    server = tracking_server.server
    per_model = [f"pipeline.models.{m}.overrides=[{','.join(repr(x) for x in o)}]" for m, o in MODEL_OVERRIDES.items()]
    ov = [*_server_overrides(tmp_path, server.uri, "gaa-server-pipeline"), *per_model, "pipeline.note=through server"]
    summary = run_pipeline(compose(config_name="config", overrides=ov), ov)

    # nothing went to a local store: everything is on the server
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    client = MlflowClient(server.uri)
    parent = client.get_run(summary["run_id"])
    assert parent.data.tags["mlflow.note.content"] == "through server"
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.info.run_name for r in children) == [
        "build_dataset-resnet34", "build_dataset-ssd", "evaluate", "register-game-eye", "train-resnet34", "train-ssd"]
    for model, name in (("ssd", "gaa-ssd"), ("resnet34", "gaa-resnet34")):
        run = client.get_run(summary[f"train_{model}"]["run_id"])
        # artifacts are proxied: the client sees mlflow-artifacts:/..., the server stores them
        assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
        arts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config.yaml", "code", "checkpoints", "plots"} <= arts
        mv = client.get_model_version(name, str(summary[f"train_{model}"]["version"]))
        # the version is the run's logged model; the server stores its weight file
        model_id = registry.logged_model_id(mv)
        assert mv.source == f"models:/{model_id}" and client.get_logged_model(model_id).source_run_id == run.info.run_id
        stored = list(server.artifacts.rglob(f"models/{model_id}/artifacts/artifacts/best_weight.pth"))
        assert len(stored) == 1
        # dataset input (its source: the archive on the server), registered version, aliases
        ds = run.inputs.dataset_inputs[0].dataset
        assert ds.digest and summary[f"train_{model}"]["dataset_digest"].startswith(ds.digest[:8])
        assert ds.source_type == "mlflow_artifact"
        assert json.loads(ds.source)["uri"].startswith("mlflow-artifacts:") and ds.source.endswith("data_set.tar.gz\"}")
        mv = client.get_model_version(name, str(summary[f"train_{model}"]["version"]))
        assert "candidate" in mv.aliases and mv.run_id == run.info.run_id
        champion = client.get_model_version_by_alias(name, "champion")
        # deploy (local target) fetched the champion's weights through the server
        deployed = summary["deploy"][model]
        assert str(deployed["version"]) == str(champion.version)
        assert file_sha256(deployed["path"]) == champion.tags["weights_sha256"]
        assert file_sha256(stored[0]) == mv.tags["weights_sha256"]
    # a second machine (its own, empty datasets folder) trains on the bytes the first one built
    second = model_config(ov, "ssd", "ssd", [*MODEL_OVERRIDES["ssd"], f"paths.datasets_dir={tmp_path / 'machine2'}"])
    fetched = build_for_config(second)
    built_by = next(r for r in children if r.info.run_name == "build_dataset-ssd")
    assert fetched.cache_hit and fetched.extra["fetched_from"] == built_by.info.run_id
    first = Path(model_config(ov, "ssd", "ssd", MODEL_OVERRIDES["ssd"]).paths.datasets_dir) / fetched.name
    assert first != fetched.path and list(first.rglob("*.png"))
    assert all(file_sha256(f) == file_sha256(fetched.path / f.relative_to(first))
               for f in first.rglob("*.png")) and (fetched.path / "manifest.json").read_bytes() == (
        first / "manifest.json").read_bytes()
    # and the backend store really is PostgreSQL
    import psycopg2
    with psycopg2.connect(host="127.0.0.1", port=tracking_server.pg.port, user="gaa", dbname="mlflow") as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs WHERE experiment_id = %s", (int(parent.info.experiment_id),))
            assert cur.fetchone()[0] == 7     # the parent and its 6 children
            cur.execute("SELECT count(*) FROM model_versions WHERE name IN ('gaa-ssd', 'gaa-resnet34')")
            assert cur.fetchone()[0] >= 2


def test_server_stopped_mid_run_then_resume(tmp_path, hydra_conf, tracking_server, monkeypatch):
    server = tracking_server.server
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")   # fail now, not after minutes of backoff
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    real_log_artifact = mlflow.log_artifact
    stopped = []

    def log_artifact_then_stop_server(local_path, artifact_path=None, **kw):
        real_log_artifact(local_path, artifact_path=artifact_path, **kw)
        if artifact_path == "checkpoints" and not stopped:   # epoch 1 is on the server; now it goes away
            server.stop()
            stopped.append(True)

    monkeypatch.setattr(mlflow, "log_artifact", log_artifact_then_stop_server)
    ov = [*MODEL_OVERRIDES["resnet34"], f"tracking.uri={server.uri}", "tracking.experiment_name=gaa-server-outage",
          "trainer.epochs=2"]
    try:
        with pytest.raises(TrackingError) as err:
            train(compose_tiny(tmp_path, "resnet34", *ov))
    finally:
        monkeypatch.setattr(mlflow, "log_artifact", real_log_artifact)
        server.restart()
    message = str(err.value)
    assert server.uri in message and "stopped answering" in message
    run_id = message.split("trainer.resume=")[1].split()[0]
    assert mlflow.active_run() is None
    kept = kept_checkpoint(tmp_path, run_id)
    assert str(kept) in message
    assert load_checkpoint(kept)["epoch"] == 2          # epoch 2 trained while the server was down: kept

    client = MlflowClient(server.uri)
    assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [1]
    summary = train(compose_tiny(tmp_path, "resnet34", *ov, f"trainer.resume={run_id}"))
    assert summary["run_id"] == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert sorted(m.step for m in client.get_metric_history(run_id, "train_loss")) == [1, 2]
    with pytest.MonkeyPatch.context():
        dl = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoints/last.pth",
                                                 dst_path=str(tmp_path / "dl"), tracking_uri=server.uri)
    assert load_checkpoint(dl)["epoch"] == 2             # uploaded again once the server was back
    assert not kept.exists()
    mv = client.get_model_version("gaa-resnet34", str(summary["version"]))
    assert mv.run_id == run_id and "candidate" in mv.aliases


def test_basic_auth_credentials_come_from_the_environment_and_are_never_logged(
        tmp_path, hydra_conf, tracking_server, monkeypatch):
    password = "s3cret-Pa55-" + os.urandom(4).hex()
    backend = tracking_server.pg.create_database("mlflow_auth")
    server = MlflowServer.start(tmp_path / "auth-server", backend, extra_args=("--app-name", "basic-auth"),
                                env={"MLFLOW_AUTH_ADMIN_PASSWORD": password,
                                     "MLFLOW_FLASK_SERVER_SECRET_KEY": os.urandom(16).hex()})
    try:
        ov = [*MODEL_OVERRIDES["resnet34"], f"tracking.uri={server.uri}", "tracking.experiment_name=gaa-server-auth"]
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        with pytest.raises(Exception, match="401|[Uu]nauthorized|credentials"):
            train(compose_tiny(tmp_path, "resnet34", *ov))
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        summary = train(compose_tiny(tmp_path, "resnet34", *ov))
        client = MlflowClient(server.uri)
        run = client.get_run(summary["run_id"])
        assert run.data.params["tracking.uri"] == server.uri
        logged = [*run.data.params.values(), *run.data.tags.values()]
        config = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/config.yaml")
        mv = client.get_model_version("gaa-resnet34", str(summary["version"]))
        everything = "\n".join([*logged, config, *mv.tags.values(), *run.data.params])
        assert password not in everything
        assert "MLFLOW_TRACKING_PASSWORD" not in everything
    finally:
        server.stop()
    assert password not in server.log_file.read_text()


def test_mlflow_run_entry_point_against_the_server(tmp_path, tracking_server):
    """`mlflow run -e train` with tracking=server: with --experiment-name X the run and its version are
    in X on the server; without it, in the server's Default. The server already holds other runs."""
    import subprocess
    import sys

    from tests.tiny import REPO, subprocess_env

    server = tracking_server.server
    tiny = [o for o in tiny_overrides(tmp_path) if not o.startswith("tracking.")]
    overrides = " ".join([*tiny, "tracking=server", f"tracking.uri={server.uri}", "model=resnet34",
                          *MODEL_OVERRIDES["resnet34"]])
    for experiment in ("gaa-server-mlflow-run", None):
        named = ["--experiment-name", experiment] if experiment else []
        proc = subprocess.run([sys.executable, "-m", "mlflow", "run", str(REPO), "-e", "train", "--env-manager",
                               "local", *named, "-P", f"overrides={overrides}"],
                              env=subprocess_env(server.uri), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(server.uri)
    for experiment in ("gaa-server-mlflow-run", "Default"):
        exp = client.get_experiment_by_name(experiment)
        (run,) = client.search_runs([exp.experiment_id], filter_string="tags.registered_model = 'gaa-resnet34'")
        assert run.info.status == "FINISHED" and run.info.artifact_uri.startswith("mlflow-artifacts:")
        (mv,) = client.search_model_versions(f"run_id = '{run.info.run_id}'")
        assert mv.name == "gaa-resnet34"
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
