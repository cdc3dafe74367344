"""Shared, generic fixtures: tiny image projects drawn with PIL in a tmp dir, a tmp MLflow store."""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from PIL import Image, ImageDraw

TINY_PROJECTS = ["bg_tiny", "close_tiny", "neg_tiny", "shots_tiny"]


def _x_sprite(size: int, width: int, color) -> Image.Image:
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.line((2, 2, size - 3, size - 3), fill=color, width=width)
    d.line((2, size - 3, size - 3, 2), fill=color, width=width)
    return img


def _write_project(root: Path, name: str, **keys) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"name": name, "description": f"tiny test project {name}", **keys}
    (folder / "project.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def make_tiny_projects(root: Path) -> list[str]:
    """Four tiny projects (close sprites, negative sprites, backgrounds, boxed screenshots)."""
    aug = {"scale": [0.8, 1.2], "rotate": 10, "color_jitter": 0.2, "opacity": [0.7, 1.0],
           "hflip": True, "weight": 1.0}
    f = _write_project(root, "close_tiny", task="classification", label="close", sources=["*.png"],
                       augment=aug)
    for i, (w, c) in enumerate([(3, (255, 255, 255, 255)), (6, (20, 20, 20, 255)), (4, (230, 40, 40, 220))]):
        _x_sprite(24, w, c).save(f / f"x{i}.png")
    f = _write_project(root, "neg_tiny", task="classification", label="not_close", sources=["*.png"],
                       augment=aug)
    img = Image.new("RGBA", (40, 16), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((1, 1), "Abc", fill=(255, 255, 0, 255))
    img.save(f / "text.png")
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((2, 2, 17, 17), outline=(0, 200, 255, 255), width=2)
    img.save(f / "ring.png")
    f = _write_project(root, "bg_tiny", task="background", sources=["*.jpg"])
    for i, col in enumerate([(30, 120, 60), (200, 150, 40)]):
        img = Image.new("RGB", (90, 160), col)
        ImageDraw.Draw(img).rectangle((10, 40, 70, 90), fill=(col[2], col[0], col[1]))
        img.save(f / f"bg{i}.jpg", quality=90)
    f = _write_project(root, "shots_tiny", task="detection", sources=["*.png"], annotations="boxes.json")
    images, anns = [], []
    for i in range(3):
        img = Image.new("RGB", (72, 128), (40 + 60 * i, 40, 90))
        if i < 2:
            img.paste(_x_sprite(8, 2, (255, 255, 255, 255)), (60, 4), _x_sprite(8, 2, (255, 255, 255, 255)))
            anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [60, 4, 8, 8]})
        img.save(f / f"s{i}.png")
        images.append({"id": i + 1, "file_name": f"s{i}.png", "width": 72, "height": 128})
    (f / "boxes.json").write_text(json.dumps({"images": images, "annotations": anns,
                                              "categories": [{"id": 1, "name": "close"}]}))
    _write_project(root, "_notes", task="background", sources=["*.md"])    # not a project (leading _)
    return list(TINY_PROJECTS)


@pytest.fixture
def tiny_projects(tmp_path) -> tuple[Path, list[str]]:
    """(projects_dir, names) of four tiny projects in a tmp dir."""
    root = tmp_path / "projects"
    return root, make_tiny_projects(root)


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory, request) -> Iterator[Path]:
    """A tmp folder for one test module's fixtures, removed when the module ends. pytest keeps
    tmp_path_factory folders until the session ends, and the weights, checkpoints and stores of
    the module fixtures would pile up to gigabytes there by the end of the suite."""
    folder = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def _mlflow_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mlroot")


@pytest.fixture
def mlflow_store(_mlflow_root, monkeypatch):
    """A sqlite MLflow store root in tmp (MLFLOW_TRACKING_URI unset), shared by the session because
    creating the schema takes seconds; use distinct experiment names. Returns the root folder."""
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    yield _mlflow_root
    while mlflow.active_run() is not None:
        mlflow.end_run()
