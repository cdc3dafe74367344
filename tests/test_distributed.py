"""Multi-process training: torchrun, 2 CPU processes, gloo, on the tiny config, against one process.

Both runs use the same global batch (4) and the same data; they differ only in which images share
a step (the ``DistributedSampler`` shard order vs one shuffled loader) and in BatchNorm statistics
(2 images per process vs 4), so their metrics agree within that noise, not bit for bit.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from gaa_mlops import registry
from gaa_mlops.distributed import DeviceError, resolve_device
from gaa_mlops.train import train
from tests.tiny import MODEL_OVERRIDES, compose_tiny, hydra_init, subprocess_env, tiny_overrides

REPO = Path(__file__).resolve().parents[1]
# A little more than the 1-epoch tiny run, so the comparison is about training, not the random init.
SIZE = ["model.dataset.n_train=16", "model.dataset.n_val=8", "trainer.epochs=1", "trainer.batch_size=8",
        "trainer.lr=0.0002", "trainer.warmup_epochs=0"]


def _torchrun(root: Path, model: str, *extra: str) -> subprocess.CompletedProcess:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    args = [*tiny_overrides(root), f"model={model}", *MODEL_OVERRIDES[model], *SIZE, *extra,
            f"hydra.run.dir={root / 'hydra'}"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "gaa_mlops.train", *args]
    proc = subprocess.run(cmd, cwd=REPO, env=subprocess_env(uri), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


# Tolerances: at lr 2e-4 over one epoch the weights move little from the (identical) init, so the
# runs differ only by which images share a BatchNorm batch (4 per process vs 8). val_loss runs in
# eval mode (running statistics), so it barely notices: measured 0.02% and 0.16% (resnet34). train_loss is
# computed in train mode on batches of 4-8 crops, where the batch statistics themselves move the loss:
# measured 1.0% on the original project set, 7.7% (resnet34) after one more close project changed
# which crops the 16-image set holds, and 19% once the verifier's crops took wider context
# (crop_margin 0.8). These check the wiring (every image counted once, all-reduced means, rank 0
# alone logging); they are not a convergence study, and val_loss is the tight check.
@pytest.mark.parametrize("model,tolerances", [
    ("resnet34", {"val_loss": 0.02, "train_loss": 0.3}),
    ("ssd", {"val_loss": 0.02, "train_loss": 0.15}),
])
def test_two_processes_match_one_process(tmp_path, model, tolerances):
    one_root, two_root = tmp_path / "one", tmp_path / "two"
    one_root.mkdir()
    two_root.mkdir()
    with hydra_init():
        one = train(compose_tiny(one_root, model, *SIZE))
    _torchrun(two_root, model)

    client = MlflowClient(f"sqlite:///{two_root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("gaa-test")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1, "only rank 0 creates a run"
    run = runs[0]
    assert run.data.tags["gaa.processes"] == "2"
    versions = client.search_model_versions(f"name = '{run.data.params['model.registered_name']}'")
    assert len(versions) == 1, "only rank 0 registers"
    # every epoch logged once, with all 16 training images counted
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1]

    ref = MlflowClient(f"sqlite:///{one_root / 'mlflow.db'}").get_run(one["run_id"])
    for key, tol in tolerances.items():
        a, b = ref.data.metrics[key], run.data.metrics[key]
        assert b == pytest.approx(a, rel=tol), f"{key}: 1 process {a:.4f}, 2 processes {b:.4f}"
    # the weights of the 2-process run are one ordinary gaa-weights file (no DDP 'module.' prefix)
    state = torch.load(registry.download_weights(client, versions[0], tmp_path), weights_only=True)["state_dict"]
    assert not any(k.startswith("module.") for k in state)


def test_cuda_requested_without_cuda_fails_clearly(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="CUDA is not available.*trainer.device=cpu"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(DeviceError, match="valid"):
        resolve_device("tpu")


def test_cuda_without_cuda_fails_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with hydra_init(), pytest.raises(DeviceError, match="CUDA is not available"):
        train(compose_tiny(tmp_path, "resnet34", "trainer.device=cuda"))
    assert not (tmp_path / "datasets").exists()


def test_global_batch_must_split_over_processes():
    from gaa_mlops.distributed import DistContext
    from gaa_mlops.training.fit import local_batch_size
    assert local_batch_size(32, DistContext(rank=1, world_size=2)) == 16
    with pytest.raises(ValueError, match="multiple of 3"):
        local_batch_size(32, DistContext(rank=0, world_size=3))
