"""Build (or reuse) a content-addressed dataset from projects.

``build_dataset(...)`` takes plain values. The result lives in ``<datasets_dir>/<model>-<digest[:12]>``::

    classification: {train,val}/<class>/<n>.png
    detection:      {train,val}/images/<n>.png + {train,val}/annotations.json (COCO, pixels of image_size;
                    category ids are the model's class indices: 1 = the first class after background)
    both:           manifest.json (written last) and data_set.tar.gz (the directory's contents)

A directory holding ``manifest.json`` is complete: it is built under a hidden temporary name next
to it and renamed into place only when whole, so an error or a crash never leaves a directory that
looks complete. Every sample has its own seed (recipe seed, split, class, index), so the result does
not depend on how the worker processes are scheduled.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import shutil
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
from PIL import Image

from gaa_mlops.classes import split_classes
from gaa_mlops.data.assets import Assets, load_image
from gaa_mlops.data.coco import coco_box, write_coco
from gaa_mlops.data.compose import compose_screen, real_screen, split_screenshots
from gaa_mlops.data.digest import BUILDER_VERSION, dataset_digest, normalize_image_size
from gaa_mlops.data.mining import MAX_SCREENS_PER_CROP, ProposalMiner, mining_enabled
from gaa_mlops.data.verifier import make_crop
from gaa_mlops.projects import ProjectError, is_negative, load_projects, verify_images
from game_eye.weights import file_sha256

SPLITS = ("train", "val")
_SPLIT_CODE = {"train": 1, "val": 2}           # separate seed streams for the two splits
MINE_STREAM = 77                                # the seed stream of mined screens
MANIFEST = "manifest.json"
ARCHIVE = "data_set.tar.gz"
TASKS = ("classification", "detection")
Fetch = Callable[[str, str, Path], Optional[str]]    # (digest, name, datasets_dir) -> where it came from


@dataclass
class BuiltDataset:
    """A dataset on disk: ``path`` holds manifest.json, the splits and data_set.tar.gz."""
    name: str
    path: Path
    digest: str
    manifest: dict[str, Any]
    cache_hit: bool
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    detector: Path | None = None      # the local file of the detector a verifier dataset was mined with

    @property
    def archive(self) -> Path:
        return self.path / ARCHIVE

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST


def dataset_name(model: str, digest: str) -> str:
    return f"{model}-{digest[:12]}"


def _sample_rng(seed: int, split: str, class_idx: int, idx: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _SPLIT_CODE[split], int(class_idx), int(idx)])


# --- worker side -----------------------------------------------------------------------------
_W: dict[str, Any] = {}


def _init_worker(projects, recipe, task, image_size, classes, out_dir, detector=None) -> None:
    load_image.cache_clear()       # a source may have changed since an earlier build in this process
    targets = _targets(task, classes)
    miner = ProposalMiner(detector, recipe) if detector else None
    _W.update(assets=Assets(projects), recipe=recipe, task=task, image_size=tuple(image_size),
              classes=list(classes), targets=targets, out=Path(out_dir), miner=miner)


def _targets(task: str, classes: Sequence[str]) -> list[str]:
    """The target classes of a model's class list (a detector's may omit ``background``)."""
    if task == "detection":
        classes = ["background", *dataset_classes(task, classes)]
    return split_classes(task, classes)[0]


def _run_job(job: tuple) -> tuple:
    """Render one sample and write it; returns what the index needs (boxes for detection). A
    ``mine`` job composes one screen and returns its mined crops, unwritten (the main process
    decides which ones fill the quotas)."""
    kind, split, cls, idx, payload = job
    if kind == "mine":
        rng = np.random.default_rng([int(_W["recipe"].get("seed", 0)), _SPLIT_CODE[split], MINE_STREAM, int(idx)])
        crops, source = _W["miner"].mine_screen(rng, _W["assets"], _W["image_size"][0],
                                                negative_class(_W["classes"]))
        return (split, source, idx, {c: [np.asarray(im) for im in ims] for c, ims in crops.items()})
    rng = _sample_rng(_W["recipe"].get("seed", 0), split, _W["classes"].index(cls) if cls else 0, idx)
    if kind == "crop":
        img = make_crop(rng, _W["assets"], _W["recipe"], cls, _W["image_size"][0], _W["targets"])
        img.save(_W["out"] / split / cls / f"{idx}.png", compress_level=1)
        return (split, cls, idx, None)
    if kind == "real":
        img, boxes, labels = real_screen(_W["assets"], payload, _W["image_size"])
    else:
        img, boxes, labels = compose_screen(rng, _W["assets"], _W["recipe"], _W["image_size"], _W["targets"])
    img.save(_W["out"] / split / "images" / f"{idx}.png", compress_level=1)
    # boxes of a class the model does not learn (a close-only detector on screens with watch_ad
    # buttons) are left out: to this model they are background
    kept = [(list(map(float, b)), lab) for b, lab in zip(boxes, labels) if lab in _W["targets"]]
    return (split, None, idx, kept)


def negative_class(classes: Sequence[str]) -> str:
    """The verifier's negative class among its ``classes`` (``not_close`` or ``other``)."""
    return next(c for c in classes if is_negative(c))


def _quotas(recipe: dict[str, Any], classes: Sequence[str], miner_shares: dict[str, float] | None) -> dict:
    """Mined crops wanted per split and class (the rest of each class are ordinary crops)."""
    n = {"train": int(recipe.get("n_train", 0)), "val": int(recipe.get("n_val", 0))}
    shares = miner_shares or {}
    return {split: {c: int(round(n[split] * shares.get(c, 0.0))) for c in classes} for split in SPLITS}


def _plan(assets: Assets, task: str, classes: Sequence[str], recipe: dict[str, Any],
          quotas: dict | None = None) -> list[tuple]:
    n = {"train": int(recipe.get("n_train", 0)), "val": int(recipe.get("n_val", 0))}
    jobs: list[tuple] = []
    if task == "classification":
        for split in SPLITS:
            for cls in classes:
                mined = (quotas or {}).get(split, {}).get(cls, 0)
                jobs += [("crop", split, cls, i, None) for i in range(n[split] - mined)]
        return jobs
    share = n["val"] / max(1, n["train"] + n["val"])
    train_shots, val_shots = split_screenshots(np.random.default_rng([int(recipe.get("seed", 0)), 99]),
                                               assets.screenshots, share)
    for split, shots in (("train", train_shots), ("val", val_shots)):
        if split == "train":  # a project's weight repeats its screens (field frames weigh more)
            shots = [s for s in shots for _ in range(max(1, round(assets.shot_weight(s))))]
        shots = shots[: n[split] // 2]               # real screens take at most half of a split
        jobs += [("real", split, None, i, s) for i, s in enumerate(shots)]
        jobs += [("synth", split, None, i, None) for i in range(len(shots), n[split])]
    return jobs


# --- main side -------------------------------------------------------------------------------
def _check_inputs(assets: Assets, task: str, classes: Sequence[str], where: str) -> None:
    """Every target class needs a project that shows it (sprites or boxed screenshots)."""
    try:
        targets = _targets(task, classes)
    except ValueError as exc:
        raise ProjectError(f"model classes cannot be built from {where}: {exc}") from exc
    for c in targets:
        if not assets.has_sprites(c) and not assets.boxed(c):
            raise ProjectError(f"class {c!r} of the model's classes {list(classes)} has no project in {where}: "
                               f"add a sprite project with `label: {c}` or a detection project with "
                               f"{c!r} boxes, or use `model.classes: auto`")


def _mining_recipe(recipe: dict[str, Any], task: str) -> tuple[dict[str, Any], Path | None]:
    """(recipe as digested, detector weight file or None): the digest covers the detector file's
    CONTENT (``sha256:<hex>``), not the path it happens to be read from."""
    if not mining_enabled(recipe):
        recipe.pop("hard_negatives", None)          # unused settings must not change the digest
        return recipe, None
    hn = dict(recipe["hard_negatives"])
    path = Path(str(hn["detector"]))
    if task != "classification":
        raise ValueError("dataset.hard_negatives: only a classification (verifier) dataset mines proposals")
    if not path.is_file():
        raise FileNotFoundError(f"dataset.hard_negatives.detector: weight file {path} does not exist "
                                "(resolve models:/ and runs:/ references with build_for_config)")
    hn["detector"] = f"sha256:{file_sha256(path)}"
    return {**recipe, "hard_negatives": hn}, path


def dataset_classes(task: str, classes: Sequence[str]) -> list[str]:
    """The classes a dataset stores: detection drops the model's implicit ``background``."""
    return [c for c in classes if c != "background"] if task == "detection" else list(classes)


def _write_split_coco(path: Path, records: list, classes: Sequence[str], image_size: tuple[int, int]) -> int:
    """A split's annotations.json (boxes in pixels of image_size); returns the number of boxes."""
    H, W = image_size
    names = dataset_classes("detection", classes)
    ids = {c: i + 1 for i, c in enumerate(names)}      # COCO ids start at 1 = the model's label index
    images, anns = [], []
    for idx, objects in sorted(records, key=lambda r: r[0]):
        images.append({"id": idx, "file_name": f"images/{idx}.png", "width": W, "height": H})
        for b, label in objects:
            anns.append({"id": len(anns) + 1, "image_id": idx, "category_id": ids[label], **coco_box(*b),
                         "iscrowd": 0})
    write_coco(path, images, anns, [{"id": ids[c], "name": c} for c in names])
    return len(anns)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="img", disable=not enabled, file=sys.stderr)


def build_dataset(projects: Sequence[str], projects_dir: str | Path, datasets_dir: str | Path, *,
                  model: str, task: str, image_size: int | Sequence[int], classes: Sequence[str],
                  recipe: dict[str, Any], set_name: str | None = None, workers: int = 2,
                  progress: bool = True, fetch: Fetch | None = None) -> BuiltDataset:
    """Build the dataset of ``projects`` for one model, or return the cached one.

    ``recipe`` is the model's ``dataset`` dict (n_train, n_val, seed, ...); n_train/n_val count
    crops per class (classification) or screens (detection). ``fetch(digest, name, datasets_dir)``,
    tried when the local cache lacks the digest, may put the whole dataset in place from elsewhere
    (``gaa_mlops.data.mlflow_dataset.fetch_logged_dataset``) and return where it came from."""
    t0 = time.perf_counter()
    if task not in TASKS:
        raise ValueError(f"task {task!r} cannot be built; valid: {list(TASKS)}")
    size = normalize_image_size(image_size)
    if task == "classification" and size[0] != size[1]:
        raise ValueError(f"classification crops are square; got image_size {list(size)}")
    recipe, detector = _mining_recipe(dict(recipe), task)
    loaded = sorted(load_projects(projects, projects_dir, set_name), key=lambda p: p.name)
    digest = dataset_digest(loaded, task, size, classes, recipe)
    name = dataset_name(model, digest)
    root = Path(datasets_dir)
    final = root / name
    if (final / MANIFEST).is_file():
        manifest = json.loads((final / MANIFEST).read_text())
        return BuiltDataset(name, final.resolve(), digest, manifest, True, time.perf_counter() - t0,
                            detector=detector)
    fetched_from = fetch(digest, name, root) if fetch is not None else None
    if fetched_from is not None and (final / MANIFEST).is_file():
        manifest = json.loads((final / MANIFEST).read_text())
        return BuiltDataset(name, final.resolve(), digest, manifest, True, time.perf_counter() - t0,
                            extra={"fetched_from": fetched_from}, detector=detector)

    verify_images(loaded)
    assets = Assets(loaded)
    _check_inputs(assets, task, classes, f"project set {set_name!r} ({[p.name for p in loaded]})"
                  if set_name else f"the project list {[p.name for p in loaded]}")
    shares = None
    if detector:
        probe = ProposalMiner(detector, recipe)     # a bad weight file fails here, naming it; exports once
        shares = {c: probe.share(c) for c in classes}
    quotas = _quotas(recipe, classes, shares) if task == "classification" else {}
    jobs = _plan(assets, task, classes, recipe, quotas)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    os.chmod(tmp, 0o755)                             # mkdtemp makes it private; the result is shared
    try:
        for split in SPLITS:
            if task == "classification":
                for cls in classes:
                    (tmp / split / cls).mkdir(parents=True)
            else:
                (tmp / split / "images").mkdir(parents=True)
        init = (loaded, recipe, task, size, list(classes), str(tmp), detector)
        mining_log: dict[str, Any] = {}
        with _progress(len(jobs) + sum(sum(q.values()) for q in quotas.values()), f"dataset {name}", progress) as bar, \
                _workers(workers, init, serial=len(jobs) < 8 and not detector) as run:
            results = []
            for r in run(jobs):
                results.append(r)
                bar.update()
            if detector:
                n = {"train": int(recipe.get("n_train", 0)), "val": int(recipe.get("n_val", 0))}
                for split in SPLITS:
                    written, mining_log[split] = _mine_split(run, split, quotas[split], n[split], tmp, bar)
                    results += written
        counts: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            if task == "classification":
                counts[split] = {c: sum(1 for r in results if r[0] == split and r[1] == c) for c in classes}
            else:
                recs = [(r[2], r[3]) for r in results if r[0] == split]
                boxes = _write_split_coco(tmp / split / "annotations.json", recs, classes, size)
                counts[split] = {"images": len(recs), "boxes": boxes,
                                 "empty": sum(1 for _, b in recs if not b)}
                if len(dataset_classes(task, classes)) > 1:      # boxes per class: only with several
                    counts[split]["boxes_per_class"] = {
                        c: sum(1 for _, objs in recs for _, lab in objs if lab == c)
                        for c in dataset_classes(task, classes)}
        manifest = {
            "name": name, "digest": digest, "model": model, "task": task, "image_size": list(size),
            "classes": dataset_classes(task, classes), "counts": counts, "projects": [p.name for p in loaded],
            "project_set": set_name, "recipe": recipe, "builder_version": BUILDER_VERSION,
        }
        if mining_log:
            manifest["mining"] = mining_log
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))   # last file
        _archive(tmp, name)
        try:
            os.rename(tmp, final)                    # atomic on one filesystem
        except OSError:
            if not (final / MANIFEST).is_file():     # an incomplete leftover: replace it
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
            else:                                    # a concurrent build finished first: same content
                shutil.rmtree(tmp, ignore_errors=True)
                manifest = json.loads((final / MANIFEST).read_text())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuiltDataset(name, final.resolve(), digest, manifest, False, time.perf_counter() - t0,
                        extra={"images": len(jobs)}, detector=detector)


@contextlib.contextmanager
def _workers(workers: int, init: tuple, serial: bool):
    """``run(jobs)``: an iterator of ``_run_job`` results in job order, in a pool of ``workers``
    processes (or in this process)."""
    if workers <= 1 or serial:
        _init_worker(*init)
        yield lambda jobs: map(_run_job, jobs)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=init) as pool:
        yield lambda jobs: pool.imap(_run_job, jobs, chunksize=4)


def _mine_split(run, split: str, quota: dict[str, int], n: int, out: Path, bar) -> tuple[list, dict]:
    """Fill ``quota`` (mined crops per class) of ``split`` from composed screens, taken in screen
    order, so the result does not depend on scheduling; a class the screens cannot fill (the
    detector never proposes it) gets ordinary crops for the rest. Crops are numbered after the
    class's ordinary ones. Returns the index entries and what was drawn."""
    need = {c: q for c, q in quota.items() if q > 0}
    taken = {c: 0 for c in need}
    screens, limit = 0, MAX_SCREENS_PER_CROP * sum(need.values())
    from_screenshots: dict[str, int] = {}     # mine_proposals screenshots among the screens, by file
    while screens < limit and any(taken[c] < need[c] for c in need):
        missing = sum(need[c] - taken[c] for c in need)
        batch = range(screens, min(limit, screens + max(16, missing // 2)))
        for _, source, _, crops in run([("mine", split, None, j, None) for j in batch]):
            if source is not None:
                from_screenshots[Path(source).name] = from_screenshots.get(Path(source).name, 0) + 1
            for c, arrays in crops.items():
                for arr in arrays:
                    if c in need and taken[c] < need[c]:
                        Image.fromarray(arr).save(out / split / c / f"{n - need[c] + taken[c]}.png", compress_level=1)
                        taken[c] += 1
                        bar.update()
        screens = batch.stop
    fallback = {c: need[c] - taken[c] for c in need if taken[c] < need[c]}
    written = [(split, c, n - need[c] + i, None) for c in need for i in range(taken[c])]
    if fallback:     # ordinary crops in the places the screens did not fill
        jobs = [("crop", split, c, n - k + i, None) for c, k in fallback.items() for i in range(k)]
        for r in run(jobs):
            written.append(r)
            bar.update()
    log = {"screens": screens, "mined": taken, "ordinary_instead": fallback}
    if from_screenshots:
        log["from_screenshots"] = dict(sorted(from_screenshots.items()))
    return written, log


def _archive(directory: Path, name: str) -> None:
    """``data_set.tar.gz`` of the directory (entries under ``<name>/``), written beside its contents."""
    part = directory / (ARCHIVE + ".part")
    with tarfile.open(part, "w:gz", compresslevel=1) as tar:
        for entry in sorted(directory.iterdir()):
            if entry.name not in (ARCHIVE, part.name):
                tar.add(entry, arcname=f"{name}/{entry.name}")
    part.rename(directory / ARCHIVE)


def build_for_config(cfg) -> BuiltDataset:
    """Adapter for entry points: the dataset of ``cfg.model`` from ``cfg.projects`` and ``cfg.paths``
    (``model.classes: auto`` resolved from the project set), fetched from the tracking store in use
    when a run there keeps its digest and the local cache does not."""
    from omegaconf import OmegaConf

    from gaa_mlops.classes import resolve_config_classes

    def plain(v):
        return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v

    m = cfg.model
    recipe = plain(m.dataset)
    if mining_enabled(recipe):
        recipe["hard_negatives"]["detector"] = str(_local_detector(recipe["hard_negatives"]["detector"],
                                                                   Path(cfg.paths.datasets_dir)))
    from gaa_mlops.data.mlflow_dataset import fetch_logged_dataset

    return build_dataset(list(plain(cfg.projects.include)), cfg.paths.projects_dir, cfg.paths.datasets_dir,
                         model=str(m.name), task=str(m.task), image_size=plain(m.image_size),
                         classes=resolve_config_classes(cfg), recipe=recipe,
                         set_name=str(cfg.projects.get("name", "")) or None, fetch=fetch_logged_dataset)


def _local_detector(spec: str, datasets_dir: Path) -> Path:
    """A local copy of the mining detector ``spec`` (file, models:/..., runs:/...), kept under
    ``<datasets_dir>/.detectors/<sha256[:16]>/`` so its ONNX export is cached with it."""
    from mlflow import MlflowClient

    from gaa_mlops.registry import fetch_weights

    if not str(spec).startswith(("models:/", "runs:/")):
        return Path(spec)
    datasets_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".detector-", dir=datasets_dir))
    try:
        path, _ = fetch_weights(MlflowClient(), str(spec), tmp)
        final = datasets_dir / ".detectors" / file_sha256(path)[:16]
        if not (final / path.name).is_file():
            final.mkdir(parents=True, exist_ok=True)
            os.replace(path, final / path.name)
        return final / path.name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
