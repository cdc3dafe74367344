"""Hard-example mining for the verifier: GameEye's detector stage alone, which proposals make which
examples, and a mined dataset build (digest by detector content, determinism, clear errors)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from gaa_mlops.data.build import build_dataset
from gaa_mlops.data.mining import LEGACY_TOP_K, ProposalMiner, proposals_of
from game_eye.engine import DEFAULT_TOP_K, GameEye
from game_eye.models import build_classifier, build_detector
from game_eye.weights import save_weights

TINY = {"channels": [8, 8, 8, 16, 16]}
RECIPE = {"n_train": 6, "n_val": 2, "seed": 0, "crop_margin": [0.1, 0.6], "crop_jitter": 0.15}
MAGENTA = (255, 0, 255)
SCREENS = {"screen_sizes": [[256, 144]], "no_close_fraction": 0.3, "distractors": [1, 3],
           "button_width_fraction": [0.08, 0.15], "corner_fraction": 0.7}


def _detector(path, seed=0):
    """Untrained tiny SSD with threshold 0: it proposes boxes all over any screen."""
    torch.manual_seed(seed)
    m = build_detector("ssd_tiny", 2, [128, 72], **TINY)
    return save_weights(path, dict(arch="ssd_tiny", num_classes=2, classes=["background", "close"],
                                   image_size=[128, 72], model_kwargs=TINY, state_dict=m.state_dict(),
                                   score_threshold=0.0, model_name="gaa-ssd", version="1"))


def _mining(detector, negative_share=1.0, positive_share=0.0, **more):
    return {**RECIPE, "hard_negatives": {"detector": str(detector), "negative_share": negative_share,
                                         "positive_share": positive_share, "screens": SCREENS, **more}}


def _build(pdir, names, out, recipe, **kw):
    return build_dataset(names, pdir, out, model="resnet34", task="classification", image_size=32,
                         classes=["close", "not_close"], recipe=recipe, progress=False, **kw)


def _pixels(built, split="train", cls="not_close"):
    return [np.asarray(Image.open(p)) for p in sorted((built.path / split / cls).glob("*.png"))]


def test_proposals_of_sorts_proposals_into_examples():
    truth = [[100, 100, 140, 140]]
    on_button = [102, 98, 141, 139]          # IoU ~0.9
    loose = [95, 95, 160, 160]               # IoU ~0.38: ambiguous, no example
    inside_small = [110, 110, 125, 125]      # IoU 0.14, centre inside the button: ambiguous
    far = [10, 10, 40, 40]
    boxes = [on_button, loose, inside_small, far]
    assert proposals_of(True, boxes, truth) == [on_button]
    assert proposals_of(False, boxes, truth) == [far]
    assert proposals_of(False, boxes, []) == boxes        # a screen without a button
    assert proposals_of(True, boxes, []) == []
    # several classes: a positive needs a box of its own class; a negative is clear of every box
    watch_ad = [[5, 5, 45, 45]]
    assert proposals_of(True, boxes, watch_ad, truth + watch_ad) == [far]      # far sits on the watch_ad box
    assert proposals_of(False, boxes, truth, truth + watch_ad) == []


def test_game_eye_detector_stage_alone(tmp_path):
    det = _detector(tmp_path / "ssd.pth")
    torch.manual_seed(0)
    cls = save_weights(tmp_path / "cls.pth", dict(
        arch="resnet18", num_classes=2, classes=["close", "not_close"], image_size=32, model_kwargs={},
        state_dict=build_classifier("resnet18", 2).state_dict(), score_threshold=0.0))
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 144, 3), dtype=np.uint8))
    for backend in ("eager", "onnx"):
        alone, full = GameEye(det, None, backend=backend), GameEye(det, cls, backend=backend)
        boxes, scores = alone.propose(img)
        ref_boxes, ref_scores = full.propose(img)
        assert len(boxes) == DEFAULT_TOP_K and torch.equal(boxes, ref_boxes) and torch.equal(scores, ref_scores)
        assert alone.info()["resnet"] is None
        for call in (lambda: alone.detect(img), lambda: alone.verify(img, boxes.tolist())):
            with pytest.raises(RuntimeError, match="without verifier weights"):
                call()


def test_mined_build_digest_follows_detector_content_and_is_deterministic(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    det = _detector(tmp_path / "ssd.pth")
    plain = _build(pdir, names, tmp_path / "a", RECIPE)
    mined = _build(pdir, names, tmp_path / "a", _mining(det))
    assert mined.digest != plain.digest
    assert mined.manifest["recipe"]["hard_negatives"]["detector"].startswith("sha256:")
    assert str(tmp_path) not in str(mined.manifest), "the digest/manifest hold the content, not the path"
    assert mined.detector == det and plain.detector is None     # the file it was mined with, for calibration
    # every not_close crop mined: none equals the unmined build's; close crops untouched
    assert not any(np.array_equal(a, b) for a, b in zip(_pixels(plain), _pixels(mined)))
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(plain, cls="close"), _pixels(mined, cls="close")))
    # the same file elsewhere: same digest (cache hit); another build dir, 1 worker: same pixels
    copy = tmp_path / "elsewhere" / "best_weight.pth"
    copy.parent.mkdir()
    shutil.copy(det, copy)
    hit = _build(pdir, names, tmp_path / "a", _mining(copy))
    assert hit.cache_hit and hit.detector == copy
    again = _build(pdir, names, tmp_path / "b", _mining(copy), workers=1)
    assert again.digest == mined.digest
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(mined), _pixels(again)))
    # other detector weights: another dataset
    assert _build(pdir, names, tmp_path / "a", _mining(_detector(tmp_path / "other.pth", seed=1))).digest \
        != mined.digest
    # mined crops are cut with the context GameEye will cut (runtime_crop_margin); the rest are not
    wider = _build(pdir, names, tmp_path / "a", {**_mining(det), "runtime_crop_margin": 0.8})
    assert wider.digest != mined.digest
    assert not any(np.array_equal(a, b) for a, b in zip(_pixels(mined), _pixels(wider)))
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(mined, cls="close"), _pixels(wider, cls="close")))
    # mined from the detector's top_k proposals a screen, as GameEye verifies them (absent: the top 5)
    assert ProposalMiner(str(det), _mining(det)).eye.top_k == LEGACY_TOP_K
    assert ProposalMiner(str(det), _mining(det, top_k=8)).eye.top_k == 8
    best_only = _build(pdir, names, tmp_path / "a", _mining(det, top_k=1))
    assert best_only.digest != mined.digest
    assert not all(np.array_equal(a, b) for a, b in zip(_pixels(mined), _pixels(best_only)))
    # the manifest says what was drawn: every not_close crop of both splits came from composed screens
    drawn = mined.manifest["mining"]
    assert drawn["train"]["mined"] == {"not_close": RECIPE["n_train"]} and drawn["train"]["ordinary_instead"] == {}
    assert drawn["val"]["mined"] == {"not_close": RECIPE["n_val"]}
    # mining settings matter only when mining is on
    off = {**RECIPE, "hard_negatives": {"detector": None, "negative_share": 0.9}}
    assert _build(pdir, names, tmp_path / "a", off).digest == plain.digest


def _field_project(pdir, mine_proposals=True):
    """A detection project of two flat magenta frames without a button (``gaa_mlops.label import``
    writes ``mine_proposals: true`` into a field project)."""
    folder = pdir / "field_tiny"
    (folder / "images").mkdir(parents=True)
    images = []
    for i in range(2):
        Image.new("RGB", (144, 256), MAGENTA).save(folder / "images" / f"f{i}.png")
        images.append({"id": i + 1, "file_name": f"images/f{i}.png", "width": 144, "height": 256})
    (folder / "annotations.json").write_text(json.dumps({"images": images, "annotations": [],
                                                         "categories": [{"id": 1, "name": "close"}]}))
    (folder / "project.yaml").write_text(yaml.safe_dump({
        "name": "field_tiny", "task": "detection", "description": "field frames", "sources": ["images/*"],
        "annotations": "annotations.json", "mine_proposals": mine_proposals, "augment": {"weight": 3.0}}))
    return "field_tiny"


def test_field_frames_are_mined_as_they_are(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    det = _detector(tmp_path / "ssd.pth")
    mined = _build(pdir, [*names, _field_project(pdir)], tmp_path / "a", _mining(det, screenshot_share=1.0))
    drawn = mined.manifest["mining"]["train"]
    assert sum(drawn["from_screenshots"].values()) == drawn["screens"]
    assert set(drawn["from_screenshots"]) <= {"f0.png", "f1.png"}
    # every false proposal the detector made on a field frame is cut from it: magenta, black past its
    # edges, and their blends (r == b, no green)
    for crop in _pixels(mined):
        crop = crop.astype(int)
        assert crop[..., 1].max() == 0 and np.array_equal(crop[..., 0], crop[..., 2]) and crop.max() > 0
    half = _build(pdir, [*names, "field_tiny"], tmp_path / "a", _mining(det))       # the default share
    assert 0 < sum(half.manifest["mining"]["train"].get("from_screenshots", {}).values()) \
        < half.manifest["mining"]["train"]["screens"]
    # the same frames without the key are not mined, and a set without such frames draws as before
    shutil.rmtree(pdir / "field_tiny")
    unmarked = _build(pdir, [*names, _field_project(pdir, mine_proposals=False)], tmp_path / "a",
                      _mining(det, screenshot_share=1.0))
    assert "from_screenshots" not in unmarked.manifest["mining"]["train"]
    assert unmarked.digest != mined.digest
    plain = _build(pdir, names, tmp_path / "b", _mining(det))
    shared = _build(pdir, names, tmp_path / "c", _mining(det, screenshot_share=1.0))
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(plain), _pixels(shared)))


def test_missing_or_bad_mining_detector_fails_naming_it_and_leaves_nothing(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    out = tmp_path / "ds"
    with pytest.raises(FileNotFoundError, match=r"hard_negatives\.detector.*nope\.pth"):
        _build(pdir, names, out, _mining(tmp_path / "nope.pth"))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a weight file")
    with pytest.raises(Exception, match="bad.pth"):
        _build(pdir, names, out, _mining(bad))
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(ValueError, match="only a classification"):
        build_dataset(names, pdir, out, model="ssd", task="detection", image_size=[96, 64],
                      classes=["background", "close"], recipe=_mining(_detector(tmp_path / "d.pth")),
                      progress=False)


def test_three_class_mining_builds_every_class(tmp_path):
    """The shipped watch_ad verifier set mined with a three-class detector: one folder per class."""
    from omegaconf import OmegaConf

    repo = Path(__file__).resolve().parents[1]
    names = list(OmegaConf.load(repo / "conf" / "projects" / "resnet34_watch_ad.yaml").include)
    torch.manual_seed(0)
    m = build_detector("ssd_tiny", 3, [128, 72], **TINY)
    det = save_weights(tmp_path / "ssd3.pth", dict(
        arch="ssd_tiny", num_classes=3, classes=["background", "close", "watch_ad"], image_size=[128, 72],
        model_kwargs=TINY, state_dict=m.state_dict(), score_threshold=0.0))
    recipe = {**_mining(det, negative_share=1.0, positive_share=1.0), "n_train": 3, "n_val": 1}
    built = build_dataset(names, repo / "projects", tmp_path / "ds", model="resnet34", task="classification",
                          image_size=32, classes=["close", "watch_ad", "other"], recipe=recipe, progress=False)
    assert built.manifest["counts"]["train"] == {"close": 3, "watch_ad": 3, "other": 3}
    assert all(len(_pixels(built, "train", c)) == 3 for c in ("close", "watch_ad", "other"))
    # an untrained detector rarely lands on a true button: those places get ordinary crops, said so
    drawn = built.manifest["mining"]["train"]
    assert all(drawn["mined"][c] + drawn["ordinary_instead"].get(c, 0) == 3 for c in ("close", "watch_ad", "other"))
