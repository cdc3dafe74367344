"""GameEye runtime: the CLI as a real subprocess on real image files, weight-file errors, regions,
the pickle for the old client, and the serve mode. Untrained tiny models (no training needed):
thresholds 0 make them emit arbitrary detections, which is enough to check the contract."""
import json
import pickle
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from game_eye.detection_result import DetectionResult, DetectionResultContainer
from game_eye.models import build_classifier, build_detector
from game_eye.weights import save_weights
from tests.contract_check import breaches

REPO = Path(__file__).resolve().parents[1]
TINY = {"channels": [8, 8, 8, 16, 16]}


def _detector(path, threshold=0.0, seed=0):
    torch.manual_seed(seed)
    m = build_detector("ssd_tiny", 2, [576, 320], **TINY)
    return save_weights(path, dict(arch="ssd_tiny", num_classes=2, classes=["background", "close"],
                                   image_size=[576, 320], model_kwargs=TINY, state_dict=m.state_dict(),
                                   score_threshold=threshold, model_name="gaa-ssd", version="1"))


def _classifier(path, threshold=0.0, seed=0):
    torch.manual_seed(seed)
    m = build_classifier("resnet18", 2)
    return save_weights(path, dict(arch="resnet18", num_classes=2, classes=["close", "not_close"],
                                   image_size=64, model_kwargs={}, state_dict=m.state_dict(),
                                   score_threshold=threshold, model_name="gaa-resnet34", version="1"))


@pytest.fixture(scope="module")
def files(module_tmp):
    d = module_tmp
    rng = np.random.default_rng(0)
    f = {"ssd": _detector(d / "ssd.pth"), "resnet": _classifier(d / "resnet.pth"),
         "ssd_strict": _detector(d / "ssd_strict.pth", threshold=1.0)}
    img = rng.integers(0, 256, (320, 180, 3), dtype=np.uint8)
    img[20:60, 130:170] = 255  # something button-like in the top right
    Image.fromarray(img).save(d / "shot.png")
    Image.fromarray(rng.integers(0, 256, (400, 240, 3), dtype=np.uint8)).save(d / "photo.jpg", quality=90)
    Image.fromarray(rng.integers(0, 256, (300, 200, 4), dtype=np.uint8), "RGBA").save(d / "alpha.png")
    good = (d / "shot.png").read_bytes()
    (d / "corrupt.png").write_bytes(good[: len(good) // 3])  # truncated PNG: header fine, data cut
    (d / "notes.txt").write_text("not an image\n")
    f.update({k: d / k for k in ("shot.png", "photo.jpg", "alpha.png", "corrupt.png", "notes.txt")})
    f["dir"] = d
    return f


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "game_eye", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout)


def _main(*args):
    """The CLI in-process (cheap): returns the exit code."""
    from game_eye.__main__ import main

    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code


def test_cli_subprocess_contract_errors_and_pickles(files, tmp_path):
    images = [files[k] for k in ("shot.png", "photo.jpg", "corrupt.png", "notes.txt", "alpha.png")]
    images.append(files["dir"] / "missing.png")
    r = _cli("--ssd-weights", files["ssd"], "--resnet-weights", files["resnet"],
             "--pickle-dir", tmp_path / "pk", *images)
    assert r.returncode == 1, r.stderr  # some images failed
    doc = json.loads(r.stdout)          # stdout when --json is absent
    assert breaches(doc, n_images=len(images)) == []
    entries = doc["images"]
    assert [e["image"] for e in entries] == [str(p) for p in images]
    ok = [e for e in entries if "error" not in e]
    bad = [e for e in entries if "error" in e]
    assert [Path(e["image"]).name for e in ok] == ["shot.png", "photo.jpg", "alpha.png"]
    assert [Path(e["image"]).name for e in bad] == ["corrupt.png", "notes.txt", "missing.png"]
    assert all(isinstance(e["error"], str) and e["error"] for e in bad)
    assert (ok[0]["width"], ok[0]["height"]) == (180, 320) and (ok[1]["width"], ok[1]["height"]) == (240, 400)

    # thresholds 0: the untrained models do emit detections; sorted, inside the image, top-K
    for e in ok:
        dets = e["detections"]
        assert 0 < len(dets) <= 10
        assert all(d["label"] == "close" for d in dets)
        scores = [d["score"] for d in dets]
        assert scores == sorted(scores, reverse=True)
        for d in dets:
            x1, y1, x2, y2 = d["box"]
            assert 0 <= x1 <= x2 <= e["width"] and 0 <= y1 <= y2 <= e["height"]
            assert all(round(v, 1) == v for v in d["box"])

    # one pickle per readable image, same content as the JSON
    assert sorted(p.name for p in (tmp_path / "pk").iterdir()) == ["alpha.pickle", "photo.pickle", "shot.pickle"]
    for e in ok:
        with open(tmp_path / "pk" / f"{Path(e['image']).stem}.pickle", "rb") as fh:
            c = pickle.load(fh)
        assert isinstance(c, DetectionResultContainer) and len(c) == len(e["detections"])
        assert [(r.label, r.score, r.box) for r in c] == [(d["label"], d["score"], d["box"]) for d in e["detections"]]
        assert c.best("close") == c[0] and (c.width, c.height) == (e["width"], e["height"])
        assert DetectionResultContainer.from_json(c.to_json()) == c


def test_cli_json_file_nothing_detected_exit_0(files, tmp_path):
    out = tmp_path / "sub" / "out.json"
    assert _main("--ssd-weights", files["ssd_strict"], "--resnet-weights", files["resnet"],
                 "--json", out, files["shot.png"], files["photo.jpg"]) == 0
    doc = json.loads(out.read_text())
    assert breaches(doc, 2) == [] and all(e["detections"] == [] for e in doc["images"])
    assert [p.name for p in out.parent.iterdir()] == ["out.json"]  # no temp file left behind


def test_missing_weight_file_exit_2_subprocess(files):
    r = _cli("--ssd-weights", files["dir"] / "nope.pth", "--resnet-weights", files["resnet"], files["shot.png"])
    assert r.returncode == 2
    assert "nope.pth" in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""


@pytest.mark.parametrize("case", ["wrong_format", "truncated", "not_torch", "ssd_as_resnet", "resnet_as_ssd",
                                  "no_close_class", "bad_state_dict", "bad_crop_margin", "bad_mirror_average",
                                  "bad_extra_crop_margins"])
def test_bad_weight_file_exit_2_names_file(files, tmp_path, capsys, case):
    ssd, res = files["ssd"], files["resnet"]
    bad = tmp_path / f"{case}.pth"
    if case == "wrong_format":
        torch.save({"format": "something-else", "state_dict": {}}, bad)
        ssd = bad
    elif case == "truncated":
        data = Path(files["resnet"]).read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        res = bad
    elif case == "not_torch":
        bad.write_text("hello")
        ssd = bad
    elif case == "ssd_as_resnet":
        bad.write_bytes(Path(files["ssd"]).read_bytes())
        res = bad
    elif case == "resnet_as_ssd":
        bad.write_bytes(Path(files["resnet"]).read_bytes())
        ssd = bad
    elif case == "no_close_class":
        m = build_classifier("resnet18", 2)
        save_weights(bad, dict(arch="resnet18", num_classes=2, classes=["x", "y"], image_size=64,
                               state_dict=m.state_dict(), score_threshold=0.5))
        res = bad
    elif case == "bad_state_dict":
        m = build_classifier("resnet18", 2)
        save_weights(bad, dict(arch="resnet34", num_classes=2, classes=["close", "not_close"], image_size=64,
                               state_dict=m.state_dict(), score_threshold=0.5))
        res = bad
    elif case == "bad_crop_margin":
        m = build_classifier("resnet18", 2)
        save_weights(bad, dict(arch="resnet18", num_classes=2, classes=["close", "not_close"], image_size=64,
                               state_dict=m.state_dict(), score_threshold=0.5, crop_margin="wide"))
        res = bad
    elif case == "bad_mirror_average":
        m = build_classifier("resnet18", 2)
        save_weights(bad, dict(arch="resnet18", num_classes=2, classes=["close", "not_close"], image_size=64,
                               state_dict=m.state_dict(), score_threshold=0.5, mirror_average="yes"))
        res = bad
    elif case == "bad_extra_crop_margins":
        m = build_classifier("resnet18", 2)
        save_weights(bad, dict(arch="resnet18", num_classes=2, classes=["close", "not_close"], image_size=64,
                               state_dict=m.state_dict(), score_threshold=0.5, extra_crop_margins=[0.5, "wide"]))
        res = bad
    assert _main("--ssd-weights", ssd, "--resnet-weights", res, files["shot.png"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_regions_filter(files):
    from game_eye.engine import GameEye

    eye = GameEye(files["ssd"], files["resnet"], top_k=1000)
    img = Image.open(files["photo.jpg"])
    full = eye.detect(img)
    assert len(full) > 10  # many proposals with threshold 0

    def centre_in(d, r):
        cx, cy = (d["box"][0] + d["box"][2]) / 2, (d["box"][1] + d["box"][3]) / 2
        return r[0] <= cx <= r[2] and r[1] <= cy <= r[3]

    region = [0, 0, 120, 150]
    part = eye.detect(img, regions=[region])
    expect = [d for d in full if centre_in(d, region)]
    assert 0 < len(part) < len(full)
    assert sorted(map(lambda d: tuple(d["box"]), part)) == sorted(map(lambda d: tuple(d["box"]), expect))
    np.testing.assert_allclose(sorted(d["score"] for d in part), sorted(d["score"] for d in expect), atol=1e-4)

    # top_corners: the old system's 400x400 top-left / top-right areas (here, a 240x400 image:
    # they cover the top 400 rows); a tall image leaves its lower part out
    tall = Image.fromarray(np.random.default_rng(1).integers(0, 256, (1280, 720, 3), dtype=np.uint8))
    eye.top_k = 1000
    corners = eye.detect(tall, regions="top_corners")
    assert corners and all(centre_in(d, [0, 0, 400, 400]) or centre_in(d, [320, 0, 720, 400]) for d in corners)
    assert len(corners) < len(eye.detect(tall))
    with pytest.raises(ValueError, match="top_corners"):
        GameEye(files["ssd"], files["resnet"], regions="bottom")


def test_detector_fast_path_matches_torchvision_forward(files):
    """GameEye skips the SSD transform's resize (a no-op at fixed_size); the output must match."""
    from game_eye.engine import GameEye

    eye = GameEye(files["ssd"], files["resnet"])
    small = Image.open(files["shot.png"]).convert("RGB").resize((320, 576), Image.BILINEAR)
    boxes, scores, _ = eye._detector_forward(small)
    with torch.inference_mode():
        ref = eye.detector([torch.from_numpy(np.array(small)).permute(2, 0, 1).float() / 255])[0]
    torch.testing.assert_close(boxes, ref["boxes"], atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(scores, ref["scores"], atol=1e-5, rtol=1e-4)
    assert eye.detector.transform.fixed_size == (320, 576)  # torchvision reads it as (W, H)


def test_container_sorting_and_pickle():
    c = DetectionResultContainer(image="a.png", width=10, height=20)
    for s in (0.2, 0.9, 0.5, 0.9):
        c.add(DetectionResult("close" if s != 0.9 else "not_close", s, [0, 0, 1, 1]))
    assert [r.score for r in c] == [0.9, 0.9, 0.5, 0.2]
    assert c.best("close").score == 0.5 and c.best().label == "not_close" and c.best("x") is None
    assert pickle.loads(pickle.dumps(c)) == c
    assert DetectionResultContainer.from_json(c.to_json()) == c


def test_serve_answers_requests(files):
    proc = subprocess.Popen([sys.executable, "-m", "game_eye", "serve", "--ssd-weights", str(files["ssd"]),
                             "--resnet-weights", str(files["resnet"]), "--port", "0",
                             "--path-root", str(files["dir"])],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        base = line.split()[2]

        def call(path, data=None):
            req = urllib.request.Request(base + path, data=data, method="POST" if data is not None else "GET")
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        st, health = call("/health")
        assert st == 200 and health["status"] == "ok" and health["ssd"]["arch"] == "ssd_tiny"
        t0 = time.perf_counter()
        st1, e1 = call("/detect?name=shot.png", files["shot.png"].read_bytes())
        st2, e2 = call(f"/detect?path={files['photo.jpg']}", b"")
        assert time.perf_counter() - t0 < 60
        assert (st1, st2) == (200, 200)
        assert breaches({"images": [e1, e2]}, 2) == []
        assert e1["image"] == "shot.png" and (e1["width"], e1["height"]) == (180, 320) and e1["detections"]
        assert e2["image"] == str(files["photo.jpg"])
        st3, e3 = call("/detect", b"garbage")
        assert st3 == 400 and "error" in e3
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_propose_and_verify_stages_compose_to_detect(files):
    """The evaluation measures each stage through these; detect must be exactly their composition."""
    from game_eye.engine import GameEye

    eye = GameEye(files["ssd"], files["resnet"])
    img = Image.open(files["alpha.png"])  # RGBA: converted inside
    boxes, scores = eye.propose(img)
    assert boxes.shape == (len(scores), 4) and 0 < len(scores) <= 10
    assert torch.all(scores[:-1] >= scores[1:])
    assert len(eye.propose(img, top_k=0)[1]) >= len(scores)
    probs = eye.verify(img, boxes)
    assert len(probs) == len(boxes) and all(0 <= p <= 1 for p in probs) and eye.verify(img, []) == []
    expect = sorted((round((s * p) ** 0.5, 6) for s, p in zip(scores.tolist(), probs)), reverse=True)
    np.testing.assert_allclose([d["score"] for d in eye.detect(img)], expect, atol=1e-6)


@pytest.mark.parametrize("backend", ["eager", "onnx"])
def test_verifier_crops_with_the_margin_its_weight_file_names(files, tmp_path, backend):
    """A verifier trained on wider context carries ``crop_margin``; GameEye must cut its crops so,
    and a file without the key gets the default 0.3."""
    from game_eye.crops import RUNTIME_MARGIN, verifier_crop
    from game_eye.engine import GameEye
    from game_eye.models import classifier_input

    torch.manual_seed(0)
    m = build_classifier("resnet18", 2).eval()
    wide = save_weights(tmp_path / "wide.pth", dict(arch="resnet18", num_classes=2, classes=["close", "not_close"],
                                                    image_size=64, state_dict=m.state_dict(), score_threshold=0.0,
                                                    crop_margin=1.0))
    img = Image.open(files["shot.png"]).convert("RGB")
    boxes = [[130.0, 20.0, 170.0, 60.0], [10.0, 200.0, 40.0, 230.0]]

    def p_close(margin):
        with torch.inference_mode():
            x = classifier_input([verifier_crop(img, b, 64, margin) for b in boxes])
            return torch.softmax(m(x), 1)[:, 0].numpy()

    eye = GameEye(files["ssd"], wide, backend=backend, precision="fp32")
    assert eye.crop_margin == 1.0 and eye.info()["resnet"]["crop_margin"] == 1.0
    np.testing.assert_allclose(eye.verify(img, boxes), p_close(1.0), atol=1e-4)
    assert np.abs(p_close(1.0) - p_close(RUNTIME_MARGIN)).max() > 1e-3   # the margin changes the answer
    assert GameEye(files["ssd"], files["resnet"], backend=backend, precision="fp32").crop_margin == RUNTIME_MARGIN


@pytest.mark.parametrize("backend", ["eager", "onnx"])
def test_mirror_average_scores_a_crop_with_its_mirror_image(files, tmp_path, backend):
    """A verifier file with ``mirror_average: true``: p is the softmax of the mean logits of the crop
    and its mirror image (a mirrored screenshot gets the same p); without the key, the crop alone."""
    from game_eye.crops import verifier_crop
    from game_eye.engine import GameEye
    from game_eye.models import classifier_input

    torch.manual_seed(0)
    m = build_classifier("resnet18", 3).eval()
    doc = dict(arch="resnet18", num_classes=3, classes=["close", "watch_ad", "other"], image_size=64,
               state_dict=m.state_dict(), score_threshold=0.0, crop_margin=0.8)
    plain = save_weights(tmp_path / "plain.pth", doc)
    mirrored = save_weights(tmp_path / "mirror.pth", {**doc, "mirror_average": True})
    img = Image.open(files["shot.png"]).convert("RGB")
    boxes = [[130.0, 20.0, 170.0, 60.0], [10.0, 200.0, 40.0, 230.0], [200.0, 300.0, 260.0, 330.0]]
    crops = [verifier_crop(img, b, 64, 0.8) for b in boxes]
    with torch.inference_mode():
        logits = m(classifier_input(crops))
        flipped = m(classifier_input([c.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for c in crops]))
    alone = torch.softmax(logits, 1).numpy()
    both = torch.softmax((logits + flipped) / 2, 1).numpy()
    assert np.abs(both - alone).max() > 1e-3                     # the mirror image changes the answer

    eye = GameEye(files["ssd"], mirrored, backend=backend, precision="fp32")
    assert eye.mirror_average is True and eye.info()["resnet"]["mirror_average"] is True
    np.testing.assert_allclose(eye._probs(img, boxes), both, atol=1e-4)     # every class renormalised
    np.testing.assert_allclose(eye.verify(img, boxes), both[:, 0], atol=1e-4)
    w = img.width
    mirror_boxes = [[w - b[2], b[1], w - b[0], b[3]] for b in boxes]
    np.testing.assert_allclose(eye.verify(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), mirror_boxes),
                               both[:, 0], atol=2e-2)        # up to the rounding of the crop edges
    assert eye.verify(img, []) == []
    plain_eye = GameEye(files["ssd"], plain, backend=backend, precision="fp32")
    assert plain_eye.mirror_average is False
    np.testing.assert_allclose(plain_eye.verify(img, boxes), alone[:, 0], atol=1e-4)


@pytest.mark.parametrize("backend", ["eager", "onnx"])
def test_extra_crop_margins_average_every_view(files, tmp_path, backend):
    """A verifier file with ``extra_crop_margins``: p is the softmax of the mean logits over the crop
    at ``crop_margin`` and at each extra margin, each with its mirror image when ``mirror_average``."""
    from game_eye.crops import verifier_crop
    from game_eye.engine import GameEye
    from game_eye.models import classifier_input

    torch.manual_seed(0)
    m = build_classifier("resnet18", 2).eval()
    doc = dict(arch="resnet18", num_classes=2, classes=["close", "not_close"], image_size=64,
               state_dict=m.state_dict(), score_threshold=0.0, crop_margin=0.8, extra_crop_margins=[0.4, 1.2])
    img = Image.open(files["shot.png"]).convert("RGB")
    boxes = [[130.0, 20.0, 170.0, 60.0], [200.0, 300.0, 260.0, 330.0]]

    def logits(margin, mirror=False):
        crops = [verifier_crop(img, b, 64, margin) for b in boxes]
        crops = [c.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for c in crops] if mirror else crops
        with torch.inference_mode():
            return m(classifier_input(crops))

    views = [logits(0.8), logits(0.4), logits(1.2)]
    three = torch.softmax(sum(views) / 3, 1).numpy()
    six = torch.softmax((sum(views) + logits(0.8, True) + logits(0.4, True) + logits(1.2, True)) / 6, 1).numpy()
    alone = torch.softmax(views[0], 1).numpy()
    assert np.abs(three - alone).max() > 1e-3                    # the wider and tighter views change the answer

    eye = GameEye(files["ssd"], save_weights(tmp_path / "m.pth", doc), backend=backend, precision="fp32")
    assert eye.extra_margins == (0.4, 1.2) and eye.info()["resnet"]["extra_crop_margins"] == [0.4, 1.2]
    np.testing.assert_allclose(eye._probs(img, boxes), three, atol=1e-4)
    both = GameEye(files["ssd"], save_weights(tmp_path / "mm.pth", {**doc, "mirror_average": True}),
                   backend=backend, precision="fp32")
    np.testing.assert_allclose(both._probs(img, boxes), six, atol=1e-4)
    assert both.verify(img, []) == []


def test_detector_class_prior_and_sized_transform():
    """model_kwargs.class_prior starts every anchor at that p(close); the transform leaves an image at
    (or below) the model's size as it is, so a training band keeps its scale."""
    torch.manual_seed(0)
    det = build_detector("ssd_tiny", 2, [128, 72], channels=[8, 8, 8, 16, 16], class_prior=0.01).eval()
    with torch.no_grad():
        head = det.head(list(det.backbone(torch.rand(1, 3, 128, 72)).values()))
    p = torch.softmax(head["cls_logits"], -1)[0, :, 1]
    assert torch.allclose(p, torch.full_like(p, 0.01), atol=2e-3)
    with pytest.raises(ValueError, match="class_prior"):
        build_detector("ssd_tiny", 3, [128, 72], class_prior=0.6)
    band = torch.rand(3, 64, 72)
    out, _ = det.transform.resize(band)
    assert out.shape == band.shape and torch.equal(out, band)
    bigger, _ = det.transform.resize(torch.rand(3, 256, 144))
    assert bigger.shape[-2:] == (128, 72)
