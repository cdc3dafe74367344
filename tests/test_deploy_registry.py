"""Deploy from the MLflow registry: tiny real weight files registered in a tmp sqlite store, deployed over
a real sshd (tests/sshd.py) and to the local target through the Hydra config.

Bad input (unknown model/alias/version, a version without best_weight.pth, a sha256 or arch that does
not match) must fail before the target is touched: the deployed file's sha256 is checked each time.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient

from gaa_mlops import registry
from gaa_mlops.deploy import cli
from gaa_mlops.deploy.cli import CONF_DIR, main_cfg, run_deploy, run_rollback
from gaa_mlops.deploy.targets import DeployError, SshTarget
from game_eye.models import build_detector
from game_eye.weights import WeightFileError, file_sha256, save_weights
from tests.sshd import sshd_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(180)]
QUIET = dict(echo=lambda s: None)
REPO = Path(__file__).resolve().parents[1]


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tiny_ssd_weights(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    kwargs = {"channels": [8, 8, 8, 16, 16]}
    model = build_detector("ssd_tiny", 2, (64, 64), **kwargs)
    return save_weights(path, {"arch": "ssd_tiny", "num_classes": 2, "classes": ["background", "close"],
                               "image_size": [64, 64], "model_kwargs": kwargs, "state_dict": model.state_dict(),
                               "score_threshold": 0.5})


@pytest.fixture(scope="module")
def store(module_tmp):
    """A sqlite store: gaa-ssd v1 (champion), v2, v3 (no best_weight.pth), v4 (wrong weights_sha256)."""
    root = module_tmp
    uri = f"sqlite:///{root / 'mlflow.db'}"
    old_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp = client.create_experiment("deploy-tests", artifact_location=(root / "artifacts").as_uri())
    files = {}

    def register(name, local: Path | None, tags: dict, alias=None):
        run = client.create_run(exp)
        if local is not None:
            client.log_artifact(run.info.run_id, str(local), "weights")
        else:
            other = root / "readme.txt"
            other.write_text("no weights here")
            client.log_artifact(run.info.run_id, str(other), "weights")
        client.set_terminated(run.info.run_id)
        return registry.register_weights(client, name, run.info.run_id, tags, alias=alias)

    for v, seed in ((1, 1), (2, 2)):
        w = tiny_ssd_weights(root / f"w{v}" / "best_weight.pth", seed)
        files[v] = (w, file_sha256(w))
        register("gaa-ssd", w, {"weights_sha256": files[v][1]}, alias="champion" if v == 1 else "candidate")
    register("gaa-ssd", None, {"weights_sha256": "0" * 64})                              # v3
    register("gaa-ssd", files[2][0], {"weights_sha256": "f" * 64})                       # v4
    register("gaa-resnet34", files[1][0], {"weights_sha256": files[1][1]}, alias="champion")  # a detector!
    yield uri, client, files, root
    mlflow.set_tracking_uri(old_uri)


@pytest.fixture
def server(sshd_server, tmp_path):  # noqa: F811
    sshd_server.set_fault(None)
    paths = {"ssd": str(tmp_path / "home/a/pytorch_ssd/weights/best_weight.pth"),
             "resnet34": str(tmp_path / "home/a/resset/weights/best_weight.pth")}
    return sshd_server, paths


def test_deploy_champion_then_version_then_rollback_over_ssh(store, server, monkeypatch):
    _, client, files, _ = store
    srv, paths = server
    monkeypatch.setenv("GAA_DEPLOY_PASSWORD", "never-stored-anywhere")
    smoke = {"enabled": True, "command": "test -s {weights} && test -n {version}", "timeout_s": 30}
    with SshTarget(**srv.ssh_settings(password_env="GAA_DEPLOY_PASSWORD")) as t:
        r = run_deploy(client, model="ssd", registered_name="gaa-ssd", target=t, paths=paths, smoke=smoke, **QUIET)
        assert (r.action, r.version) == ("deploy", "1") and sha(paths["ssd"]) == files[1][1]
        r = run_deploy(client, model="ssd", registered_name="gaa-ssd", target=t, paths=paths, version=2, **QUIET)
        assert r.previous_version == "1" and sha(paths["ssd"]) == files[2][1]
        rb = run_rollback(client, model="ssd", registered_name="gaa-ssd", target=t, paths=paths, reason="x", **QUIET)
        assert (rb.version, rb.previous_version) == ("1", "2") and sha(paths["ssd"]) == files[1][1]
    v1, v2 = (client.get_model_version("gaa-ssd", v).tags for v in ("1", "2"))
    assert v1["deployed_to"] == f"ssh://{srv.user}@127.0.0.1:{srv.port}{paths['ssd']}" and v1["deployed_at"]
    assert v2["rolled_back_from"] == v1["deployed_to"] and v2["rolled_back_at"]
    everything = json.dumps([v1, v2]) + (Path(paths["ssd"]).parent / "deploy_log.jsonl").read_text()
    assert "never-stored-anywhere" not in everything


@pytest.mark.parametrize("kwargs, error", [
    (dict(registered_name="gaa-nope"), "does not exist; existing: .*gaa-ssd"),
    (dict(alias="nope"), "no alias 'nope'; existing aliases: .*champion"),
    (dict(version=99), "no version 99; existing: \\[1, 2, 3, 4\\]"),
    (dict(version=3), "no best_weight.pth"),
    (dict(version=4), "sha256 does not match"),
    (dict(model="resnet34", registered_name="gaa-resnet34"), "arch 'ssd_tiny'"),
    (dict(model="vgg"), "no deploy path for model 'vgg'"),
])
def test_bad_input_leaves_deployed_file(store, server, kwargs, error):
    _, client, files, _ = store
    srv, paths = server
    with SshTarget(**srv.ssh_settings()) as t:
        for model in ("ssd", "resnet34"):
            Path(paths[model]).parent.mkdir(parents=True)
            Path(paths[model]).write_bytes(Path(files[2][0]).read_bytes())
        args = dict(model="ssd", registered_name="gaa-ssd", target=t, paths=paths, **QUIET)
        with pytest.raises((LookupError, DeployError, WeightFileError), match=error):
            run_deploy(client, **{**args, **kwargs})
    assert sha(paths["ssd"]) == sha(paths["resnet34"]) == files[2][1]
    assert sorted(os.listdir(Path(paths["ssd"]).parent)) == ["best_weight.pth"]


def compose_cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def test_hydra_config_local_target_dry_run_and_deploy(store, tmp_path, capsys):
    uri, client, files, _ = store
    base = ["model=ssd", f"tracking.uri={uri}", f"paths.root={tmp_path}"]
    r = main_cfg(compose_cfg(base + ["deploy.dry_run=true"]))
    assert r.action == "dry-run" and not (tmp_path / "deploy_target").exists()
    assert "gaa-ssd version 1" in capsys.readouterr().out
    deployed = tmp_path / "deploy_target/home/a/pytorch_ssd/weights/best_weight.pth"
    main_cfg(compose_cfg(base))
    r = main_cfg(compose_cfg(base + ["deploy.version=2"]))
    assert r.previous_version == "1" and sha(deployed) == files[2][1]
    assert client.get_model_version("gaa-ssd", "2").tags["deployed_to"] == f"file://{os.uname().nodename}{deployed}"
    r = main_cfg(compose_cfg(base + ["deploy.action=rollback", "deploy.reason=regression"]))
    assert (r.action, r.version) == ("rollback", "1") and sha(deployed) == files[1][1]


def test_hydra_config_ssh_target(store, server):
    uri, _, files, _ = store
    srv, paths = server
    s = srv.ssh_settings()
    cfg = compose_cfg(["model=ssd", "deploy=ssh", f"tracking.uri={uri}", f"deploy.host={s['host']}",
                       f"deploy.port={s['port']}", f"deploy.user={s['user']}", f"deploy.key_file={s['key_file']}",
                       f"deploy.known_hosts={s['known_hosts']}", f"deploy.paths.ssd={paths['ssd']}",
                       "deploy.smoke.command='test -s {ssd_weights}'", "deploy.alias=candidate"])
    r = main_cfg(cfg)
    assert r.version == "2" and sha(paths["ssd"]) == files[2][1]


def test_cli_main_in_process(store, tmp_path, monkeypatch, capsys):
    """gaa-deploy / python -m gaa_mlops.deploy with the short overrides (version=, reason=)."""
    uri, _, files, _ = store
    args = ["model=ssd", f"tracking.uri={uri}", f"paths.root={tmp_path}", f"hydra.run.dir={tmp_path / 'hydra'}"]
    monkeypatch.setattr(sys, "argv", ["gaa-deploy"] + args + ["version=1", "reason=first deploy"])
    cli.main()
    deployed = tmp_path / "deploy_target/home/a/pytorch_ssd/weights"
    assert sha(deployed / "best_weight.pth") == files[1][1]
    entry = json.loads((deployed / "deploy_log.jsonl").read_text().splitlines()[-1])
    assert entry["reason"] == "first deploy" and entry["version"] == "1"
    monkeypatch.setattr(sys, "argv", ["gaa-deploy"] + args + ["version=99"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 1 and "no version 99; existing: [1, 2, 3, 4]" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["gaa-deploy"] + args + ["deploy=ssh"])
    with pytest.raises(SystemExit):
        cli.main()
    assert "deploy.host is not set" in capsys.readouterr().err
    assert sha(deployed / "best_weight.pth") == files[1][1]


@pytest.mark.slow
def test_python_dash_m_entry_point(store, tmp_path):
    uri, _, files, _ = store
    cmd = [sys.executable, "-m", "gaa_mlops.deploy", "model=ssd", f"tracking.uri={uri}", f"paths.root={tmp_path}",
           "alias=champion", "dry_run=true", f"hydra.run.dir={tmp_path / 'hydra'}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dry run, nothing is touched" in proc.stdout and not (tmp_path / "deploy_target").exists()
