"""GameEye's fast path (ONNX Runtime + numpy) against the eager PyTorch path: same detections on
real screenshot files (boxes within 1 px, scores within 1e-3), the export cache, the fallback when
onnxruntime is missing, and the CLI's --backend flag. Untrained tiny models, thresholds 0."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from game_eye.decode import read_image
from game_eye.engine import GameEye
from game_eye.models import build_classifier, build_detector
from game_eye.weights import WeightFileError, save_weights
from tests.contract_check import breaches

REPO = Path(__file__).resolve().parents[1]
TINY = {"channels": [8, 8, 8, 16, 16], "anchor_sizes": [[10, 14, 20], [28, 40], [56, 80]]}
SCREENS = sorted((REPO / "projects" / "eval_screens" / "images").glob("*.jpg"))


def _weights(d: Path, threshold: float = 0.0, seed: int = 0):
    torch.manual_seed(seed)
    det = build_detector("ssd_tiny", 2, [576, 320], **TINY)
    ssd = save_weights(d / "ssd" / "best_weight.pth", dict(
        arch="ssd_tiny", num_classes=2, classes=["background", "close"], image_size=[576, 320],
        model_kwargs=TINY, state_dict=det.state_dict(), score_threshold=threshold))
    cls = build_classifier("resnet18", 2)
    res = save_weights(d / "resnet" / "best_weight.pth", dict(
        arch="resnet18", num_classes=2, classes=["close", "not_close"], image_size=64, model_kwargs={},
        state_dict=cls.state_dict(), score_threshold=threshold))
    return ssd, res


@pytest.fixture(scope="module")
def weights(module_tmp):
    return _weights(module_tmp)


@pytest.fixture(scope="module")
def eyes(weights):
    return GameEye(*weights, backend="eager"), GameEye(*weights, backend="onnx")


def _images():
    """A few real files: both screen sizes of the held-out set, plus a PNG with alpha."""
    by_size = {}
    for p in SCREENS:
        with Image.open(p) as im:
            by_size.setdefault(im.size, []).append(p)
    return [p for ps in by_size.values() for p in ps[:2]]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x["label"] == y["label"]
        assert max(abs(u - v) for u, v in zip(x["box"], y["box"])) <= 1.0, (x, y)
        assert abs(x["score"] - y["score"]) <= 1e-3, (x, y)


@pytest.mark.parametrize("regions", ["full", "top_corners"])
def test_onnx_detections_match_eager_on_real_screens(eyes, regions):
    eager, fast = eyes
    assert fast.backend == "onnx" and eager.backend == "eager"
    images = _images()
    assert len(images) >= 2
    found = 0
    for path in images:
        img = read_image(path)
        a, b = eager.detect(img, regions=regions), fast.detect(img, regions=regions)
        found += len(a)
        _same(a, b)
    assert found, "thresholds 0 must give detections"


def test_onnx_stages_match_eager(eyes):
    eager, fast = eyes
    img = read_image(_images()[0])
    (be, se), (bf, sf) = eager.propose(img), fast.propose(img)
    assert isinstance(bf, torch.Tensor) and bf.dtype == torch.float32 and bf.shape == be.shape
    torch.testing.assert_close(bf, be, atol=1.0, rtol=0)
    torch.testing.assert_close(sf, se, atol=1e-3, rtol=0)
    np.testing.assert_allclose(fast.verify(img, be), eager.verify(img, be), atol=1e-3)
    assert fast.verify(img, []) == []


@pytest.mark.parametrize("matrix_max", [1024, 0])  # the IoU-matrix path and the row-by-row one
def test_numpy_nms_matches_torchvision(matrix_max, monkeypatch):
    from torchvision.ops import batched_nms, nms

    from game_eye import ops
    from game_eye.ops import batched_nms as np_batched_nms
    from game_eye.ops import nms as np_nms

    monkeypatch.setattr(ops, "_MATRIX_NMS_MAX", matrix_max)
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + 5 + torch.rand(300, 2, generator=g) * 60], 1)
    boxes[:3] = boxes[3]  # exact duplicates
    boxes[10, 2:] = boxes[10, :2]  # an empty box
    scores = torch.rand(300, generator=g)
    labels = torch.randint(1, 3, (300,), generator=g)
    for iou in (0.3, 0.45, 0.7):
        assert np_nms(boxes.numpy(), scores.numpy(), iou).tolist() == nms(boxes, scores, iou).tolist()
        assert (np_batched_nms(boxes.numpy(), scores.numpy(), labels.numpy(), iou).tolist()
                == batched_nms(boxes, scores, labels, iou).tolist())
    assert np_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []


def test_export_cached_by_sha256_next_to_weights(tmp_path):
    ssd, res = _weights(tmp_path)
    GameEye(ssd, res, backend="onnx")
    cached = sorted(p.name for p in ssd.parent.glob("best_weight.pth.*-onnx*"))
    assert [Path(n).suffix for n in cached] == [".json", ".onnx"]
    stamp = (ssd.parent / cached[1]).stat().st_mtime_ns
    GameEye(ssd, res, backend="onnx")  # a hit: not exported again
    assert (ssd.parent / cached[1]).stat().st_mtime_ns == stamp
    _weights(tmp_path, seed=1)  # a new file at the same path: new key, the stale export is removed
    GameEye(ssd, res, backend="onnx")
    again = sorted(p.name for p in ssd.parent.glob("best_weight.pth.*-onnx*"))
    assert len(again) == 2 and again != cached


def test_cached_export_still_checks_the_family(weights):
    ssd, res = weights
    GameEye(ssd, res, backend="onnx")  # both cached now
    with pytest.raises(WeightFileError, match="expected one of"):
        GameEye(res, ssd, backend="onnx")  # classifier given as the detector
    with pytest.raises(WeightFileError, match="does not exist"):
        GameEye(ssd.parent / "missing.pth", res, backend="onnx")


def test_read_only_weights_folder_uses_the_user_cache(tmp_path, monkeypatch):
    ssd, res = _weights(tmp_path / "w")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for d in (ssd.parent, res.parent):
        d.chmod(0o555)
    try:
        eye = GameEye(ssd, res, backend="onnx")
    finally:
        for d in (ssd.parent, res.parent):
            d.chmod(0o755)
    if not list(ssd.parent.glob("*.onnx")):  # root ignores the mode bits
        assert list((tmp_path / "cache" / "game_eye").glob("best_weight.pth.*.onnx"))
    assert eye.detect(read_image(_images()[0]))


def test_auto_falls_back_to_eager_without_onnxruntime(weights, monkeypatch):
    import game_eye.fast

    monkeypatch.setattr(game_eye.fast, "onnxruntime_available", lambda: False)
    assert GameEye(*weights).backend == "eager"
    monkeypatch.undo()
    assert GameEye(*weights).backend == "onnx"
    with pytest.raises(ValueError, match="valid"):
        GameEye(*weights, backend="tensorrt")


def test_onnx_path_needs_no_torch_once_cached(weights):
    GameEye(*weights, backend="onnx")
    code = ("import sys; from game_eye.engine import GameEye; from game_eye.decode import read_image; "
            f"e = GameEye({str(weights[0])!r}, {str(weights[1])!r}); "
            f"print(e.backend, len(e.detect(read_image({str(_images()[0])!r})))); "
            "print('torch' in sys.modules, 'torchvision' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["onnx", "5", "False", "False"]


@pytest.mark.parametrize("backend", ["eager", "onnx"])
def test_cli_backend_flag_contract_valid(weights, tmp_path, backend):
    out = tmp_path / f"{backend}.json"
    images = [str(p) for p in _images()[:2]]
    r = subprocess.run([sys.executable, "-m", "game_eye", "--ssd-weights", str(weights[0]), "--resnet-weights",
                        str(weights[1]), "--backend", backend, "--top-k", "3", "--json", str(out), *images],
                       capture_output=True, text=True, cwd=REPO, timeout=180)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert breaches(doc) == []
    assert [len(e["detections"]) for e in doc["images"]] == [3, 3]
    ref = GameEye(*weights, backend="eager", top_k=3)
    for e, path in zip(doc["images"], images):
        _same(e["detections"], ref.detect(read_image(path)))


def test_damaged_cached_graph_is_exported_again(tmp_path):
    ssd, res = _weights(tmp_path)
    GameEye(ssd, res, backend="onnx")
    (graph,) = ssd.parent.glob("best_weight.pth.*.onnx")
    graph.write_bytes(b"not an onnx graph")
    eye = GameEye(ssd, res, backend="onnx")
    assert eye.backend == "onnx" and graph.read_bytes() != b"not an onnx graph"
    image = read_image(_images()[0])                   # the new export detects as the eager model does
    _same(eye.detect(image), GameEye(ssd, res, backend="eager").detect(image))


def test_auto_falls_back_to_eager_when_export_fails(weights, monkeypatch):
    import game_eye.fast

    def broken(*a, **k):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(game_eye.fast, "load_onnx_models", broken)
    with pytest.warns(UserWarning, match="exporter exploded"):
        assert GameEye(*weights).backend == "eager"
    with pytest.raises(RuntimeError, match="exploded"):
        GameEye(*weights, backend="onnx")


def _calibrated_verifier(path: Path, seed: int = 0) -> Path:
    """A resnet18 verifier whose file carries calibration crops (cut from real screenshots)."""
    torch.manual_seed(seed)
    crops = []
    for p in SCREENS[:8]:
        with Image.open(p) as im:
            crops += [np.asarray(im.convert("RGB").crop((x, 40, x + 96, 136)).resize((64, 64)))
                      for x in (0, 300, 600)]
    return save_weights(path, dict(
        arch="resnet18", num_classes=2, classes=["close", "not_close"], image_size=64, model_kwargs={},
        state_dict=build_classifier("resnet18", 2).state_dict(), score_threshold=0.0,
        calibration_crops=torch.from_numpy(np.stack(crops))))


def test_int8_verifier_from_calibration_crops_in_the_weight_file(weights, tmp_path):
    ssd, plain = weights
    res = _calibrated_verifier(tmp_path / "resnet" / "best_weight.pth")
    fp32, int8 = GameEye(ssd, res, backend="onnx", precision="fp32"), GameEye(ssd, res, backend="onnx")
    assert (fp32.precision, int8.precision, int8.info()["precision"]) == ("fp32", "int8", "int8")
    assert sorted(p.name.split("-onnx")[1] for p in res.parent.glob("best_weight.pth.*-onnx*")) == \
        ["2-int8.json", "2-int8.onnx", "2.json", "2.onnx"]
    with Image.open(SCREENS[9]) as im:
        img = im.convert("RGB")
    boxes = [[x, y, x + 60, y + 60] for x in (20, 300, 600) for y in (30, 500)]
    p32, p8 = np.array(fp32.verify(img, boxes)), np.array(int8.verify(img, boxes))
    assert np.abs(p32 - p8).max() < 0.05, (p32, p8)
    assert not np.array_equal(p32, p8), "the int8 graph must really be another graph"
    # a file without calibration crops: auto stays fp32; int8 asked for explicitly names the file
    assert GameEye(ssd, plain, backend="onnx").precision == "fp32"
    with pytest.raises(WeightFileError, match=f"{plain}.*calibration_crops"):
        GameEye(ssd, plain, backend="onnx", precision="int8")
    with pytest.raises(ValueError, match="unknown precision"):
        GameEye(ssd, res, precision="int4")
