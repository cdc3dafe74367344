"""Deploys that die, and deletes that must not erase what a server runs.

A deploy is killed with SIGKILL at points across its life (download, lock, upload, verify, backup,
rename, log); after each kill a plain deploy must succeed, the target must hold the old or the new
file, never a partial one, and the deploy log, the registry's record of what runs there and the
file must agree. Real files, a real sqlite MLflow store, real processes; the local target stands in
for the server (the SSH target shares the same logic, tests/test_deploy_ssh.py).

Run: pytest tests/test_deploy_faults.py
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from mlflow import MlflowClient

from gaa_mlops import outputs, registry
from gaa_mlops.deploy import live
from gaa_mlops.deploy.cli import DOWNLOAD_PREFIX, run_deploy, sweep_stale_downloads
from gaa_mlops.deploy.core import LOG_NAME, rollback
from gaa_mlops.deploy.targets import DeployError, LocalTarget
from game_eye.weights import file_sha256
from tests.test_deploy_registry import tiny_ssd_weights

REPO = Path(__file__).resolve().parents[1]
QUIET = dict(echo=lambda s: None)

KILLER = textwrap.dedent("""
    import os, signal, sys
    from mlflow import MlflowClient
    from gaa_mlops import registry
    from gaa_mlops.deploy import cli
    from gaa_mlops.deploy.targets import LocalTarget

    uri, path, version, method, nth, when = sys.argv[1:7]
    calls = {"n": 0}

    def killing(owner, name):
        original = getattr(owner, name)

        def wrapped(*a, **k):
            calls["n"] += 1
            if calls["n"] == int(nth) and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            out = original(*a, **k)
            if calls["n"] == int(nth) and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        return wrapped

    if method == "download":
        registry.download_weights = killing(registry, "download_weights")
    else:
        setattr(LocalTarget, method, killing(LocalTarget, method))
    cli.run_deploy(MlflowClient(uri), model="ssd", registered_name="gaa-ssd", target=LocalTarget(),
                   paths={"ssd": path}, version=version, echo=lambda s: None)
    print("survived")
""")

# (method, nth call, before|after): sha256 calls are 1 the current file, 2 the upload, 3 the backup
KILL_POINTS = [("download", 1, "after"), ("makedirs", 1, "after"), ("create_exclusive", 1, "after"),
               ("put", 1, "after"), ("sha256", 2, "after"), ("link_or_copy", 1, "after"),
               ("rename", 1, "before"), ("rename", 1, "after"), ("append", 1, "before"),
               ("append", 1, "after")]


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Two pipeline outputs, each with one gaa-ssd version (v1 champion, v2), in a sqlite store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    client = MlflowClient(uri)
    exp = client.create_experiment("faults", artifact_location=(tmp_path / "mlruns").as_uri())
    out = {"uri": uri, "client": client, "root": tmp_path, "sha": {}, "parent": {}}
    for v in (1, 2):
        parent = client.create_run(exp, tags={"gaa.step": "pipeline"})
        child = client.create_run(exp, tags={"mlflow.parentRunId": parent.info.run_id, "gaa.step": "train"})
        w = tiny_ssd_weights(tmp_path / f"w{v}" / "best_weight.pth", seed=v)
        client.log_artifact(child.info.run_id, str(w), "weights")
        for r in (child, parent):
            client.set_terminated(r.info.run_id)
        registry.register_weights(client, "gaa-ssd", child.info.run_id, {"weights_sha256": file_sha256(w)},
                                  alias="champion" if v == 1 else None)
        out["sha"][str(v)], out["parent"][str(v)] = file_sha256(w), parent.info.run_id
    return out


def _deploy(store, path, version):
    return run_deploy(store["client"], model="ssd", registered_name="gaa-ssd", target=LocalTarget(),
                      paths={"ssd": str(path)}, version=version, **QUIET)


def _log(path) -> list[dict]:
    return [json.loads(line) for line in (Path(path).parent / LOG_NAME).read_text().splitlines()]


def test_a_killed_deploy_never_blocks_the_next_nor_leaves_a_partial_file(store):
    path = store["root"] / "server/home/a/pytorch_ssd/weights/best_weight.pth"
    _deploy(store, path, "1")
    version_of = {sha: v for v, sha in store["sha"].items()}
    where = LocalTarget().describe(str(path))
    current = "1"
    for method, nth, when in KILL_POINTS:
        new = "2" if current == "1" else "1"
        proc = subprocess.run([sys.executable, "-c", KILLER, store["uri"], str(path), new, method, str(nth), when],
                              cwd=REPO, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        point = f"kill at {when} {method} #{nth}"
        assert proc.returncode == -signal.SIGKILL, (point, proc.stdout, proc.stderr[-2000:])
        held = file_sha256(path)
        assert held in (store["sha"][current], store["sha"][new]), point
        # what runs there is still on record: nothing may delete it
        assert where in live.targets_running(store["client"], "gaa-ssd", version_of[held]), point
        plain = "1" if version_of[held] == "2" else "2"
        result = _deploy(store, path, plain)                          # a plain deploy just works
        assert result.action == "deploy" and file_sha256(path) == store["sha"][plain], point
        names = os.listdir(path.parent)
        assert not [n for n in names if n.endswith((".tmp", ".lock"))], (point, names)
        assert not list(Path(tempfile.gettempdir()).glob(f"{DOWNLOAD_PREFIX}*")), point
        assert _log(path)[-1]["sha256"] == file_sha256(path), point
        assert live.targets_running(store["client"], "gaa-ssd", plain) == [where], point
        assert live.targets_running(store["client"], "gaa-ssd", "2" if plain == "1" else "1") == [], point
        current = plain
    assert "lock-taken-over" in [e["action"] for e in _log(path)]


def test_delete_refuses_a_version_that_another_target_still_runs(store, capsys):
    a = store["root"] / "A/best_weight.pth"
    b = store["root"] / "B/best_weight.pth"
    _deploy(store, a, "2")
    _deploy(store, b, "1")          # the newest deploy of gaa-ssd is v1, but A still runs v2
    uri = store["uri"]
    assert outputs.main(["--tracking-uri", uri, "delete", store["parent"]["2"], "--yes"]) == 1
    err = capsys.readouterr().err
    assert "refusing" in err and str(a) in err
    assert store["client"].get_model_version("gaa-ssd", "2").status == "READY"
    _deploy(store, a, "1")          # now no target runs v2
    assert outputs.main(["--tracking-uri", uri, "delete", store["parent"]["2"], "--yes"]) == 0
    assert [str(v.version) for v in store["client"].search_model_versions("name = 'gaa-ssd'")] == ["1"]


def test_delete_of_an_unknown_run_is_one_line(store, capsys):
    assert outputs.main(["--tracking-uri", store["uri"], "delete", "0" * 32, "--yes"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "0" * 32 in err and "Traceback" not in err


def test_a_lock_left_by_a_dead_deploy_on_this_host_is_taken_over(store):
    path = store["root"] / "server/best_weight.pth"
    _deploy(store, path, "1")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    Path(f"{path}.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "token": "x"}))
    assert _deploy(store, path, "2").action == "deploy"
    assert [e for e in _log(path) if e["action"] == "lock-taken-over"][0]["stale_pid"] == dead.pid
    # a live holder (this process's parent stands in for another deploy) is still respected
    Path(f"{path}.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid(), "token": "x"}))
    with pytest.raises(DeployError, match="is held by"):
        _deploy(store, path, "1")
    assert file_sha256(path) == store["sha"]["2"]


def test_stale_download_folders_are_swept(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(tempfile.gettempdir()) / f"{DOWNLOAD_PREFIX}{dead.pid}-abc"
    mine = Path(tempfile.gettempdir()) / f"{DOWNLOAD_PREFIX}{os.getpid()}-abc"
    for d in (stale, mine):
        d.mkdir()
        (d / "best_weight.pth").write_bytes(b"x" * 1000)
    assert sweep_stale_downloads() == [stale]
    assert not stale.exists() and mine.exists()


def test_rollback_where_nothing_was_ever_deployed_says_so(tmp_path):
    with pytest.raises(DeployError) as err:
        rollback(LocalTarget(), str(tmp_path / "never/best_weight.pth"), **QUIET)
    assert "nothing was ever deployed" in str(err.value) and "lock" not in str(err.value)
