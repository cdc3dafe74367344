"""GameEye against hostile or careless input: `serve` requests that must not freeze or reveal anything,
CLI options and output paths checked before the models load, one-line weight-file errors.

Real `python -m game_eye serve` subprocesses on real files (a FIFO included), untrained tiny models.

Run: pytest tests/test_game_eye_hardening.py
"""
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from tests.test_game_eye import REPO, _classifier, _cli, _detector, _main


@pytest.fixture(scope="module")
def models(module_tmp):
    d = module_tmp
    root = d / "uploads"
    root.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (320, 180, 3), dtype=np.uint8)).save(root / "shot.png")
    os.mkfifo(root / "pipe.png")
    (d / "secret.png").write_bytes((root / "shot.png").read_bytes())  # a real image outside the root
    return {"ssd": _detector(d / "ssd.pth"), "resnet": _classifier(d / "resnet.pth"), "root": root, "dir": d}


@pytest.fixture(scope="module")
def server(models):
    proc = subprocess.Popen([sys.executable, "-m", "game_eye", "serve", "--ssd-weights", str(models["ssd"]),
                             "--resnet-weights", str(models["resnet"]), "--port", "0",
                             "--path-root", str(models["root"])],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("serving on http://127.0.0.1:"), proc.stderr.read() if proc.poll() else line
    port = int(line.split()[2].rsplit(":", 1)[1])
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def _request(port, path, body=b"", headers=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("POST", path)
        for k, v in (headers if headers is not None else {"Content-Length": str(len(body))}).items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_a_fifo_request_does_not_hold_up_a_valid_one(server, models):
    _request(server, "/detect?path=shot.png")  # warm
    fifo = {}
    t = threading.Thread(target=lambda: fifo.update(answer=_request(server, "/detect?path=pipe.png")))
    t.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    status, entry = _request(server, "/detect?path=shot.png")
    assert status == 200 and "detections" in entry
    assert time.perf_counter() - t0 < 1.0
    t.join(timeout=10)
    assert fifo["answer"][0] == 400 and "not a regular file" in fifo["answer"][1]["error"]


@pytest.mark.parametrize("path", ["/etc/passwd", "/etc/no-such-file", "../secret.png", "{dir}/secret.png"])
def test_path_outside_the_root_is_refused_alike_whether_it_exists_or_not(server, models, path):
    status, entry = _request(server, "/detect?path=" + path.format(dir=models["dir"]))
    assert status == 400 and "not under --path-root" in entry["error"]


def test_path_without_path_root_is_refused(models, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "game_eye", "serve", "--ssd-weights", str(models["ssd"]),
                             "--resnet-weights", str(models["resnet"]), "--port", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[2].rsplit(":", 1)[1])
        status, entry = _request(port, f"/detect?path={models['root'] / 'shot.png'}")
        assert status == 400 and "--path-root" in entry["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("length", ["abc", "-1", "1e3"])
def test_bad_content_length_is_a_400(server, length):
    status, entry = _request(server, "/detect", b"x", headers={"Content-Length": length})
    assert status == 400 and "Content-Length" in entry["error"]


def test_errors_name_no_object_addresses(server):
    status, entry = _request(server, "/detect", b"garbage bytes, not an image")
    assert status == 400 and "0x" not in entry["error"] and "cannot identify" in entry["error"]


def test_twenty_parallel_clients_mixing_good_and_bad_requests(server, models):
    good = (models["root"] / "shot.png").read_bytes()
    cases = [("/detect?name=a.png", good, None, 200), ("/detect?path=shot.png", b"", None, 200),
             ("/detect", b"junk", None, 400), ("/detect?path=pipe.png", b"", None, 400),
             ("/detect", b"x", {"Content-Length": "-1"}, 400), ("/detect?path=/etc/passwd", b"", None, 400),
             ("/detect?regions=middle", good, None, 400), ("/nowhere", good, None, 404)]
    jobs = [cases[i % len(cases)] for i in range(20)]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda c: _request(server, c[0], c[1], c[2], timeout=120), jobs))
    assert [a[0] for a in answers] == [c[3] for c in jobs]
    assert all("detections" in a[1] for a, c in zip(answers, jobs) if c[3] == 200)


def test_cli_output_paths_are_checked_before_the_models_load(models, tmp_path):
    shot = models["root"] / "shot.png"
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for args in (["--json", tmp_path], ["--json", a_file / "out.json"], ["--pickle-dir", a_file]):
        r = _cli("--ssd-weights", tmp_path / "absent.pth", "--resnet-weights", models["resnet"], *args, shot)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert args[0] in r.stderr and "absent.pth" not in r.stderr  # the path, before any weights


@pytest.mark.parametrize("option", [["--top-k", "0"], ["--top-k", "-3"], ["--threads", "0"], ["--top-k", "two"]])
def test_nonsense_counts_are_refused(models, option, capsys):
    assert _main("--ssd-weights", models["ssd"], "--resnet-weights", models["resnet"], *option,
                 models["root"] / "shot.png") == 2
    assert option[0] in capsys.readouterr().err


class NotWeights:
    pass


def test_a_foreign_pickle_is_one_line_without_torch_advice(models, tmp_path, capsys):
    import torch

    bad = tmp_path / "foreign.pth"
    torch.save({"model": NotWeights()}, bad)
    assert _main("--ssd-weights", bad, "--resnet-weights", models["resnet"], models["root"] / "shot.png") == 2
    err = capsys.readouterr().err
    assert str(bad) in err and len(err.strip().splitlines()) == 1
    assert "weights_only" not in err and "Traceback" not in err
