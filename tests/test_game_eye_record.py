"""Field recording: which frames are kept, the bound on the folder, atomic files, the outcome label;
then `serve --record` and the one-shot CLI's --record on real files with untrained tiny models.

Run: pytest tests/test_game_eye_record.py
"""
import http.client
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from game_eye.record import Recorder, image_suffix, why_kept
from tests.test_game_eye import REPO, _classifier, _cli, _detector

INFO = {"ssd": {"sha256": "a" * 64, "model_name": "gaa-ssd", "version": "3", "run_id": "r1", "path": "/w/ssd.pth"},
        "resnet": {"sha256": "b" * 64, "model_name": "gaa-resnet34", "version": "9", "run_id": "r2",
                   "path": "/w/resnet.pth"}}


def _cand(p, det=0.9, thr=0.99, label="close"):
    return {"label": label, "box": [1, 2, 30, 40], "detector_score": det, "p": p, "threshold": thr, "passed": p >= thr}


def _entry(*dets):
    return {"image": "shot.png", "width": 720, "height": 1280, "elapsed_ms": 50.0,
            "detections": [{"label": "close", "score": s, "box": [1, 2, 30, 40]} for s in dets]}


def _png(seed=0, size=(64, 48)):
    import io

    buf = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def test_which_frames_are_kept():
    sure_no, sure_yes = [_cand(0.05)], [_cand(0.999)]
    assert why_kept("all", _entry(), sure_no, 0.1, 0.05) == ["all"]
    assert why_kept("all", {"image": "x", "error": "bad"}, [], 0.1, 0.05) == []   # nothing to label
    assert why_kept("tapped", _entry(0.9), sure_yes, 0.1, 0.05) == ["tapped"]
    assert why_kept("tapped", _entry(), sure_no, 0.1, 0.05) == []
    assert why_kept("uncertain", _entry(), sure_no, 0.1, 0.05) == []
    assert why_kept("uncertain", _entry(), [_cand(0.93)], 0.1, 0.05) == ["near_threshold"]
    close_pair = [_cand(0.05, det=0.80), _cand(0.05, det=0.78)]   # both far from the threshold, but neck and neck
    assert why_kept("uncertain", _entry(), close_pair, 0.1, 0.05) == ["close_runner_up"]


def test_a_kept_frame_is_the_bytes_received_and_a_sidecar(tmp_path):
    rec = Recorder(tmp_path / "rec", when="all", min_free_mb=0)
    data = _png()
    cands = [_cand(0.995), _cand(0.2)]
    frame = rec.offer(data, _entry(0.95), cands, INFO)
    rec.flush()
    assert (tmp_path / "rec" / f"{frame}.png").read_bytes() == data   # lossless: exactly what was sent
    doc = json.loads((tmp_path / "rec" / f"{frame}.json").read_text())
    assert doc["frame"] == frame and doc["detections"] == _entry(0.95)["detections"]
    assert doc["candidates"] == cands and doc["weights"]["resnet"]["sha256"] == "b" * 64
    assert doc["weights"]["ssd"]["version"] == "3" and doc["outcome"] is None and doc["time"].endswith("Z")
    assert rec.set_outcome(frame, {"closed": False})
    assert json.loads((tmp_path / "rec" / f"{frame}.json").read_text())["outcome"]["closed"] is False
    assert not rec.set_outcome("20260101T000000-00000000", {"closed": True})   # not a frame here
    assert not list((tmp_path / "rec").glob(".*"))   # no temp file left behind


def test_the_folder_never_exceeds_its_bound_and_the_oldest_go_first(tmp_path):
    data = _png(size=(200, 150))   # about 90 KB of noise
    max_mb = 5 * len(data) / 2**20   # room for four frames and their sidecars
    rec = Recorder(tmp_path / "rec", when="all", max_mb=max_mb, min_free_mb=0, background=False)
    frames = [rec.offer(data, _entry(), [], INFO) for _ in range(12)]
    on_disk = sum(p.stat().st_size for p in (tmp_path / "rec").iterdir())
    assert on_disk <= max_mb * 2**20
    kept = sorted(p.stem for p in (tmp_path / "rec").glob("*.json"))
    assert kept == sorted(frames)[-len(kept):] and 3 <= len(kept) <= 5   # the newest survive
    assert sorted(p.stem for p in (tmp_path / "rec").glob("*.png")) == kept   # no image without its sidecar
    assert rec.stats()["evicted"] == 12 - len(kept)
    again = Recorder(tmp_path / "rec", when="all", max_mb=max_mb, min_free_mb=0, background=False)
    assert again.stats()["frames"] == len(kept)   # a restart counts what is already there
    again.offer(data, _entry(), [], INFO)
    assert sum(p.stat().st_size for p in (tmp_path / "rec").iterdir()) <= max_mb * 2**20


def test_no_frame_is_written_that_would_fill_the_disk_or_break_the_bound(tmp_path):
    full_disk = Recorder(tmp_path / "a", when="all", min_free_mb=10**9, background=False)
    assert full_disk.offer(_png(), _entry(), [], INFO) is None and full_disk.stats()["dropped_disk"] == 1
    tiny = Recorder(tmp_path / "b", when="all", max_mb=0.001, min_free_mb=0, background=False)
    assert tiny.offer(_png(), _entry(), [], INFO) is None and tiny.stats()["dropped_too_big"] == 1
    assert not list((tmp_path / "a").iterdir()) and not list((tmp_path / "b").iterdir())


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="record-when"):
        Recorder(tmp_path, when="sometimes")
    with pytest.raises(ValueError, match="record-max-mb"):
        Recorder(tmp_path, max_mb=0)


def test_image_suffix_from_the_bytes():
    assert image_suffix(_png()) == ".png" and image_suffix(b"\xff\xd8\xff\xe0rest") == ".jpg"
    assert image_suffix(b"????") == ".img"


# ---------------------------------------------------------------------------- with real GameEye
@pytest.fixture(scope="module")
def weights(module_tmp):
    d = module_tmp
    return {"ssd": _detector(d / "ssd.pth"), "resnet": _classifier(d / "resnet.pth")}


def _post(port, path, body=b""):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=body)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), json.loads(resp.read())
    finally:
        conn.close()


def test_serve_records_what_it_answered_and_the_outcome(weights, tmp_path):
    rec = tmp_path / "field"
    proc = subprocess.Popen([sys.executable, "-m", "game_eye", "serve", "--ssd-weights", str(weights["ssd"]),
                             "--resnet-weights", str(weights["resnet"]), "--port", "0", "--record", str(rec),
                             "--record-when", "all", "--record-min-free-mb", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving on"), proc.stderr.read() if proc.poll() is not None else line
        port = int(line.split()[2].rsplit(":", 1)[1])
        data = _png(seed=4, size=(180, 320))
        status, headers, entry = _post(port, "/detect?name=shot.png", data)
        frame = headers["X-GameEye-Frame"]
        assert status == 200 and frame
        status, headers, bad = _post(port, "/detect", b"not an image")
        assert status == 400 and "X-GameEye-Frame" not in headers   # nothing to label in an undecodable body
        assert _post(port, f"/outcome?frame={frame}", b'{"closed": true}')[0] == 200
        assert _post(port, "/outcome?frame=nope", b'{"closed": true}')[0] == 404
        assert _post(port, f"/outcome?frame={frame}", b"[1, 2]")[0] == 400
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/health")
        health = json.loads(conn.getresponse().read())
        assert health["record"]["frames"] == 1 and health["record"]["when"] == "all"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (rec / f"{frame}.png").read_bytes() == data
    doc = json.loads((rec / f"{frame}.json").read_text())
    assert doc["detections"] == entry["detections"] and doc["image"] == "shot.png"
    assert doc["outcome"]["closed"] is True
    assert len(doc["candidates"]) >= len(entry["detections"]) and all("p" in c for c in doc["candidates"])
    assert doc["weights"]["ssd"]["sha256"] == health["ssd"]["sha256"]


def test_serve_without_record_refuses_outcomes(weights):
    proc = subprocess.Popen([sys.executable, "-m", "game_eye", "serve", "--ssd-weights", str(weights["ssd"]),
                             "--resnet-weights", str(weights["resnet"]), "--port", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[2].rsplit(":", 1)[1])
        status, headers, doc = _post(port, "/detect", _png())
        assert status == 200 and "X-GameEye-Frame" not in headers
        status, _, doc = _post(port, "/outcome?frame=x", b'{"closed": true}')
        assert status == 409 and "--record" in doc["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_cli_records_too(weights, tmp_path):
    shot = tmp_path / "shot.png"
    shot.write_bytes(_png(seed=2, size=(180, 320)))
    out = _cli("--ssd-weights", weights["ssd"], "--resnet-weights", weights["resnet"], "--record", tmp_path / "rec",
               "--record-when", "all", "--record-min-free-mb", "0", shot, tmp_path / "missing.png")
    assert out.returncode == 1   # the missing image; the other one is answered and recorded
    sidecars = list((tmp_path / "rec").glob("*.json"))
    assert len(sidecars) == 1 and json.loads(sidecars[0].read_text())["image"] == str(shot)
    assert (tmp_path / "rec" / f"{sidecars[0].stem}.png").read_bytes() == shot.read_bytes()
    bad = _cli("--ssd-weights", weights["ssd"], "--resnet-weights", weights["resnet"], "--record", shot, shot)
    assert bad.returncode == 2 and "--record" in bad.stderr   # a file where the folder should be
