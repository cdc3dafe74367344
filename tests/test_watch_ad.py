"""Classes come from projects (issue 9): watch_ad next to close, and any class added by a project.

Run: pytest tests/test_watch_ad.py
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from PIL import Image

from gaa_mlops import registry
from gaa_mlops.classes import resolve_classes, resolve_config_classes, split_classes
from gaa_mlops.data.build import build_dataset
from gaa_mlops.evaluate import evaluate
from gaa_mlops.projects import ProjectError, load_project, load_projects
from gaa_mlops.promote import gate
from gaa_mlops.train import train
from game_eye.engine import GameEye
from game_eye.models import build_classifier, build_detector
from game_eye.weights import WeightFileError, load_weights, save_weights
from tests.conftest import _write_project, make_tiny_projects
from tests.contract_check import breaches
from tests.tiny import REPO, compose_tiny, hydra_init

TINY = {"channels": [8, 8, 8, 16, 16], "detections_per_img": 300}   # untrained: keep proposals of every class


@pytest.fixture
def hydra_conf():
    with hydra_init():
        yield


@pytest.mark.parametrize("model, projects, expected", [
    ("ssd", "ssd", ["background", "close"]),                      # the defaults stay close-only
    ("resnet34", "resnet34", ["close", "not_close"]),
    ("ssd", "ssd_watch_ad", ["background", "close", "watch_ad"]),
    ("resnet34", "resnet34_watch_ad", ["close", "watch_ad", "other"]),
])
def test_model_classes_come_from_the_project_set(tmp_path, hydra_conf, model, projects, expected):
    cfg = compose_tiny(tmp_path, model, f"projects={projects}")
    assert cfg.model.classes == "auto"
    assert resolve_config_classes(cfg) == expected


def test_a_set_without_a_target_class_is_refused_naming_it():
    projects = load_projects(["neg_text_ja", "neg_game_buttons", "backgrounds"], REPO / "projects")
    with pytest.raises(ProjectError, match="'only_negatives'.*no target class"):
        resolve_classes("auto", "classification", projects, set_name="only_negatives")


@pytest.mark.parametrize("task, classes, message", [
    ("detection", ["close", "watch_ad"], "start with 'background'"),
    ("detection", ["background", "close", "other"], "cannot be detected"),
    ("classification", ["close", "watch_ad"], "exactly one negative"),
    ("classification", ["close", "other", "not_close"], "exactly one negative"),
    ("classification", ["other"], "no target class"),
])
def test_explicit_class_lists_are_checked(task, classes, message):
    with pytest.raises(ValueError, match=message):
        split_classes(task, classes)


def test_detection_projects_label_boxes_with_their_categories():
    wa = load_project(REPO / "projects" / "eval_watch_ad")
    assert wa.classes == ("watch_ad",)
    with_one = [s for s in wa.screenshots if s.boxes_of("watch_ad")]
    assert 20 <= len(with_one) < len(wa.screenshots) and not any(s.boxes_of("close") for s in wa.screenshots)
    assert load_project(REPO / "projects" / "eval_screens").classes == ("close",)
    assert load_project(REPO / "projects" / "neg_game_buttons").classes == ()        # a negative
    assert load_project(REPO / "projects" / "watch_ad_buttons").classes == ("watch_ad",)


def _add_share_project(pdir):
    """A new class by a new project folder and nothing else: 'share' sprites (a ring with a dot)."""
    from PIL import ImageDraw

    f = _write_project(pdir, "share_tiny", task="classification", label="share", sources=["*.png"],
                       augment={"scale": [0.8, 1.2], "hflip": True})
    for i, col in enumerate([(0, 200, 90, 255), (250, 250, 250, 255), (30, 30, 200, 255)]):
        img = Image.new("RGBA", (40, 24), (0, 0, 0, 0))
        d = ImageDraw.Draw(img)
        d.rounded_rectangle((2, 2, 37, 21), radius=8, fill=col)
        d.ellipse((8, 8, 16, 16), fill=(0, 0, 0, 255))
        img.save(f / f"share{i}.png")
    return "share_tiny"


def test_three_class_detection_dataset_has_boxes_of_each_class(tmp_path):
    pdir = tmp_path / "projects"
    names = make_tiny_projects(pdir) + [_add_share_project(pdir)]
    classes = resolve_classes("auto", "detection", load_projects(names, pdir))
    assert classes == ["background", "close", "share"]
    built = build_dataset(names, pdir, tmp_path / "ds", model="ssd", task="detection", image_size=[96, 64],
                          classes=classes, recipe={"n_train": 12, "n_val": 2, "seed": 0, "distractors": [1, 2]},
                          workers=1, progress=False)
    coco = json.loads((built.path / "train" / "annotations.json").read_text())
    assert coco["categories"] == [{"id": 1, "name": "close"}, {"id": 2, "name": "share"}]
    per = built.manifest["counts"]["train"]["boxes_per_class"]
    assert per["close"] > 0 and per["share"] > 0
    assert sum(per.values()) == len(coco["annotations"])


def _trained_weights(cfg, tmp_path, name):
    summary = train(cfg)
    mv = registry.resolve_version(MlflowClient(), cfg.model.registered_name, alias="candidate")
    assert int(mv.version) == summary["version"]
    return registry.download_weights(MlflowClient(), mv, tmp_path / name)


def test_adding_a_class_by_adding_a_project_changes_weights_and_game_eye_labels(tmp_path, hydra_conf):
    """No code or config edit: a project with `label: share` in the set gives weight files with
    'share' and a GameEye that reports it."""
    pdir = tmp_path / "projects"
    names = make_tiny_projects(pdir) + [_add_share_project(pdir)]
    include = "projects.include=[" + ",".join(names) + "]"
    common = (f"paths.projects_dir={pdir}", include, "projects.name=with_share")
    ssd = _trained_weights(compose_tiny(tmp_path, "ssd", *common), tmp_path, "ssd")
    res = _trained_weights(compose_tiny(tmp_path, "resnet34", *common), tmp_path, "res")
    assert load_weights(ssd)["classes"] == ["background", "close", "share"]
    doc = load_weights(res)
    assert doc["classes"] == ["close", "share", "other"]
    assert set(doc["class_thresholds"]) == {"close", "share"}
    eye = GameEye(ssd, res, backend="eager")
    assert eye.labels == ["close", "share"] and eye.label == "close"
    assert eye.info()["ssd"]["classes"] == ["background", "close", "share"]


def _random_pair(d, det_classes, cls_classes, seed=0):
    torch.manual_seed(seed)
    det = build_detector("ssd_tiny", len(det_classes), [576, 320], **TINY)
    cls = build_classifier("resnet18", len(cls_classes))
    ssd = save_weights(d / "ssd.pth", dict(arch="ssd_tiny", num_classes=len(det_classes), classes=det_classes,
                                           image_size=[576, 320], model_kwargs=TINY, state_dict=det.state_dict(),
                                           score_threshold=0.0))
    res = save_weights(d / "res.pth", dict(arch="resnet18", num_classes=len(cls_classes), classes=cls_classes,
                                           image_size=64, model_kwargs={}, state_dict=cls.state_dict(),
                                           score_threshold=0.0))
    return ssd, res


def test_game_eye_labels_each_detection_with_its_class(tmp_path):
    ssd, res = _random_pair(tmp_path, ["background", "close", "watch_ad"], ["close", "watch_ad", "other"])
    shot = REPO / "projects" / "eval_watch_ad" / "images" / "game_000.jpg"
    for backend in ("eager", "onnx"):
        eye = GameEye(ssd, res, backend=backend, top_k=50)
        dets = eye.detect_file(shot)["detections"]
        assert {d["label"] for d in dets} == {"close", "watch_ad"}, backend   # threshold 0: both classes
        scores = [d["score"] for d in dets]
        assert scores == sorted(scores, reverse=True)
    # the CLI: JSON contract holds; --labels close is the old close-only output
    out = tmp_path / "out.json"
    cmd = [sys.executable, "-m", "game_eye", "--ssd-weights", str(ssd), "--resnet-weights", str(res),
           "--backend", "eager", "--json", str(out), str(shot)]
    subprocess.run(cmd, check=True, cwd=REPO)
    doc = json.loads(out.read_text())
    assert breaches(doc, 1) == [] and {d["label"] for d in doc["images"][0]["detections"]} == {"close", "watch_ad"}
    subprocess.run(cmd + ["--labels", "close"], check=True, cwd=REPO)
    assert {d["label"] for d in json.loads(out.read_text())["images"][0]["detections"]} == {"close"}


def test_game_eye_refuses_a_verifier_that_cannot_verify_a_detector_class(tmp_path):
    ssd, res = _random_pair(tmp_path, ["background", "close", "watch_ad"], ["close", "not_close"])
    with pytest.raises(WeightFileError, match="res.pth.*'watch_ad'"):
        GameEye(ssd, res, backend="eager")
    eye = GameEye(ssd, res, backend="eager", labels=["close"])     # close alone still works
    assert eye.labels == ["close"]


def test_gate_refuses_a_version_worse_on_any_class():
    champ = {"click_success": 0.8, "false_tap_rate": 0.1, "dataset_digest": "d",
             "classes": {"close": {"click_success": 0.8, "false_tap_rate": 0.1},
                         "watch_ad": {"click_success": 0.7, "false_tap_rate": 0.05}}}
    better = {**champ, "classes": {"close": champ["classes"]["close"],
                                   "watch_ad": {"click_success": 0.9, "false_tap_rate": 0.0}}}
    worse = {**champ, "classes": {"close": champ["classes"]["close"],
                                  "watch_ad": {"click_success": 0.6, "false_tap_rate": 0.05}}}
    assert gate(better, champ) == []
    problems = gate(worse, champ)
    assert len(problems) == 1 and problems[0].startswith("watch_ad click_success 0.6000")
    close_only = {"click_success": 0.8, "false_tap_rate": 0.1, "dataset_digest": "d"}   # an older version
    assert gate(close_only, champ) == [] and gate(champ, close_only) == []
    nan = {**champ, "classes": {"watch_ad": {"click_success": float("nan"), "false_tap_rate": 0.0}}}
    assert gate(nan, champ) == []


def test_three_class_models_end_to_end(tmp_path, hydra_conf):
    """Tiny three-class training on the shipped watch_ad sets, then evaluation on both held-out
    projects: per-class metrics and eval.watch_ad.* tags on both versions."""
    ssd_cfg = compose_tiny(tmp_path, "ssd", "projects=ssd_watch_ad", "+model.model_kwargs.aspect_ratios=[1.0,3.0]")
    res_cfg = compose_tiny(tmp_path, "resnet34", "projects=resnet34_watch_ad")
    ssd = _trained_weights(ssd_cfg, tmp_path, "ssd")
    res = _trained_weights(res_cfg, tmp_path, "res")
    assert load_weights(ssd)["classes"] == ["background", "close", "watch_ad"]
    assert load_weights(res)["classes"] == ["close", "watch_ad", "other"]
    ev_cfg = compose_tiny(tmp_path, "ssd", "evaluation.project=[eval_screens,eval_watch_ad]", "evaluation.limit=3")
    summary = evaluate(ev_cfg)
    for key in ("click_success", "false_tap_rate", "watch_ad.click_success", "watch_ad.false_tap_rate",
                "watch_ad.miss_rate"):
        assert key in summary or np.isnan(summary.get(key, np.nan)), key
    assert "watch_ad.n_with" in summary and summary["watch_ad.n_with"] + summary["watch_ad.n_without"] == 6
    client = MlflowClient()
    for name in ("gaa-ssd", "gaa-resnet34"):
        tags = registry.resolve_version(client, name, alias="candidate").tags
        assert tags["eval.classes"] == "close,watch_ad"
        assert {"eval.click_success", "eval.watch_ad.click_success", "eval.watch_ad.false_tap_rate"} <= set(tags)
    run = client.get_run(summary["run_id"])
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert "evaluation/watch_ad" in arts
    shutil.rmtree(tmp_path / "datasets", ignore_errors=True)
