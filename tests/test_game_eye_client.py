"""The bot's route: game_eye.client through a real OpenSSH sshd on 127.0.0.1 to a real
`game_eye serve` that the client starts itself; the serve side's fair queue and weight reload.

Untrained tiny models (thresholds 0: every screenshot has detections to compare).

Run: pytest tests/test_game_eye_client.py
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from game_eye.client import GameEyeClient, GameEyeClientError, fingerprint
from game_eye.serve import FifoLock
from tests.sshd import free_port, sshd_server  # noqa: F401
from tests.test_game_eye import REPO, _classifier, _cli, _detector


@pytest.fixture(scope="module")
def shots(module_tmp):
    d = module_tmp
    rng = np.random.default_rng(3)
    out = {"ssd": _detector(d / "ssd.pth"), "resnet": _classifier(d / "resnet.pth"), "dir": d}
    for i, (size, fmt) in enumerate([((180, 320), "png"), ((240, 520), "png"), ((180, 320), "jpg")]):
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        arr[20:60, size[0] - 50:size[0] - 10] = 255
        path = d / f"shot{i}.{fmt}"
        Image.fromarray(arr).save(path)
        out.setdefault("images", []).append(path)
    return out


def _server_command(ssd, resnet, extra=""):
    return (f"cd {REPO} && exec {sys.executable} -m game_eye serve --ssd-weights {ssd} "
            f"--resnet-weights {resnet} --port {{port}} {extra}")


def _kill_server(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            os.kill(json.loads(resp.read())["pid"], signal.SIGTERM)
    except OSError:
        pass


@pytest.fixture(scope="module")
def remote(shots, sshd_server):  # noqa: F811
    """Settings of a client for this sshd; the serve port is free, so the first client starts GameEye."""
    port = free_port()
    settings = dict(host=sshd_server.host, port=sshd_server.port, user=sshd_server.user,
                    key_file=str(sshd_server.client_key_file), known_hosts=str(sshd_server.known_hosts),
                    serve_port=port, server_command=_server_command(shots["ssd"], shots["resnet"]),
                    server_log=str(shots["dir"] / "serve.log"), start_timeout=180)
    yield settings
    _kill_server(port)


def _cli_entries(shots):
    out = _cli("--ssd-weights", shots["ssd"], "--resnet-weights", shots["resnet"], "--json", "-", *shots["images"])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["images"]


def _same(a, b):
    assert (a["width"], a["height"]) == (b["width"], b["height"])
    assert [d["label"] for d in a["detections"]] == [d["label"] for d in b["detections"]]
    assert np.allclose([d["box"] for d in a["detections"]], [d["box"] for d in b["detections"]], atol=0.1)
    assert np.allclose([d["score"] for d in a["detections"]], [d["score"] for d in b["detections"]], atol=1e-5)


def test_the_clients_detections_equal_the_clis_on_the_same_files(shots, remote):
    expected = _cli_entries(shots)
    assert all(e["detections"] for e in expected)  # thresholds 0: there is something to compare
    with GameEyeClient(**remote) as eye:
        for path, want in zip(shots["images"], expected):
            got = eye.detect(path)
            assert got["image"] == str(path)
            _same(got, want)
        _same(eye.detect(shots["images"][0].read_bytes()), expected[0])
        _same(eye.detect(Image.open(shots["images"][0])), expected[0])  # a PIL image travels losslessly
        old = eye.detect_pickle(shots["images"][1])
        assert len(old) == len(expected[1]["detections"])
        assert old.best("close").box == pytest.approx(expected[1]["detections"][0]["box"], abs=0.1)
        health = eye.health()
        assert health["ssd"]["path"] == str(shots["ssd"]) and len(health["ssd"]["sha256"]) == 64
        assert eye.weights == health["weights"]


def test_the_clients_cli_prints_the_contract_json(shots, remote):
    cmd = [sys.executable, "-m", "game_eye.client", "--host", remote["host"], "--port", str(remote["port"]),
           "--user", remote["user"], "--key-file", remote["key_file"], "--known-hosts", remote["known_hosts"],
           "--serve-port", str(remote["serve_port"]), "--server-command", remote["server_command"],
           *map(str, shots["images"]), str(shots["dir"] / "missing.png")]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=240)
    assert out.returncode == 1, out.stderr  # one image is missing
    entries = json.loads(out.stdout)["images"]
    for got, want in zip(entries, _cli_entries(shots)):
        _same(got, want)
    assert "error" in entries[-1] and entries[-1]["image"].endswith("missing.png")


def test_an_unknown_host_key_is_refused_with_its_fingerprint(shots, remote, sshd_server, tmp_path):  # noqa: F811
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(GameEyeClientError) as err:
        GameEyeClient(**{**remote, "known_hosts": str(empty)}).detect(shots["images"][0])
    assert err.value.stage == "host key"
    assert fingerprint(sshd_server.host_key) in str(err.value) and remote["host"] in str(err.value)
    assert empty.read_text() == ""  # never added


def test_a_changed_host_key_is_refused(shots, remote, sshd_server, tmp_path):  # noqa: F811
    other = sshd_server.write_known_hosts(sshd_server.other_key, tmp_path / "known_hosts")
    with pytest.raises(GameEyeClientError, match="HOST KEY CHANGED") as err:
        GameEyeClient(**{**remote, "known_hosts": str(other)}).detect(shots["images"][0])
    assert err.value.stage == "host key"


def test_a_wrong_key_fails_auth_with_a_clear_message(shots, remote, sshd_server):  # noqa: F811
    with pytest.raises(GameEyeClientError) as err:
        GameEyeClient(**{**remote, "key_file": str(sshd_server.other_key_file), "allow_agent": False}
                      ).detect(shots["images"][0])
    assert err.value.stage == "auth"
    assert f"{remote['host']}:{remote['port']}" in str(err.value) and "authentication failed" in str(err.value)


def test_a_killed_server_is_restarted_and_the_next_call_answers(shots, remote):
    with GameEyeClient(**remote) as eye:
        first = eye.detect(shots["images"][0])
        pid = eye.health()["pid"]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}") and \
                "zombie" not in open(f"/proc/{pid}/status").read():
            time.sleep(0.05)
        again = eye.detect(shots["images"][0])  # same client object, same SSH connection
        _same(again, first)
        assert eye.health()["pid"] != pid


def _dying_listener(port, closes):
    """A listener on ``port`` that accepts ``closes`` connections and shuts each at once, then stops
    listening: a killed server whose socket outlives its main thread for a moment."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    deadline = time.monotonic() + 10
    while True:  # until the killed server's socket is gone
        try:
            listener.bind(("127.0.0.1", port))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    listener.listen(4)

    def serve():
        for _ in range(closes):
            conn, _ = listener.accept()
            conn.close()
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_server_dying_slowly_is_waited_out_and_restarted(shots, remote):
    with GameEyeClient(**remote) as eye:
        first = eye.detect(shots["images"][0])
        os.kill(eye.health()["pid"], signal.SIGKILL)
        dying = _dying_listener(remote["serve_port"], closes=2)
        again = eye.detect(shots["images"][0])  # lost, reaches the dying port twice, then restarts
        dying.join(timeout=5)
        assert not dying.is_alive()  # both dying connections were made: the resends really happened
        _same(again, first)


def test_a_dropped_ssh_connection_is_reconnected(shots, remote):
    with GameEyeClient(**remote) as eye:
        first = eye.detect(shots["images"][0])
        transport = eye._ssh.get_transport()
        transport.sock.shutdown(2)  # the network drops under the open connection
        _same(eye.detect(shots["images"][0]), first)
        assert eye._ssh.get_transport() is not transport  # a new SSH connection answered


def test_two_clients_at_once_each_get_their_own_answers(shots, remote):
    expected = {str(p): e for p, e in zip(shots["images"], _cli_entries(shots))}
    results, errors = {0: [], 1: []}, []

    def work(k):
        try:
            with GameEyeClient(**remote) as eye:
                for i in range(6):
                    path = shots["images"][(i + k) % len(shots["images"])]
                    results[k].append((str(path), eye.detect(path)))
        except Exception as exc:  # reported below: a thread's exception would vanish
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not errors
    for k in (0, 1):
        assert len(results[k]) == 6
        for path, got in results[k]:
            _same(got, expected[path])


def test_a_bad_image_is_an_error_entry_and_the_client_stays_usable(shots, remote):
    with GameEyeClient(**remote) as eye:
        pid = eye.health()["pid"]
        bad = eye.detect(b"this is not an image", name="junk.png")
        assert bad["image"] == "junk.png" and "cannot identify image" in bad["error"]
        assert eye.detect(shots["images"][0])["detections"]
        assert eye.health()["pid"] == pid  # the same server: nothing was restarted


def test_no_server_and_no_start_command_names_the_stage(shots, remote):
    with pytest.raises(GameEyeClientError, match="nothing listens on 127.0.0.1") as err:
        GameEyeClient(**{**remote, "serve_port": free_port(), "server_command": None}).detect(shots["images"][0])
    assert err.value.stage == "server start"


def test_a_server_that_cannot_start_shows_its_log(shots, remote, tmp_path):
    command = _server_command(tmp_path / "no_such_weights.pth", shots["resnet"])
    with pytest.raises(GameEyeClientError) as err:
        GameEyeClient(**{**remote, "serve_port": free_port(), "server_command": command,
                         "server_log": str(tmp_path / "serve.log")}).detect(shots["images"][0])
    assert err.value.stage == "server start"
    assert "no_such_weights.pth" in str(err.value)  # GameEye's own one-line error, from the log


def test_a_deploy_is_picked_up_without_dropping_a_request(shots, remote, tmp_path):
    """The weight file is replaced (atomic rename, as deploy does) while a client keeps asking:
    every request is answered, the server reloads, the client sees the new weights."""
    ssd, resnet = tmp_path / "ssd.pth", tmp_path / "resnet.pth"
    shutil.copy(shots["ssd"], ssd)
    shutil.copy(shots["resnet"], resnet)
    port = free_port()
    settings = {**remote, "serve_port": port, "server_command": _server_command(ssd, resnet, "--watch-s 0.2"),
                "server_log": str(tmp_path / "serve.log")}
    try:
        with GameEyeClient(**settings) as eye:
            before = eye.health()
            _detector(tmp_path / "new.pth", seed=5)
            os.replace(tmp_path / "new.pth", ssd)
            answered, deadline = 0, time.monotonic() + 120
            while eye.weights == before["weights"] and time.monotonic() < deadline:
                assert eye.detect(shots["images"][0])["detections"] is not None
                answered += 1
            after = eye.health()
            assert after["weights"] != before["weights"] and after["reloads"] == 1 and after["pid"] == before["pid"]
            assert after["ssd"]["sha256"] != before["ssd"]["sha256"]
            assert answered >= 1

            (tmp_path / "broken.pth").write_bytes(b"not a weight file")  # a bad file keeps the old models
            os.replace(tmp_path / "broken.pth", ssd)
            deadline = time.monotonic() + 60
            while eye.health()["reload_error"] is None and time.monotonic() < deadline:
                time.sleep(0.1)
            health = eye.health()
            assert "ssd.pth" in health["reload_error"] and health["weights"] == after["weights"]
            assert eye.detect(shots["images"][0])["detections"]
    finally:
        _kill_server(port)


def test_the_bot_labels_a_recorded_frame_with_its_outcome(shots, remote, tmp_path):
    port = free_port()
    record = tmp_path / "field"
    settings = {**remote, "serve_port": port, "server_log": str(tmp_path / "serve.log"),
                "server_command": _server_command(shots["ssd"], shots["resnet"],
                                                  f"--record {record} --record-when all --record-min-free-mb 0")}
    try:
        with GameEyeClient(**settings) as eye:
            eye.detect(shots["images"][0])
            frame = eye.last_frame
            assert frame and eye.outcome(closed=False, tapped_at=[10, 20])
            assert eye.health()["record"]["frames"] == 1
        doc = json.loads((record / f"{frame}.json").read_text())
        assert doc["outcome"]["closed"] is False and doc["outcome"]["tapped_at"] == [10, 20]
        assert (record / f"{frame}.png").read_bytes() == shots["images"][0].read_bytes()
    finally:
        _kill_server(port)
    with GameEyeClient(**remote) as eye:  # a server without --record keeps nothing: no frame, no outcome
        eye.detect(shots["images"][0])
        assert eye.last_frame is None and eye.outcome(closed=True) is False


def test_the_model_lock_serves_in_arrival_order():
    lock, order, started = FifoLock(), [], []
    with lock:  # held: every thread below queues behind it, in the order it arrives
        threads = []
        for i in range(8):
            t = threading.Thread(target=lambda i=i: (started.append(i), lock.__enter__(), order.append(i),
                                                     lock.__exit__(None, None, None)))
            t.start()
            while len(started) <= i:
                time.sleep(0.001)
            time.sleep(0.01)  # it is waiting on its ticket now
            threads.append(t)
    for t in threads:
        t.join(10)
    assert order == list(range(8))
