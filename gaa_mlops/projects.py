"""Image projects: ``projects/<name>/project.yaml`` plus the small source files it names.

A project is the unit a user adds or edits. This module only reads and validates them and returns
plain dataclasses; turning them into datasets is :mod:`gaa_mlops.data`.

``project.yaml`` keys::

    name: close_plain_x          # == folder name
    task: classification         # classification | background | detection
    label: close                 # classification only: the class it contributes (close, watch_ad, ...)
                                 # or a negative: other (not_close is an alias of other)
    description: ...
    sources: ["*.png"]           # globs relative to the folder, each must match something
    generator: make.py           # optional: the script that made the sources
    annotations: boxes.json      # detection only: COCO json (images, annotations, categories);
                                 # each box's class is its category's name (close, watch_ad, ...)
    augment: {scale: [0.8, 1.2], rotate: 10, color_jitter: 0.2, opacity: [0.7, 1.0],
              hflip: true, weight: 1.0}   # optional, these are the defaults' keys
    held_out: false              # optional: true makes an evaluation set that no training set may include
    mine_proposals: false        # optional, detection only: the verifier's hard-example mining also runs
                                 # the detector on these screenshots (field frames: gaa_mlops.label import)

Every problem raises :class:`ProjectError` naming the file and key (or project and set).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

TASKS = ("classification", "background", "detection")
NEGATIVE = "other"                      # the generic negative class: "none of the targets"
NEGATIVE_LABELS = ("other", "not_close")  # not_close: the close-only verifier's name for it (an alias)
LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_LABELS = ("background",)         # the detector's implicit class 0
REQUIRED_KEYS = ("name", "task", "description", "sources")
OPTIONAL_KEYS = ("label", "generator", "annotations", "augment", "held_out", "mine_proposals")
AUGMENT_DEFAULTS: dict[str, Any] = {
    "scale": [1.0, 1.0], "rotate": 0.0, "color_jitter": 0.0, "opacity": [1.0, 1.0],
    "hflip": False, "weight": 1.0,
}


class ProjectError(ValueError):
    """A project (or a project set) is missing, malformed, or names a bad file."""


@dataclass(frozen=True)
class Augment:
    scale: tuple[float, float] = (1.0, 1.0)
    rotate: float = 0.0                    # max |degrees|
    color_jitter: float = 0.0              # brightness / contrast / saturation factor spread
    opacity: tuple[float, float] = (1.0, 1.0)
    hflip: bool = False
    weight: float = 1.0                    # sampling weight of this project among its kind


@dataclass(frozen=True)
class Screenshot:
    """One image of a detection project and its boxes ``[x1, y1, x2, y2]`` in its pixels.

    ``labels[i]`` is the class of ``boxes[i]`` (its COCO category name); when ``labels`` is empty
    every box is a ``close`` box (screenshots built before classes came from projects)."""
    path: Path
    width: int
    height: int
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    labels: tuple[str, ...] = ()

    def label_of(self, i: int) -> str:
        return self.labels[i] if self.labels else "close"

    def boxes_of(self, label: str) -> tuple[tuple[float, float, float, float], ...]:
        """The boxes of one class."""
        return tuple(b for i, b in enumerate(self.boxes) if self.label_of(i) == label)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted({self.label_of(i) for i in range(len(self.boxes))}))


@dataclass(frozen=True)
class Project:
    name: str
    task: str
    description: str
    root: Path
    sources: tuple[Path, ...]
    label: str | None = None
    generator: str | None = None
    annotations: Path | None = None
    screenshots: tuple[Screenshot, ...] = ()
    augment: Augment = field(default_factory=Augment)
    categories: tuple[str, ...] = ()      # detection: the COCO category names, in id order
    held_out: bool = False                # an evaluation set: never part of a training set
    mine_proposals: bool = False          # detection: mined for the verifier's hard examples as they are

    @property
    def yaml_path(self) -> Path:
        return self.root / "project.yaml"

    @property
    def is_negative(self) -> bool:
        """A classification project of the negative class (``other`` / ``not_close``)."""
        return self.task == "classification" and is_negative(self.label)

    @property
    def classes(self) -> tuple[str, ...]:
        """The target classes this project contributes: its label (a sprite project that is not a
        negative) or its COCO category names (a detection project); none for the rest."""
        if self.task == "classification":
            return () if self.is_negative else (str(self.label),)
        if self.task == "detection":
            return tuple(sorted({c for s in self.screenshots for c in s.classes} | set(self.categories)))
        return ()

    def files(self) -> list[Path]:
        """The files whose content defines this project (what the dataset digest covers)."""
        out = {self.yaml_path, *self.sources}
        if self.annotations is not None:
            out.add(self.annotations)
        return sorted(out)


def is_negative(label: str | None) -> bool:
    """``other`` and its alias ``not_close``: "none of the target classes"."""
    return label in NEGATIVE_LABELS


def check_label(path: Path, key: str, label: Any) -> str:
    """A class name a project may declare: lower-case identifier, not ``background``."""
    if not isinstance(label, str) or not LABEL_PATTERN.match(label) or label in RESERVED_LABELS:
        raise _err(path, f"key {key!r} is {label!r}; a class name is a lower-case identifier "
                         f"([a-z][a-z0-9_]*, e.g. close, watch_ad, or {NEGATIVE!r} for negatives), "
                         f"not {list(RESERVED_LABELS)}")
    return label


def available_projects(projects_dir: str | Path) -> list[str]:
    """Names of the project folders (those with a project.yaml; ``_*`` folders are not projects)."""
    d = Path(projects_dir)
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")) and (p / "project.yaml").is_file())


def _err(path: Path, msg: str) -> ProjectError:
    return ProjectError(f"{path}: {msg}")


def _pair(path: Path, key: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (float(value), float(value))
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            and value[0] <= value[1]):
        return (float(value[0]), float(value[1]))
    raise _err(path, f"key 'augment.{key}' must be [lo, hi] with lo <= hi, got {value!r}")


def _number(path: Path, key: str, value: Any, lo: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < lo:
        raise _err(path, f"key 'augment.{key}' must be a number >= {lo}, got {value!r}")
    return float(value)


def _parse_augment(path: Path, raw: Any) -> Augment:
    if raw is None:
        return Augment()
    if not isinstance(raw, dict):
        raise _err(path, f"key 'augment' must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(AUGMENT_DEFAULTS))
    if unknown:
        raise _err(path, f"unknown key(s) in 'augment': {unknown}; valid: {sorted(AUGMENT_DEFAULTS)}")
    merged = {**AUGMENT_DEFAULTS, **raw}
    if not isinstance(merged["hflip"], bool):
        raise _err(path, f"key 'augment.hflip' must be true or false, got {merged['hflip']!r}")
    scale = _pair(path, "scale", merged["scale"])
    opacity = _pair(path, "opacity", merged["opacity"])
    if scale[0] <= 0:
        raise _err(path, "key 'augment.scale' must be > 0")
    if not (0 <= opacity[0] and opacity[1] <= 1):
        raise _err(path, "key 'augment.opacity' must lie in [0, 1]")
    return Augment(scale=scale, rotate=_number(path, "rotate", merged["rotate"]),
                   color_jitter=_number(path, "color_jitter", merged["color_jitter"]),
                   opacity=opacity, hflip=merged["hflip"],
                   weight=_number(path, "weight", merged["weight"]))


def _parse_categories(ann_path: Path, raw: Any) -> dict[Any, str]:
    """COCO ``categories`` -> {id: name}; absent: the single category 1 = close (older files)."""
    if raw is None:
        return {1: "close"}
    if not isinstance(raw, list):
        raise _err(ann_path, "COCO 'categories' must be a list of {id, name}")
    out: dict[Any, str] = {}
    for c in raw:
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise _err(ann_path, f"category entry {c!r} lacks id/name")
        out[c["id"]] = check_label(ann_path, f"categories[id={c['id']}].name", c["name"])
    return out


def _parse_coco(path: Path, ann_path: Path, root: Path,
                sources: Sequence[Path]) -> tuple[tuple[Screenshot, ...], tuple[str, ...]]:
    try:
        doc = json.loads(ann_path.read_text())
    except (OSError, ValueError) as e:
        raise _err(ann_path, f"cannot read annotations (key 'annotations' of {path}): {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise _err(ann_path, "COCO annotations need a list 'images'")
    cats = _parse_categories(ann_path, doc.get("categories"))
    by_name = {p.name: p for p in sources}
    by_rel = {p.relative_to(root).as_posix(): p for p in sources}
    shots: dict[int, dict] = {}
    for im in doc["images"]:
        try:
            iid, fname, w, h = im["id"], str(im["file_name"]), int(im["width"]), int(im["height"])
        except (KeyError, TypeError, ValueError) as e:
            raise _err(ann_path, f"image entry {im!r} lacks id/file_name/width/height") from e
        p = by_rel.get(fname) or by_rel.get(Path(fname).as_posix()) or by_name.get(Path(fname).name)
        if p is None:
            raise _err(ann_path, f"image file_name {fname!r} is not among the project's sources")
        shots[iid] = {"path": p, "width": w, "height": h, "boxes": [], "labels": []}
    for a in doc.get("annotations", []) or []:
        try:
            x, y, bw, bh = (float(v) for v in a["bbox"])
            target = shots[a["image_id"]]
        except (KeyError, TypeError, ValueError) as e:
            raise _err(ann_path, f"bad annotation {a!r} (needs image_id of a listed image and bbox)") from e
        if bw <= 0 or bh <= 0:
            raise _err(ann_path, f"annotation {a!r} has an empty bbox")
        cid = a.get("category_id", 1)
        if cid not in cats:
            raise _err(ann_path, f"annotation {a!r}: category_id {cid!r} is not among the categories "
                                 f"{sorted(cats, key=str)}")
        target["boxes"].append((x, y, x + bw, y + bh))
        target["labels"].append(cats[cid])
    out = tuple(Screenshot(s["path"], s["width"], s["height"], tuple(s["boxes"]), tuple(s["labels"]))
                for s in sorted(shots.values(), key=lambda s: str(s["path"])))
    return out, tuple(cats[k] for k in sorted(cats, key=str))


def load_project(folder: str | Path) -> Project:
    """Read and validate ``<folder>/project.yaml``."""
    root = Path(folder).resolve()
    path = root / "project.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise _err(path, "file not found") from e
    except (OSError, yaml.YAMLError) as e:
        raise _err(path, f"cannot parse: {e}") from e
    if not isinstance(raw, dict):
        raise _err(path, "must be a mapping of keys")
    for key in REQUIRED_KEYS:
        if key not in raw or raw[key] is None:
            raise _err(path, f"missing key '{key}'")
    unknown = sorted(set(raw) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise _err(path, f"unknown key(s) {unknown}; valid: {sorted(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    if raw["name"] != root.name:
        raise _err(path, f"key 'name' is {raw['name']!r} but the folder is {root.name!r}")
    task = raw["task"]
    if task not in TASKS:
        raise _err(path, f"key 'task' is {task!r}; valid: {list(TASKS)}")
    label = raw.get("label")
    if task == "classification":
        if label is None:
            raise _err(path, f"missing key 'label' (a classification project declares its class: "
                             f"close, watch_ad, ... or {NEGATIVE!r} for negatives)")
        check_label(path, "label", label)
    elif label is not None:
        raise _err(path, f"key 'label' is only for classification projects (task is {task!r})")
    globs = raw["sources"]
    if isinstance(globs, str):
        globs = [globs]
    if not isinstance(globs, list) or not globs or not all(isinstance(g, str) for g in globs):
        raise _err(path, "key 'sources' must be a non-empty list of globs")
    sources: set[Path] = set()
    for g in globs:
        hits = [p for p in root.glob(g) if p.is_file()]
        if not hits:
            made_by = raw.get("generator")
            hint = f"; its sources are made by {made_by}: run `make assets` (or python {root / made_by})" \
                if made_by else ""
            raise _err(path, f"key 'sources': glob {g!r} matches no file in {root}{hint}")
        sources.update(p.resolve() for p in hits)
    src = tuple(sorted(sources))
    generator = raw.get("generator")
    if generator is not None and not (root / str(generator)).is_file():
        raise _err(path, f"key 'generator': {generator!r} not found in {root}")
    annotations, shots, cats = None, (), ()
    if task == "detection":
        if "annotations" not in raw or not raw["annotations"]:
            raise _err(path, "missing key 'annotations' (required for detection projects)")
        annotations = (root / str(raw["annotations"])).resolve()
        if not annotations.is_file():
            raise _err(path, f"key 'annotations': {annotations} not found")
        src = tuple(p for p in src if p != annotations)
        shots, cats = _parse_coco(path, annotations, root, src)
    elif raw.get("annotations") is not None:
        raise _err(path, f"key 'annotations' is only for detection projects (task is {task!r})")
    held_out = raw.get("held_out", False)
    if not isinstance(held_out, bool):
        raise _err(path, f"key 'held_out' must be true or false, got {held_out!r}")
    mine_proposals = raw.get("mine_proposals", False)
    if not isinstance(mine_proposals, bool):
        raise _err(path, f"key 'mine_proposals' must be true or false, got {mine_proposals!r}")
    if mine_proposals and task != "detection":
        raise _err(path, f"key 'mine_proposals' is only for detection projects (task is {task!r})")
    return Project(name=raw["name"], task=task, description=str(raw["description"]), root=root,
                   sources=src, label=label, generator=generator, annotations=annotations,
                   screenshots=shots, augment=_parse_augment(path, raw.get("augment")), categories=cats,
                   held_out=held_out, mine_proposals=mine_proposals)


def load_projects(names: Iterable[str], projects_dir: str | Path,
                  set_name: str | None = None) -> list[Project]:
    """Load the named projects of a training set from ``projects_dir``, in the given order; an absent
    one fails with the project and set named and the list of available projects, and so does a
    held-out one (``held_out: true``: an evaluation set never trains)."""
    names = list(names)
    available = available_projects(projects_dir)
    where = f"project set {set_name!r}" if set_name else "the project list"
    for n in names:
        if n not in available and (Path(projects_dir) / n).is_dir():
            raise ProjectError(f"project {n!r} named in {where}: folder {Path(projects_dir) / n} has no "
                               f"project.yaml (see projects/README.md for what one holds)")
        if n not in available:
            raise ProjectError(f"project {n!r} named in {where} does not exist in {Path(projects_dir)}; "
                               f"available projects: {available}")
    if len(set(names)) != len(names):
        raise ProjectError(f"{where} names a project more than once: {names}")
    loaded = [load_project(Path(projects_dir) / n) for n in names]
    for p in loaded:
        if p.held_out:
            raise ProjectError(f"project {p.name!r} named in {where} is held out (held_out: true in {p.yaml_path}): "
                               f"it is an evaluation set and can never be part of a training set; evaluate on it "
                               f"with evaluation.project=[..., {p.name}]")
    return loaded


def open_image(path: str | Path, mode: str | None = None):
    """Open and fully decode an image with PIL; any failure names the file."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return im.convert(mode) if mode else im.copy()
    except Exception as e:  # PIL raises many kinds (OSError, SyntaxError, ValueError, ...)
        raise ProjectError(f"{path}: unreadable or corrupt image ({type(e).__name__}: {e})") from e


def verify_images(projects: Iterable[Project]) -> None:
    """Cheap integrity check of every source image (header + chunk checksums) before a build."""
    from PIL import Image

    for p in projects:
        for src in p.sources:
            try:
                with Image.open(src) as im:
                    im.verify()
            except Exception as e:
                raise ProjectError(f"{src}: unreadable or corrupt image in project {p.name!r} "
                                   f"({type(e).__name__}: {e})") from e
