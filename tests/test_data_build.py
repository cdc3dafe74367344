"""Dataset build: content digest, cache, determinism, atomicity, layout; tiny projects in tmp dirs."""
from __future__ import annotations

import json
import time

import pytest
from PIL import Image

from gaa_mlops.data import build as build_mod
from gaa_mlops.data.build import ARCHIVE, MANIFEST, build_dataset
from gaa_mlops.data.digest import BUILDER_VERSION, dataset_digest
from gaa_mlops.projects import load_projects

DET = dict(model="ssd", task="detection", image_size=[96, 64], classes=["background", "close"],
           recipe={"n_train": 6, "n_val": 3, "seed": 0, "no_close_fraction": 0.25, "distractors": [1, 3],
                   "button_width_fraction": [0.05, 0.1], "corner_fraction": 0.7,
                   "screen_sizes": [[1280, 720], [2340, 1080]]})
CLS = dict(model="resnet34", task="classification", image_size=32, classes=["close", "not_close"],
           recipe={"n_train": 5, "n_val": 2, "seed": 0, "crop_margin": [0.1, 0.6], "crop_jitter": 0.15})


def _digest(projects_dir, names, image_size=(96, 64), recipe=None):
    return dataset_digest(load_projects(names, projects_dir), "detection", image_size, ["background", "close"],
                          recipe or DET["recipe"])


def test_digest_changes_with_source_image_and_image_size_only(tiny_projects):
    pdir, names = tiny_projects
    d0 = _digest(pdir, names)
    assert d0 == _digest(pdir, names), "unchanged input must give the same digest"
    assert d0 == _digest(pdir, list(reversed(names))), "project order in a set must not matter"
    (pdir / "neg_tiny" / "unrelated.txt").write_text("not a source")       # not matched by sources
    assert d0 == _digest(pdir, names)
    assert d0 != _digest(pdir, names, image_size=(128, 64))
    assert d0 != _digest(pdir, names, recipe={**DET["recipe"], "n_train": 7})
    img = Image.open(pdir / "close_tiny" / "x0.png")
    img.putpixel((12, 12), (1, 2, 3, 255))
    img.save(pdir / "close_tiny" / "x0.png")
    d1 = _digest(pdir, names)
    assert d1 != d0
    assert BUILDER_VERSION


def test_detection_build_layout_cache_hit_and_archive(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    built = build_dataset(names, pdir, tmp_path / "ds", **DET, progress=False)
    assert not built.cache_hit
    assert built.path == (tmp_path / "ds" / f"ssd-{built.digest[:12]}").resolve()
    m = json.loads((built.path / MANIFEST).read_text())
    assert m["digest"] == built.digest and m["task"] == "detection" and m["image_size"] == [96, 64]
    assert m["classes"] == ["close"] and m["builder_version"] == BUILDER_VERSION
    assert sorted(m["projects"]) == sorted(names)
    for split, n in (("train", 6), ("val", 3)):
        coco = json.loads((built.path / split / "annotations.json").read_text())
        assert len(coco["images"]) == n == m["counts"][split]["images"]
        assert len(coco["annotations"]) == m["counts"][split]["boxes"]
        with_box = {a["image_id"] for a in coco["annotations"]}
        assert m["counts"][split]["empty"] == n - len(with_box)
        for im in coco["images"]:
            assert Image.open(built.path / split / im["file_name"]).size == (64, 96)
        for a in coco["annotations"]:
            x, y, w, h = a["bbox"]
            assert a["category_id"] == 1 and w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= 64.01 and y + h <= 96.01
    assert (built.path / ARCHIVE).stat().st_size > 0
    assert not [p for p in (tmp_path / "ds").iterdir() if p.name.startswith(".tmp")]

    t0 = time.perf_counter()
    again = build_dataset(names, pdir, tmp_path / "ds", **DET, progress=False)
    assert again.cache_hit and again.path == built.path and again.digest == built.digest
    assert time.perf_counter() - t0 < 1.0


def test_build_is_deterministic_across_dirs_and_workers(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    a = build_dataset(names, pdir, tmp_path / "a", **CLS, workers=2, progress=False)
    b = build_dataset(names, pdir, tmp_path / "b", **CLS, workers=1, progress=False)
    assert (a.path / MANIFEST).read_text() == (b.path / MANIFEST).read_text()
    for rel in ("train/close/0.png", "train/not_close/0.png", "val/not_close/1.png"):
        assert (a.path / rel).read_bytes() == (b.path / rel).read_bytes(), rel
    assert a.manifest["counts"] == {"train": {"close": 5, "not_close": 5}, "val": {"close": 2, "not_close": 2}}
    assert Image.open(a.path / "val/close/0.png").size == (32, 32)
    # train and val come from different seeds
    assert (a.path / "train/close/0.png").read_bytes() != (a.path / "val/close/0.png").read_bytes()


def test_error_mid_build_leaves_nothing_that_looks_complete(tiny_projects, tmp_path, monkeypatch):
    pdir, names = tiny_projects

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build_mod, "_archive", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        build_dataset(names, pdir, tmp_path / "ds", **CLS, workers=1, progress=False)
    assert list((tmp_path / "ds").iterdir()) == []
    monkeypatch.undo()
    built = build_dataset(names, pdir, tmp_path / "ds", **CLS, workers=1, progress=False)
    assert not built.cache_hit and (built.path / MANIFEST).is_file()


def test_incomplete_leftover_directory_is_rebuilt(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    digest = dataset_digest(load_projects(names, pdir), "classification", 32, CLS["classes"], CLS["recipe"])
    stale = tmp_path / "ds" / f"resnet34-{digest[:12]}"
    (stale / "train").mkdir(parents=True)                  # e.g. copied by hand, no manifest
    built = build_dataset(names, pdir, tmp_path / "ds", **CLS, workers=1, progress=False)
    assert not built.cache_hit and built.path == stale.resolve() and (stale / MANIFEST).is_file()


def test_verifier_with_wrong_classes_fails(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    with pytest.raises(ValueError, match="exactly one negative class"):
        build_dataset(names, pdir, tmp_path / "ds", **{**CLS, "classes": ["close", "maybe"]}, progress=False)
