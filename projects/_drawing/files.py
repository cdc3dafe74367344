"""Writing a project's files: sprites, JPEG screenshots, the COCO annotations."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from gaa_mlops.data import coco

from .core import fit_long_side


def save_jpeg(img: Image.Image, path: Path, quality: int = 80):
    img.convert("RGB").save(path, "JPEG", quality=quality, optimize=True)


def save_sprites(folder: Path, sprites, prefix: str = "s"):
    """Write RGBA sprites as images/<prefix>_NNN.png (old PNGs removed first)."""
    out = Path(folder) / "images"
    clean_dir(out, "*.png")
    for i, im in enumerate(sprites):
        im = fit_long_side(im, 48, 128)  # the sprite contract: longest side 48..128 px
        im.save(out / f"{prefix}_{i:03d}.png", optimize=True)
    return out


def clean_dir(path: Path, pattern: str):
    path.mkdir(parents=True, exist_ok=True)
    for p in path.glob(pattern):
        p.unlink()


def add_screen(images: list, annotations: list, file_name: str, width: int, height: int, box=None):
    """Append one screenshot to the COCO ``images`` list (ids from 1, in order) and its close
    button's ``box`` [x, y, w, h], when it has one, to ``annotations`` (category 1)."""
    image_id = len(images) + 1
    images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
    if box:
        annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                            "bbox": [float(v) for v in box], "area": float(box[2] * box[3]), "iscrowd": 0})


def write_coco(path: Path, images: list, annotations: list, categories=None):
    """The project's COCO file (gaa_mlops.data.coco's writer, one key a line); ``categories``
    defaults to the single class close (id 1)."""
    coco.write_coco(path, images, annotations, categories or [{"id": 1, "name": "close"}], indent=1)
