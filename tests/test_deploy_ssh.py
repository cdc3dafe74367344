"""Deploy over SSH/SFTP against a real OpenSSH sshd on 127.0.0.1 (tests/sshd.py); no MLflow, no torch.

Every fault test checks that the old best_weight.pth's sha256 is unchanged. The server runs on
this machine, so "remote" paths are tmp dirs and the tests read them directly.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from gaa_mlops.deploy.core import LOG_NAME, LockError, SmokeCheckError, deploy_file, rollback
from gaa_mlops.deploy.smoke import make_smoke
from gaa_mlops.deploy.targets import ConnectError, DeployError, HostKeyError, LocalTarget, SshTarget, fingerprint
from tests.sshd import free_port, sshd_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]
QUIET = dict(echo=lambda s: None)


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def blob(folder: Path, name: str, size: int = 200_000) -> tuple[str, str]:
    p = folder / "src" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(hashlib.sha256(name.encode()).digest() * (size // 32))
    return str(p), sha(p)


@pytest.fixture
def ssh(sshd_server, tmp_path):  # noqa: F811
    """(server, target factory, remote path with v1 already deployed, {name: (file, sha)})."""
    sshd_server.set_fault(None)
    files = {n: blob(tmp_path, n) for n in ("v1", "v2", "v3")}
    path = str(tmp_path / "home/a/pytorch_ssd/weights/best_weight.pth")

    def target(**overrides) -> SshTarget:
        return SshTarget(**sshd_server.ssh_settings(**overrides)).connect()

    # the server is this machine: put v1 in place through the local target (saves a connection)
    deploy_file(LocalTarget(), files["v1"][0], path, files["v1"][1], meta={"version": "1"}, **QUIET)
    assert sha(path) == files["v1"][1]
    yield sshd_server, target, path, files
    sshd_server.set_fault(None)


def leftovers(path) -> list[str]:
    return [n for n in os.listdir(Path(path).parent) if n.endswith((".tmp", ".lock"))]


def test_deploy_redeploy_rollback(ssh):
    server, target, path, f = ssh
    with target() as t:
        r = deploy_file(t, f["v2"][0], path, f["v2"][1], meta={"version": "2"}, **QUIET)
        assert r.where.startswith(f"ssh://{server.user}@127.0.0.1:{server.port}/")
        assert sha(path) == f["v2"][1] and sha(Path(path).parent / r.backup) == f["v1"][1]
        deploy_file(t, f["v3"][0], path, f["v3"][1], meta={"version": "3"}, **QUIET)
        assert sha(path) == f["v3"][1]
        rb = rollback(t, path, meta={"reason": "too many misses"}, **QUIET)
        assert sha(path) == f["v2"][1] and (rb.version, rb.previous_version) == ("2", "3")
    log = [json.loads(x) for x in (Path(path).parent / LOG_NAME).read_text().splitlines()]
    assert [e["action"] for e in log] == ["deploy", "deploy", "deploy", "rollback"]
    assert log[-1]["reason"] == "too many misses" and log[-1]["sha256"] == f["v2"][1]
    assert not leftovers(path)


def test_hash_with_sha256sum_on_the_server(ssh):
    _, target, path, f = ssh
    with target(hash_method="sha256sum") as t:
        assert t.sha256(path) == f["v1"][1]
        deploy_file(t, f["v2"][0], path, f["v2"][1], **QUIET)
    assert sha(path) == f["v2"][1]


def test_dry_run_touches_nothing(ssh):
    _, target, path, f = ssh
    before = {n: sha(Path(path).parent / n) for n in os.listdir(Path(path).parent)}
    out = []
    with target() as t:
        r = deploy_file(t, f["v2"][0], path, f["v2"][1], dry_run=True, echo=out.append)
        rollback(t, path, dry_run=True, echo=out.append)
    assert r.action == "dry-run" and r.sha256 == f["v1"][1]
    assert {n: sha(Path(path).parent / n) for n in os.listdir(Path(path).parent)} == before
    assert f["v1"][1] in out[0] and "no backup to restore" in out[1]


def test_lock_stops_an_interleaved_deploy(ssh):
    _, target, path, f = ssh
    seen = []

    def second_deploy_midway(done, total):
        if seen:
            return
        with target() as other:  # another operator, while the first upload is in flight
            with pytest.raises(LockError, match="held by") as info:
                deploy_file(other, f["v3"][0], path, f["v3"][1], **QUIET)
        seen.append(str(info.value))

    with target() as t:
        deploy_file(t, f["v2"][0], path, f["v2"][1], on_progress=second_deploy_midway, **QUIET)
    assert seen and sha(path) == f["v2"][1] and not leftovers(path)


def test_upload_killed_midway_leaves_old_file(ssh):
    _, target, path, f = ssh
    big, big_sha = blob(Path(path).parent.parent, "big", 2_000_000)
    t = target()

    def cut(done, total):
        if done > total // 4:
            t.transport.close()  # the connection drops mid-write

    with pytest.raises(DeployError, match="uploading .* failed") as info:
        deploy_file(t, big, path, big_sha, on_progress=cut, **QUIET)
    t.close()
    assert "previous best_weight.pth was left in place" in str(info.value)
    assert sha(path) == f["v1"][1]
    assert Path(path + ".lock").exists()  # the dead connection could not unlock ...
    with target() as t2:
        with pytest.raises(LockError, match="break_lock=true"):
            deploy_file(t2, big, path, big_sha, **QUIET)
        deploy_file(t2, big, path, big_sha, break_lock=True, **QUIET)  # ... and the next deploy recovers
    assert sha(path) == big_sha and not leftovers(path)


def test_disk_full_leaves_old_file(ssh):
    server, target, path, f = ssh
    server.set_fault("efbig")  # writes past 8 KiB fail on the server, as on a full disk
    with target() as t:
        with pytest.raises(DeployError, match="uploading .* failed.*(disk|space|quota)"):
            deploy_file(t, f["v2"][0], path, f["v2"][1], **QUIET)
    assert sha(path) == f["v1"][1] and not leftovers(path)


def test_permission_denied_leaves_old_file(ssh, tmp_path):
    server, target, _, f = ssh
    root = Path(tempfile.mkdtemp(prefix="gaa-perm-"))  # traversable by uid 65534, writable only by root
    try:
        root.chmod(0o755)
        path = str(root / "weights/best_weight.pth")
        with target() as t:
            deploy_file(t, f["v1"][0], path, f["v1"][1], **QUIET)
        Path(path).parent.chmod(0o755)
        server.set_fault("nobody")  # the SFTP session runs as uid 65534: root's dir is really read-only
        with target() as t:
            with pytest.raises(DeployError, match="[Pp]ermission denied"):
                deploy_file(t, f["v2"][0], path, f["v2"][1], **QUIET)
        assert sha(path) == f["v1"][1] and not leftovers(path)
    finally:
        shutil.rmtree(root)


def test_parent_is_a_file(ssh, tmp_path):
    _, target, _, f = ssh
    (tmp_path / "notadir").write_text("x")
    with target() as t:
        with pytest.raises(DeployError, match="preparing the target directory failed"):
            deploy_file(t, f["v2"][0], str(tmp_path / "notadir/weights/best_weight.pth"), f["v2"][1], **QUIET)


def test_failing_smoke_check_rolls_back(ssh, tmp_path):
    _, target, path, f = ssh
    flag = tmp_path / "make smoke fail"
    with target() as t:
        smoke = make_smoke(t, "test ! -e {sample} && sha256sum {weights}", {"sample": str(flag), "weights": path},
                           timeout_s=30, echo=lambda s: None)
        deploy_file(t, f["v2"][0], path, f["v2"][1], smoke=smoke, meta={"version": "2"}, **QUIET)
        assert sha(path) == f["v2"][1]
        flag.write_text("fail")
        with pytest.raises(SmokeCheckError, match="rolled back automatically.*version 2"):
            deploy_file(t, f["v3"][0], path, f["v3"][1], smoke=smoke, meta={"version": "3"}, **QUIET)
    assert sha(path) == f["v2"][1] and not leftovers(path)


def test_hostile_path_is_quoted(ssh, tmp_path):
    _, target, _, f = ssh
    path = str(tmp_path / "it's $(touch PWNED); `touch PWNED2` dir/best_weight.pth")
    with target(hash_method="sha256sum") as t:  # paths go through a remote shell
        deploy_file(t, f["v1"][0], path, f["v1"][1], **QUIET)
        deploy_file(t, f["v2"][0], path, f["v2"][1], **QUIET)
    assert sha(path) == f["v2"][1]
    assert not list(Path.home().glob("PWNED*")) and not list(tmp_path.glob("PWNED*"))


def test_unknown_host_key_refused(ssh, tmp_path):
    server, target, path, f = ssh
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError, match="not in .*" + fingerprint(server.host_key).replace("+", r"\+")):
        target(known_hosts=str(empty))
    with pytest.raises(HostKeyError, match="does not exist"):
        target(known_hosts=str(tmp_path / "missing"))
    assert sha(path) == f["v1"][1]


def test_changed_host_key_refused(ssh, tmp_path):
    server, target, path, f = ssh
    forged = server.write_known_hosts(server.other_key, tmp_path / "old_known_hosts")
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED") as info:
        target(known_hosts=str(forged))
    assert fingerprint(server.host_key) in str(info.value) and fingerprint(server.other_key) in str(info.value)
    assert sha(path) == f["v1"][1]


def test_wrong_client_key_refused_and_password_not_shown(ssh, monkeypatch):
    server, target, path, f = ssh
    monkeypatch.setenv("GAA_TEST_DEPLOY_PW", "hunter2-secret")
    with pytest.raises(ConnectError, match="authentication failed") as info:
        target(key_file=str(server.other_key_file), allow_agent=False, password_env="GAA_TEST_DEPLOY_PW")
    assert "hunter2" not in str(info.value) and "$GAA_TEST_DEPLOY_PW" in str(info.value)
    assert sha(path) == f["v1"][1]


def test_host_unreachable(ssh):
    _, target, path, f = ssh
    with pytest.raises(ConnectError, match="cannot reach 127.0.0.1"):
        target(port=free_port(), connect_timeout_s=3)
    assert sha(path) == f["v1"][1]


def test_an_unknown_host_is_never_added(ssh, tmp_path, monkeypatch):
    """No auto-add and no warn-and-go: a refused host stays unknown (the second try is refused too)
    and no known_hosts file, the given one or the user's, learns its key."""
    _, target, path, f = ssh
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    for _ in range(2):
        with pytest.raises(HostKeyError):
            target(known_hosts=str(empty))
    assert empty.read_text() == "" and not (tmp_path / "home" / ".ssh").exists()
    assert sha(path) == f["v1"][1]


def test_connection_lost_during_smoke_check_says_new_file_is_in_place(ssh):
    _, target, path, f = ssh
    t = target()

    def smoke():
        t.transport.close()
        return t.run("true", timeout=5)

    with pytest.raises(DeployError, match="running the smoke check failed.*NEW file is in place.*rollback"):
        deploy_file(t, f["v2"][0], path, f["v2"][1], smoke=smoke, **QUIET)
    t.close()
    assert sha(path) == f["v2"][1]
    with target() as t2:
        rollback(t2, path, break_lock=True, **QUIET)
    assert sha(path) == f["v1"][1]
