"""Dataset build throughput (images/s) for both models, and the cache-hit time.

    .venv/bin/python benchmarks/dataset_build.py                          # 60 screens / 200 crops
    .venv/bin/python benchmarks/dataset_build.py --screens 120 --crops 400 --workers 1 2

Builds each model's dataset from the real projects and the default configs (Hydra composed, like
the entry points do), with small n, into a tmp folder: a cold build (the full path: render, save,
COCO / class folders, manifest, archive), then the same call again (a cache hit: digest the
project files and find the manifest). ``--workers`` lists the pool sizes to compare, each one a
separate cold build (a different n_train seeds a different digest, so it never hits the cache).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, cpu_note, table  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--screens", type=int, default=60, help="detector screens (train; val is a tenth)")
    p.add_argument("--crops", type=int, default=200, help="verifier crops per class (train; val is a tenth)")
    p.add_argument("--workers", type=int, nargs="+", default=[2], help="pool sizes to compare")
    a = p.parse_args()

    from hydra import compose, initialize_config_dir

    print(f"# Dataset build  ({cpu_note()})", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="ds_bench_"))
    rows = []
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for i, workers in enumerate(a.workers):
            for model, n in (("ssd", a.screens), ("resnet34", a.crops)):
                n_i = n + i  # a new digest per pool size: each is a cold build
                cfg = compose(config_name="config", overrides=[
                    f"model={model}", f"paths.root={tmp}", f"paths.projects_dir={REPO / 'projects'}",
                    f"paths.datasets_dir={tmp / 'datasets'}", f"model.dataset.n_train={n_i}",
                    f"model.dataset.n_val={max(1, n_i // 10)}"])
                cold = _build(cfg, workers)
                hit = _build(cfg, workers)
                assert not cold.cache_hit and hit.cache_hit and hit.digest == cold.digest
                n_img = cold.extra.get("images") or sum(sum(c.values()) for c in cold.manifest["counts"].values())
                size = sum(f.stat().st_size for f in cold.path.rglob("*") if f.is_file()) / 1e6
                rows.append([model, workers, n_img, cold.seconds, n_img / cold.seconds, hit.seconds * 1000, size])
                print(f"  {model} workers={workers}: done", flush=True)
    print()
    print(table(["model", "workers", "images", "cold build s", "images/s", "cache hit ms", "MB on disk"], rows,
                "Dataset build (real projects, default recipes, small n)"))
    print("images: detector screens (train + val) or verifier crops (all classes, train + val); "
          "the cold build includes the tar.gz archive")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _build(cfg, workers: int):
    """What ``gaa_mlops.data.build.build_for_config`` does, with the pool size given explicitly."""
    from omegaconf import OmegaConf

    from gaa_mlops.classes import resolve_config_classes
    from gaa_mlops.data.build import build_dataset

    def plain(v):
        return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v

    m = cfg.model
    return build_dataset(list(plain(cfg.projects.include)), cfg.paths.projects_dir, cfg.paths.datasets_dir,
                         model=str(m.name), task=str(m.task), image_size=plain(m.image_size),
                         classes=resolve_config_classes(cfg), recipe=plain(m.dataset), workers=workers,
                         set_name=str(cfg.projects.get("name", "")) or None, progress=False)


if __name__ == "__main__":
    sys.exit(main())
