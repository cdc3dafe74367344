"""Training both models on the tiny config into a real (tmp) MLflow store."""
from __future__ import annotations

import math
import subprocess
import tarfile
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow import MlflowClient

from gaa_mlops import registry
from gaa_mlops.train import check_names, train
from gaa_mlops.training.precision import autocast_dtype, precision_name
from game_eye.models import build_from_weights
from game_eye.weights import file_sha256, load_weights, save_weights
from tests.tiny import compose_tiny, hydra_init

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def hydra_conf():
    with hydra_init():
        yield


@pytest.mark.parametrize("model", ["ssd", "resnet34"])
def test_train_logs_registers_and_weights_rebuild(tmp_path, hydra_conf, model):
    cfg = compose_tiny(tmp_path, model)
    summary = train(cfg)
    client = MlflowClient()
    run = client.get_run(summary["run_id"])
    # params: flattened, stable keys
    assert run.data.params["model.name"] == model
    assert run.data.params["trainer.epochs"] == "1"
    assert "trainer.resume" not in run.data.params
    # the training step's precision as it ran (trainer.precision=auto: bf16 where the CPU has it)
    assert run.data.tags["gaa.train_precision"] == precision_name(autocast_dtype("auto", torch.device("cpu")))
    # metrics per epoch with step=epoch
    hist = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in hist] == [1]
    metric = "val_map50" if model == "ssd" else "val_accuracy"
    assert metric in run.data.metrics
    # dataset input with digest
    inputs = run.inputs.dataset_inputs
    assert inputs and inputs[0].dataset.digest and summary["dataset_digest"].startswith(inputs[0].dataset.digest[:8])
    # code and artifacts
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert len(head) == 40 and run.data.tags["git_commit"] == head     # the code that ran, not "unknown"
    code = client.download_artifacts(run.info.run_id, "code/source.tar.gz", str(tmp_path / "code"))
    with tarfile.open(code) as tar:
        assert {"gaa_mlops/train.py", "game_eye/engine.py", "conf/config.yaml"} <= set(tar.getnames())
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "code", "checkpoints", "plots"} <= arts   # the weights: in the run's logged model
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/loss_curves.png" in plots
    assert ("plots/val_detections.png" if model == "ssd" else "plots/confusion_matrix.png") in plots
    # registered version with tags and alias candidate
    name = cfg.model.registered_name
    mv = registry.resolve_version(client, name, alias="candidate")
    assert int(mv.version) == summary["version"]
    for tag in ("run_id", "dataset_digest", "git_commit", "weights_sha256", "val_metric"):
        assert mv.tags[tag], tag
    path = registry.download_weights(client, mv, tmp_path / "dl")
    assert file_sha256(path) == mv.tags["weights_sha256"]
    doc = load_weights(path)
    assert doc["version"] == str(mv.version) and doc["run_id"] == run.info.run_id
    assert 0 <= doc["score_threshold"] <= 1
    rebuilt = build_from_weights(doc)
    raw = torch.load(path, weights_only=True)
    assert set(rebuilt.state_dict()) == set(raw["state_dict"])
    if model == "resnet34":  # validation crops of both classes, for GameEye's int8 quantization
        crops = doc["calibration_crops"]
        assert crops.dtype == torch.uint8 and crops.shape[1:] == (32, 32, 3) and len(crops) == 2 * 4
    else:
        assert "calibration_crops" not in doc


def test_resume_continues_the_same_run(tmp_path, hydra_conf):
    first = train(compose_tiny(tmp_path, "resnet34"))
    second = train(compose_tiny(tmp_path, "resnet34", "trainer.epochs=2", f"trainer.resume={first['run_id']}"))
    assert second["run_id"] == first["run_id"]
    hist = MlflowClient().get_metric_history(first["run_id"], "train_loss")
    assert sorted(m.step for m in hist) == [1, 2]
    assert second["version"] == first["version"] + 1


def test_resume_refuses_a_different_dataset(tmp_path, hydra_conf):
    first = train(compose_tiny(tmp_path, "resnet34"))
    with pytest.raises(ValueError, match="start a new run"):
        train(compose_tiny(tmp_path, "resnet34", "model.dataset.n_train=6", f"trainer.resume={first['run_id']}"))
    assert MlflowClient().get_run(first["run_id"]).info.status == "FINISHED"


def test_init_from_fine_tunes_a_registered_version(tmp_path, hydra_conf):
    from gaa_mlops.train import build_model, warm_start

    first = train(compose_tiny(tmp_path, "resnet34"))
    spec = f"models:/gaa-resnet34/{first['version']}"
    model = build_model("classification", "resnet18", ["close", "not_close"], 48, {})
    # a classifier's layers do not depend on the crop size: it may be fine-tuned to larger crops
    tags = warm_start(model, spec, "resnet18", ["close", "not_close"], 48, tmp_path / "w", "classification")
    client = MlflowClient()
    path = registry.download_weights(client, client.get_model_version("gaa-resnet34", str(first["version"])),
                                     tmp_path / "dl")
    doc = load_weights(path)
    assert all(torch.equal(v, doc["state_dict"][k]) for k, v in model.state_dict().items())
    assert tags == {"gaa.init_from": spec, "gaa.init_sha256": file_sha256(path)}
    # a training run started from it records where it started
    # ... here to larger crops with wider context, which its weight file tells GameEye
    second = train(compose_tiny(tmp_path, "resnet34", f"trainer.init_from={spec}", "model.image_size=48",
                                "model.dataset.runtime_crop_margin=0.5"))
    run_tags = MlflowClient().get_run(second["run_id"]).data.tags
    assert run_tags["gaa.init_from"] == spec and run_tags["gaa.init_sha256"] == tags["gaa.init_sha256"]
    second_doc = load_weights(registry.download_weights(
        client, client.get_model_version("gaa-resnet34", str(second["version"])), tmp_path / "dl2"))
    assert (doc["crop_margin"], second_doc["crop_margin"], second_doc["image_size"]) == (0.8, 0.5, 48)
    assert doc["mirror_average"] is True          # model.mirror_average: the threshold was chosen for it
    # another arch is refused, naming what differs; so is a detector of another image size (anchors)
    with pytest.raises(ValueError, match=r"init_from.*arch 'resnet18' \(this model: 'resnet34'\)"):
        warm_start(build_model("classification", "resnet34", ["close", "not_close"], 32, {}), spec, "resnet34",
                   ["close", "not_close"], 32, tmp_path / "w2", "classification")
    kwargs = {"channels": [8, 8, 8, 16, 16]}
    ssd = build_model("detection", "ssd_tiny", ["background", "close"], [320, 192], kwargs)
    ssd_file = save_weights(tmp_path / "ssd.pth", dict(
        arch="ssd_tiny", num_classes=2, classes=["background", "close"], image_size=[320, 192],
        model_kwargs=kwargs, state_dict=ssd.state_dict(), score_threshold=0.5))
    with pytest.raises(ValueError, match=r"image_size \(320, 192\) \(this model: \(384, 224\)\)"):
        warm_start(build_model("detection", "ssd_tiny", ["background", "close"], [384, 224], kwargs),
                   str(ssd_file), "ssd_tiny", ["background", "close"], [384, 224], tmp_path / "w3", "detection")


def test_same_seed_same_metrics(tmp_path, hydra_conf):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = train(compose_tiny(tmp_path / "a", "resnet34"))
    b = train(compose_tiny(tmp_path / "b", "resnet34"))
    assert a["dataset_digest"] == b["dataset_digest"]
    assert math.isclose(a["val_loss"] if "val_loss" in a else a["val_accuracy"],
                        b["val_loss"] if "val_loss" in b else b["val_accuracy"], rel_tol=1e-5)
    ra = MlflowClient(f"sqlite:///{tmp_path / 'a' / 'mlflow.db'}").get_run(a["run_id"])
    rb = MlflowClient(f"sqlite:///{tmp_path / 'b' / 'mlflow.db'}").get_run(b["run_id"])
    assert ra.data.metrics["train_loss"] == pytest.approx(rb.data.metrics["train_loss"], rel=1e-5)


@pytest.mark.parametrize("override,needle", [
    ("model.arch=resnet99", "resnet34"),
    ("trainer.optimizer=lion", "adamw"),
    ("trainer.scheduler=wavy", "cosine"),
])
def test_unknown_names_list_the_valid_ones(tmp_path, hydra_conf, override, needle):
    with pytest.raises(ValueError, match=needle):
        check_names(compose_tiny(tmp_path, "resnet34", override))


def test_dataset_classes_must_match_model(tmp_path, hydra_conf):
    cfg = compose_tiny(tmp_path, "resnet34", "model.classes=[close,not_close,watch_ad]")
    with pytest.raises(Exception, match="classes"):
        train(cfg)
    assert mlflow.active_run() is None


def test_unreachable_tracking_store_fails_before_training(tmp_path, hydra_conf):
    cfg = compose_tiny(tmp_path, "resnet34", "tracking.uri=http://127.0.0.1:9")
    with pytest.raises(Exception, match="127.0.0.1:9"):
        train(cfg)
    assert not (tmp_path / "datasets").exists()


class _PoisonAfterFirstPass(torch.utils.data.Dataset):
    """Clean for the first epoch, NaN images afterwards."""

    def __init__(self, n=8):
        self.n, self.calls = n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        x = torch.full((3, 16, 16), float(i % 2))
        return (x * float("nan") if self.calls > self.n else x), i % 2


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    from gaa_mlops.training.checkpoint import load_checkpoint
    from gaa_mlops.training.fit import TrainerSettings, fit
    from gaa_mlops.training.loops import NonFiniteLossError
    from game_eye.models import build_classifier
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("gaa-nan")   # not an experiment id left active by an earlier test's store
    with mlflow.start_run(), pytest.raises(NonFiniteLossError, match="epoch 2.*last good checkpoint"):
        fit("classification", build_classifier("resnet18", 2), _PoisonAfterFirstPass(), _PoisonAfterFirstPass(),
            TrainerSettings(epochs=3, batch_size=4, augment=False), ["close", "not_close"], 0, tmp_path)
    assert load_checkpoint(tmp_path / "last.pth")["epoch"] == 1
