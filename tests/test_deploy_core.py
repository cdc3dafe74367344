"""Safe-deploy logic on the local-directory target (no MLflow, no torch, no sshd: fast)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from gaa_mlops.cli import namespace_short_overrides
from gaa_mlops.deploy.core import LOG_NAME, LockError, SmokeCheckError, backups, deploy_file, rollback
from gaa_mlops.deploy.smoke import make_smoke, render
from gaa_mlops.deploy.targets import DeployError, LocalTarget


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def blob(tmp_path: Path, name: str, size: int = 100_000) -> tuple[str, str]:
    p = tmp_path / "src" / name
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(hashlib.sha256(name.encode()).digest() * (size // 32))
    return str(p), sha(p)


@pytest.fixture
def env(tmp_path):
    target = LocalTarget()
    path = str(tmp_path / "home/a/pytorch_ssd/weights/best_weight.pth")
    files = {n: blob(tmp_path, n) for n in ("v1", "v2", "v3")}
    return target, path, files


def log_entries(path) -> list[dict]:
    return [json.loads(line) for line in (Path(path).parent / LOG_NAME).read_text().splitlines()]


def test_deploy_redeploy_rollback(env):
    target, path, f = env
    quiet = dict(echo=lambda s: None)
    r1 = deploy_file(target, f["v1"][0], path, f["v1"][1], meta={"version": "1"}, **quiet)
    assert r1.action == "deploy" and r1.backup is None and sha(path) == f["v1"][1]
    r2 = deploy_file(target, f["v2"][0], path, f["v2"][1], meta={"version": "2"}, **quiet)
    assert sha(path) == f["v2"][1] and r2.previous_sha256 == f["v1"][1] and r2.previous_version == "1"
    assert sha(Path(path).parent / r2.backup) == f["v1"][1]
    assert deploy_file(target, f["v2"][0], path, f["v2"][1], meta={"version": "2"}, **quiet).action == "unchanged"
    deploy_file(target, f["v3"][0], path, f["v3"][1], meta={"version": "3"}, **quiet)
    rb = rollback(target, path, meta={"reason": "misses"}, **quiet)
    assert sha(path) == f["v2"][1] and rb.version == "2" and rb.previous_version == "3"
    rb = rollback(target, path, **quiet)  # walks further back
    assert sha(path) == f["v1"][1] and rb.version == "1"
    with pytest.raises(DeployError, match="nothing to roll back"):
        rollback(target, path, **quiet)
    assert sha(path) == f["v1"][1]
    actions = [e["action"] for e in log_entries(path)]
    assert actions == ["deploy", "deploy", "unchanged", "deploy", "rollback", "rollback"]
    assert log_entries(path)[4]["reason"] == "misses"
    names = os.listdir(Path(path).parent)
    assert not [n for n in names if n.endswith((".tmp", ".lock"))]


def test_keep_prunes_old_backups(env, tmp_path):
    target, path, _ = env
    for i in range(5):
        src, digest = blob(tmp_path, f"k{i}", 1000)
        deploy_file(target, src, path, digest, keep=2, echo=lambda s: None)
    assert len(backups(target, path)) == 2
    with pytest.raises(DeployError, match="keep must be at least 1"):
        deploy_file(target, src, path, digest, keep=0, echo=lambda s: None)


def test_dry_run_touches_nothing(env):
    target, path, f = env
    out = []
    r = deploy_file(target, f["v1"][0], path, f["v1"][1], dry_run=True, echo=out.append)
    assert r.action == "dry-run" and not Path(path).parent.exists()
    assert "rename the temp file over" in out[0] and "dry run" in out[0]
    deploy_file(target, f["v1"][0], path, f["v1"][1], echo=lambda s: None)
    before = sorted(os.listdir(Path(path).parent))
    deploy_file(target, f["v2"][0], path, f["v2"][1], dry_run=True, echo=out.append)
    rollback(target, path, dry_run=True, echo=out.append)
    assert sorted(os.listdir(Path(path).parent)) == before and sha(path) == f["v1"][1]
    assert "no backup to restore" in out[-1]


def test_lock_refuses_second_deploy_and_can_be_broken(env):
    target, path, f = env
    deploy_file(target, f["v1"][0], path, f["v1"][1], echo=lambda s: None)
    Path(path + ".lock").write_text(json.dumps({"user": "bob", "host": "laptop", "pid": 1, "since": "then"}))
    with pytest.raises(LockError, match="bob@laptop"):
        deploy_file(target, f["v2"][0], path, f["v2"][1], echo=lambda s: None)
    with pytest.raises(LockError):
        rollback(target, path, echo=lambda s: None)
    assert sha(path) == f["v1"][1]
    deploy_file(target, f["v2"][0], path, f["v2"][1], break_lock=True, echo=lambda s: None)
    assert sha(path) == f["v2"][1] and not Path(path + ".lock").exists()


def test_verify_mismatch_leaves_old_file(env):
    target, path, f = env
    deploy_file(target, f["v1"][0], path, f["v1"][1], echo=lambda s: None)
    with pytest.raises(DeployError, match="expected"):
        deploy_file(target, f["v2"][0], path, "0" * 64, echo=lambda s: None)
    assert sha(path) == f["v1"][1]
    assert sorted(os.listdir(Path(path).parent)) == ["best_weight.pth", LOG_NAME]


def test_interrupted_upload_leaves_old_file_and_next_deploy_cleans_up(env):
    target, path, f = env
    deploy_file(target, f["v1"][0], path, f["v1"][1], echo=lambda s: None)

    def die(done, total):
        raise KeyboardInterrupt  # like Ctrl-C mid-upload

    with pytest.raises(KeyboardInterrupt):
        deploy_file(target, f["v2"][0], path, f["v2"][1], on_progress=die, echo=lambda s: None)
    assert sha(path) == f["v1"][1]
    deploy_file(target, f["v2"][0], path, f["v2"][1], echo=lambda s: None)
    assert sha(path) == f["v2"][1]
    assert not [n for n in os.listdir(Path(path).parent) if n.endswith((".tmp", ".lock"))]


def test_parent_is_a_file(tmp_path, env):
    target, _, f = env
    (tmp_path / "home").write_text("not a directory")
    with pytest.raises(DeployError, match="not a directory|NotADirectory|FileExists"):
        deploy_file(target, f["v1"][0], str(tmp_path / "home/a/best_weight.pth"), f["v1"][1], echo=lambda s: None)


def test_failing_smoke_check_rolls_back(env, tmp_path):
    target, path, f = env
    flag = tmp_path / "fail now"
    smoke = make_smoke(target, "test ! -e {sample} && test -s {weights}", {"sample": str(flag), "weights": path},
                       timeout_s=10, echo=lambda s: None)
    deploy_file(target, f["v1"][0], path, f["v1"][1], smoke=smoke, meta={"version": "1"}, echo=lambda s: None)
    flag.write_text("x")
    with pytest.raises(SmokeCheckError, match="rolled back automatically.*version 1"):
        deploy_file(target, f["v2"][0], path, f["v2"][1], smoke=smoke, meta={"version": "2"}, echo=lambda s: None)
    assert sha(path) == f["v1"][1]
    assert [e["action"] for e in log_entries(path)] == ["deploy", "deploy", "auto-rollback"]


def test_smoke_template_quotes_values():
    line = render("ls {weights} ${HOME}", {"weights": "/x/a b; rm -rf /"})
    assert line == "ls '/x/a b; rm -rf /' ${HOME}"
    with pytest.raises(DeployError, match="unknown placeholder.*valid"):
        render("run {nope}", {"weights": "w"})


def test_short_overrides():
    argv = ["model=ssd", "version=7", "deploy.host=h", "dry_run=true", "+x=1"]
    assert namespace_short_overrides(argv, "deploy", ("version", "dry_run")) == [
        "model=ssd", "deploy.version=7", "deploy.host=h", "deploy.dry_run=true", "+x=1"]
