"""Field frames to Label Studio and back: recorded screenshots become a labelled detection project.

    python -m gaa_mlops.label export field/               # writes field/label-studio/{config.xml,tasks.json}
    python -m gaa_mlops.label import export.json --project field_2026_12 [--held-out] [--weight 3]

    export LABEL_STUDIO_API_KEY=...                       # the same through a Label Studio server's API
    python -m gaa_mlops.label export field/ --server http://127.0.0.1:8080 [--ls-project gaa-field-field]
    python -m gaa_mlops.label import gaa-field-field --server http://127.0.0.1:8080 --project field_2026_12

``export DIR`` reads the frames ``game_eye serve --record DIR`` kept (``game_eye.record``) and writes
a Label Studio project's two files: ``config.xml``, the labelling interface (a RectangleLabels
choice per class the models know, and a "no target" choice for a screen without one), and
``tasks.json``, one task per frame not exported before, carrying GameEye's answer as a
pre-annotation (``predictions``), so that a labeller only corrects it. In Label Studio: create a
project, paste ``config.xml`` (Settings → Labeling Interface), add the folder as Local Storage
(Label Studio started with ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` at or above DIR), import ``tasks.json``, label, and
export as JSON. ``DIR/.exported.json`` remembers what was exported: a frame is never exported twice.
With ``--server`` the project (config, Local Storage on DIR, the tasks) is made through the SDK
(:mod:`gaa_mlops.label_studio`), and ``import`` takes the project's id or title instead of a file.

``import EXPORT --project NAME`` turns that export into ``projects/NAME`` (project.yaml, the frames
in ``images/``, COCO ``annotations.json``): a detection project like any other, which the dataset
builder, digests and caching treat as such. A task marked "no target" is a screen without a button;
a task nobody labelled yet is left out (and counted). Boxes come back pixel-exact: Label Studio
keeps percentages of the original size, turned back into pixels and rounded to 1/1000 px.
``--held-out`` makes an evaluation set (``held_out: true``: no training set may include it);
otherwise ``--weight`` (default 3) is the project's recipe weight, so field frames weigh more than
synthetic screens, and ``mine_proposals: true`` makes the verifier's hard-example mining run the
detector on them (its false proposals on real frames become negatives). Importing the same export
again changes nothing; a later export of the same frames adds the new ones and updates the changed
ones. Nothing is written unless the whole export
is valid; every problem names its task id (a box outside the image, an unknown label, a missing
image, an empty export).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional
from xml.sax.saxutils import quoteattr

import yaml

from gaa_mlops.data.coco import coco_box, write_coco
from gaa_mlops.label_studio import API_KEY_ENV, LabelStudioServer
from gaa_mlops.projects import ProjectError, check_label

DEFAULT_PROJECTS_DIR = Path(__file__).resolve().parents[1] / "projects"
FROM_NAME, TO_NAME, CHOICE_NAME = "label", "image", "frame"
NO_TARGET = "no target"
LEDGER = ".exported.json"
LOCAL_FILES_URL = "/data/local-files/?d="
PIXEL_DIGITS = 3
FIELD_WEIGHT = 3.0


class LabelError(ProjectError):
    """An export that cannot become a project; the message names every task at fault."""


# ---------------------------------------------------------------------------------------- export
def labelling_config(classes: Iterable[str]) -> str:
    """Label Studio's labelling interface: a box per class, and the "no target" choice."""
    labels = "\n".join(f"    <Label value={quoteattr(c)}/>" for c in classes)
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image" zoom="true"/>\n'
            f'  <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}">\n{labels}\n  </RectangleLabels>\n'
            f'  <Choices name="{CHOICE_NAME}" toName="{TO_NAME}" choice="single">\n'
            f'    <Choice value="{NO_TARGET}"/>\n  </Choices>\n</View>\n')


def _frames(folder: Path) -> list[tuple[dict[str, Any], Path]]:
    """(sidecar, image path) of every whole frame in a recording folder, oldest first."""
    out = []
    for side in sorted(folder.glob("*.json")):
        if side.name.startswith("."):
            continue
        doc = json.loads(side.read_text())
        if "frame" not in doc:
            continue
        images = [p for p in folder.glob(f"{side.stem}.*") if p.suffix != ".json" and not p.name.startswith(".")]
        if images:
            out.append((doc, images[0]))
    return out


def _percent(box, width: int, height: int) -> dict[str, float]:
    x1, y1, x2, y2 = box
    return {"x": 100.0 * x1 / width, "y": 100.0 * y1 / height,
            "width": 100.0 * (x2 - x1) / width, "height": 100.0 * (y2 - y1) / height, "rotation": 0}


def frame_task(doc: dict[str, Any], image: Path, classes: list[str], document_root: Path) -> dict[str, Any]:
    """One Label Studio task for a recorded frame, GameEye's detections as its pre-annotation."""
    w, h = int(doc["width"]), int(doc["height"])
    result = [{"id": f"d{i}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "rectanglelabels",
               "original_width": w, "original_height": h, "image_rotation": 0, "score": d["score"],
               "value": {**_percent(d["box"], w, h), "rectanglelabels": [d["label"]]}}
              for i, d in enumerate(doc.get("detections", []))]
    weights = doc.get("weights") or {}
    version = "+".join(f"{(weights.get(k) or {}).get('model_name')}@{(weights.get(k) or {}).get('version')}"
                       for k in ("ssd", "resnet"))
    outcome = doc.get("outcome") or {}
    rel = os.path.relpath(image.resolve(), document_root.resolve())
    return {"data": {"image": LOCAL_FILES_URL + rel, "frame": doc["frame"], "path": str(image.resolve()),
                     "width": w, "height": h, "labels": classes,
                     "outcome": {True: "ad closed", False: "ad NOT closed"}.get(outcome.get("closed"), "unknown")},
            "predictions": [{"model_version": version, "score": max((d["score"] for d in doc.get("detections", [])),
                                                                    default=0.0), "result": result}]}


def export_frames(folder: Path, document_root: Optional[Path] = None, classes: Optional[list[str]] = None,
                  server=None, ls_project: Optional[str] = None) -> dict[str, Any]:
    """Write ``folder/label-studio/{config.xml,tasks.json}`` for the frames not exported before; with
    ``server`` (a :class:`gaa_mlops.label_studio.LabelStudioServer`) also create or update its project
    ``ls_project`` (default ``gaa-field-<folder name>``) and import the tasks there. A frame counts as
    exported only once that import succeeded."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LabelError(f"{folder}: no such recording folder (game_eye serve --record DIR)")
    frames = _frames(folder)
    if not frames:
        raise LabelError(f"{folder}: no recorded frames (a frame is an image and its .json sidecar)")
    ledger_path = folder / LEDGER
    done = set(json.loads(ledger_path.read_text())) if ledger_path.is_file() else set()
    if classes is None:
        seen = {c for doc, _ in frames for c in (doc.get("labels") or [])}
        seen |= {d["label"] for doc, _ in frames for d in doc.get("detections", [])}
        classes = sorted(seen | {"close"})
    for c in classes:
        check_label(folder, "classes", c)
    root = Path(document_root or folder)
    new = [(doc, img) for doc, img in frames if doc["frame"] not in done]
    tasks = [frame_task(doc, img, classes, root) for doc, img in new]
    out = folder / "label-studio"
    out.mkdir(exist_ok=True)
    from game_eye.atomic import atomic_write_bytes

    config = labelling_config(classes)
    atomic_write_bytes(out / "config.xml", config.encode())
    atomic_write_bytes(out / "tasks.json", json.dumps(tasks, indent=1).encode())
    summary = {"tasks": len(tasks), "skipped_already_exported": len(frames) - len(new), "classes": classes,
               "config": str(out / "config.xml"), "tasks_file": str(out / "tasks.json")}
    if server is not None:
        title = ls_project or f"gaa-field-{folder.resolve().name}"
        project_id = server.ensure_project(title, config, folder)
        summary |= {"server": server.url, "ls_project": title, "ls_project_id": project_id,
                    "imported_to_server": server.import_tasks(project_id, tasks)}
    atomic_write_bytes(ledger_path, json.dumps(sorted(done | {t["data"]["frame"] for t in tasks})).encode())
    return summary


# ---------------------------------------------------------------------------------------- import
@dataclass
class LabelledFrame:
    task_id: Any
    frame: str
    image: Path
    width: int
    height: int
    boxes: list[tuple[float, float, float, float]]
    labels: list[str]


def _latest_annotation(task: dict[str, Any]) -> Optional[dict[str, Any]]:
    done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not done:
        return None
    return max(done, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0))


def _pixels(value: dict[str, Any], width: int, height: int) -> tuple[float, float, float, float]:
    x1, y1 = value["x"] * width / 100.0, value["y"] * height / 100.0
    x2, y2 = x1 + value["width"] * width / 100.0, y1 + value["height"] * height / 100.0
    return tuple(round(v, PIXEL_DIGITS) + 0.0 for v in (x1, y1, x2, y2))


def parse_export(tasks: Any, where: str) -> tuple[list[LabelledFrame], int]:
    """The labelled frames of a Label Studio JSON export, and how many tasks were not labelled yet.
    Raises LabelError naming every task at fault."""
    if not isinstance(tasks, list) or not tasks:
        raise LabelError(f"{where}: empty export (no tasks); export the project as JSON from Label Studio")
    problems, frames, unlabelled = [], [], 0
    for task in tasks:
        tid = task.get("id", "?") if isinstance(task, dict) else "?"
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or "frame" not in data or "path" not in data:
            problems.append(f"task {tid}: no data.frame / data.path (not a task `gaa_mlops.label export` wrote)")
            continue
        annotation = _latest_annotation(task)
        if annotation is None:
            unlabelled += 1
            continue
        image = Path(data["path"])
        if not image.is_file():
            problems.append(f"task {tid}: image {image} does not exist")
            continue
        width, height = int(data["width"]), int(data["height"])
        known = list(data.get("labels") or ["close"])
        boxes, labels, no_target = [], [], False
        for r in annotation.get("result") or []:
            if r.get("type") == "choices" and NO_TARGET in (r.get("value") or {}).get("choices", []):
                no_target = True
            elif r.get("type") == "rectanglelabels":
                value = r.get("value") or {}
                names = value.get("rectanglelabels") or []
                if len(names) != 1 or names[0] not in known:
                    problems.append(f"task {tid}: unknown label {names} (known: {known})")
                    continue
                if abs(float(value.get("rotation") or 0)) > 1e-6:
                    problems.append(f"task {tid}: a rotated box ({value['rotation']} degrees); draw it upright")
                    continue
                w, h = int(r.get("original_width") or width), int(r.get("original_height") or height)
                box = _pixels(value, w, h)
                if box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h or box[2] <= box[0] or box[3] <= box[1]:
                    problems.append(f"task {tid}: box {list(box)} is outside the {w}x{h} image or empty")
                    continue
                boxes.append(box)
                labels.append(names[0])
        if no_target and boxes:
            problems.append(f"task {tid}: marked '{NO_TARGET}' but has {len(boxes)} box(es)")
            continue
        frames.append(LabelledFrame(tid, str(data["frame"]), image, width, height, boxes, labels))
    if problems:
        shown = "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise LabelError(f"{where}: {len(problems)} problem(s), nothing imported: {shown}")
    if not frames:
        raise LabelError(f"{where}: none of its {len(tasks)} tasks is labelled yet; nothing to import")
    return frames, unlabelled


def _existing(root: Path) -> dict[str, dict[str, Any]]:
    """frame id -> {file, width, height, boxes, labels} of a field project already imported."""
    ann = root / "annotations.json"
    if not ann.is_file():
        return {}
    doc = json.loads(ann.read_text())
    cats = {c["id"]: c["name"] for c in doc["categories"]}
    out = {Path(im["file_name"]).stem: {"file": root / im["file_name"], "width": im["width"],
                                        "height": im["height"], "boxes": [], "labels": []} for im in doc["images"]}
    by_id = {im["id"]: Path(im["file_name"]).stem for im in doc["images"]}
    for a in doc["annotations"]:
        x, y, w, h = a["bbox"]
        shot = out[by_id[a["image_id"]]]
        shot["boxes"].append(tuple(round(v, PIXEL_DIGITS) + 0.0 for v in (x, y, x + w, y + h)))
        shot["labels"].append(cats[a["category_id"]])
    return out


def _project_yaml(name: str, held_out: bool, weight: float, source: str, n: int) -> str:
    role = "HELD-OUT: an evaluation set, never trained on." if held_out else "Trains the SSD and the verifier."
    doc = {"name": name, "task": "detection",
           "description": f"Field screenshots recorded by GameEye and labelled in Label Studio ({n} frames; "
                          f"last import: {source}). {role}",
           "sources": ["images/*"], "annotations": "annotations.json", "held_out": held_out,
           # the verifier's mining runs the detector on these frames: its false proposals on them are
           # the hard negatives that matter most
           "mine_proposals": not held_out,
           "augment": {"scale": [1.0, 1.0], "rotate": 0, "color_jitter": 0.0, "hflip": False,
                       "weight": 1.0 if held_out else float(weight)}}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def import_export(export: Path, project: str, projects_dir: Path = DEFAULT_PROJECTS_DIR, held_out: bool = False,
                  weight: float = FIELD_WEIGHT) -> dict[str, Any]:
    """Write (or update) ``projects_dir/project`` from a Label Studio JSON export; see the module doc."""
    check_label(Path(projects_dir), "--project", project)
    try:
        tasks = json.loads(Path(export).read_text())
    except (OSError, ValueError) as exc:
        raise LabelError(f"{export}: cannot read a Label Studio JSON export: {exc}") from None
    return import_tasks(tasks, str(export), project, projects_dir, held_out, weight)


def import_from_server(server, ls_project: str, project: str, projects_dir: Path = DEFAULT_PROJECTS_DIR,
                       held_out: bool = False, weight: float = FIELD_WEIGHT) -> dict[str, Any]:
    """``import_export`` of the JSON export that ``server`` gives for its project ``ls_project`` (id or title)."""
    check_label(Path(projects_dir), "--project", project)
    tasks = server.export(ls_project)
    return import_tasks(tasks, f"Label Studio project {ls_project!r} at {server.url}", project, projects_dir,
                        held_out, weight)


def import_tasks(tasks: Any, where: str, project: str, projects_dir: Path = DEFAULT_PROJECTS_DIR,
                 held_out: bool = False, weight: float = FIELD_WEIGHT) -> dict[str, Any]:
    """Write (or update) ``projects_dir/project`` from the tasks of a Label Studio JSON export
    (``where`` names them in errors)."""
    check_label(Path(projects_dir), "--project", project)
    frames, unlabelled = parse_export(tasks, where)
    root = Path(projects_dir) / project
    if root.exists() and not (root / "project.yaml").is_file():
        raise LabelError(f"{root} exists but is not a project; choose another --project")
    if (root / "project.yaml").is_file():
        was = yaml.safe_load((root / "project.yaml").read_text()) or {}
        if bool(was.get("held_out", False)) != held_out:
            raise LabelError(f"project {project} is {'held out' if was.get('held_out') else 'a training set'}; "
                             f"import with{'' if was.get('held_out') else 'out'} --held-out, or into another project")
    shots = _existing(root)
    before = json.dumps({k: (v["boxes"], v["labels"]) for k, v in sorted(shots.items())})
    for f in frames:
        shots[f.frame] = {"file": f.image, "width": f.width, "height": f.height, "boxes": f.boxes, "labels": f.labels}
    after = json.dumps({k: (v["boxes"], v["labels"]) for k, v in sorted(shots.items())})
    summary = {"project": str(root), "frames": len(shots), "imported": len(frames), "not_labelled": unlabelled}
    if before == after and (root / "project.yaml").is_file():
        return {**summary, "changed": False}
    _write_project(root, project, shots, held_out, weight, where)
    return {**summary, "changed": True}


def _write_project(root: Path, name: str, shots: dict[str, dict[str, Any]], held_out: bool, weight: float,
                   source: str) -> None:
    """Build the whole project next to ``root``, then swap it in: never a half-written project."""
    classes = sorted({c for s in shots.values() for c in s["labels"]} | {"close"})
    cat_id = {c: i + 1 for i, c in enumerate(classes)}
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root.parent))
    try:
        (tmp / "images").mkdir()
        images, annotations = [], []
        for i, (frame, s) in enumerate(sorted(shots.items()), start=1):
            dest = tmp / "images" / f"{frame}{Path(s['file']).suffix.lower()}"
            shutil.copyfile(s["file"], dest)
            images.append({"id": i, "file_name": f"images/{dest.name}", "width": int(s["width"]),
                           "height": int(s["height"]), "sha256": hashlib.sha256(dest.read_bytes()).hexdigest()})
            for box, label in zip(s["boxes"], s["labels"]):
                annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": cat_id[label],
                                    **coco_box(*box, ndigits=PIXEL_DIGITS), "iscrowd": 0})
        write_coco(tmp / "annotations.json", images, annotations,
                   [{"id": cat_id[c], "name": c} for c in classes], indent=1)
        (tmp / "project.yaml").write_text(_project_yaml(name, held_out, weight, source, len(images)))
        old = None
        if root.exists():
            old = root.with_name(f".{name}.old")
            shutil.rmtree(old, ignore_errors=True)
            root.rename(old)
        tmp.rename(root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------------- CLI
def main(argv: Optional[list[str]] = None) -> int:
    """``python -m gaa_mlops.label export DIR`` / ``import EXPORT --project NAME [--held-out]``."""
    p = argparse.ArgumentParser(prog="python -m gaa_mlops.label", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="recorded frames -> Label Studio config.xml + tasks.json")
    e.add_argument("folder", type=Path, help="the folder of game_eye serve --record")
    e.add_argument("--document-root", type=Path, default=None,
                   help="Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: the folder itself)")
    e.add_argument("--classes", default=None, help="comma-separated classes to label (default: what the frames saw)")
    e.add_argument("--server", default=None, metavar="URL",
                   help="also create/update the project on this Label Studio server and import the tasks "
                        f"(API key from ${API_KEY_ENV})")
    e.add_argument("--ls-project", default=None, metavar="TITLE",
                   help="the Label Studio project's title (default: gaa-field-<folder name>)")
    i = sub.add_parser("import", help="a Label Studio JSON export -> projects/NAME")
    i.add_argument("export", help="the JSON file Label Studio exported; with --server: the project's id or title")
    i.add_argument("--server", default=None, metavar="URL",
                   help=f"download the export from this Label Studio server (API key from ${API_KEY_ENV})")
    i.add_argument("--project", required=True, help="the detection project to write, e.g. field_2026_12")
    i.add_argument("--held-out", action="store_true", help="an evaluation set: never part of a training set")
    i.add_argument("--weight", type=float, default=FIELD_WEIGHT, help="recipe weight of a training project")
    i.add_argument("--projects-dir", type=Path, default=DEFAULT_PROJECTS_DIR)
    args = p.parse_args(argv)
    try:
        server = LabelStudioServer(args.server) if args.server else None
        if args.command == "export":
            classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
            out = export_frames(args.folder, args.document_root, classes, server, args.ls_project)
        elif server is not None:
            out = import_from_server(server, args.export, args.project, args.projects_dir, args.held_out, args.weight)
        else:
            out = import_export(Path(args.export), args.project, args.projects_dir, args.held_out, args.weight)
    except ProjectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
