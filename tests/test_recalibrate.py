"""Recalibration: a verifier version's close threshold re-chosen on screens for another detector,
registered as a new version with the same weights (tiny models, real projects, tmp store)."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from mlflow import MlflowClient

from gaa_mlops import registry
from gaa_mlops.recalibrate import recalibrate
from gaa_mlops.train import train
from gaa_mlops.training.screen_calibration import SCREEN_SEED
from game_eye.weights import file_sha256, load_weights
from tests.tiny import REPO, compose_tiny, hydra_init, subprocess_env


@pytest.fixture
def hydra_conf():
    with hydra_init():
        yield


def _doc(client, name, version, dst):
    return load_weights(registry.download_weights(client, client.get_model_version(name, str(version)), dst))


def test_recalibrate_registers_same_weights_with_a_threshold_for_the_new_detector(tmp_path, hydra_conf):
    ssd = train(compose_tiny(tmp_path, "ssd"))
    ver = train(compose_tiny(tmp_path, "resnet34"))          # no mining detector: the crop threshold
    client = MlflowClient()
    client.set_model_version_tag("gaa-resnet34", str(ver["version"]), "eval.click_success", "0.5")
    summary = recalibrate(compose_tiny(tmp_path, "resnet34",
                                       f"recalibrate.verifier=models:/gaa-resnet34/{ver['version']}",
                                       f"recalibrate.detector=models:/gaa-ssd/{ssd['version']}"))
    assert summary["version"] == ver["version"] + 1 and summary["recalibrated_from"] == f"gaa-resnet34/{ver['version']}"
    old, new = _doc(client, "gaa-resnet34", ver["version"], tmp_path / "a"), \
        _doc(client, "gaa-resnet34", summary["version"], tmp_path / "b")
    assert all(torch.equal(v, new["state_dict"][k]) for k, v in old["state_dict"].items())
    assert new["crop_threshold"] == old["score_threshold"] and "threshold_calibration" not in old
    assert new["score_threshold"] == summary["score_threshold"] == new["class_thresholds"]["close"]
    ssd_path = registry.download_weights(client, client.get_model_version("gaa-ssd", str(ssd["version"])),
                                         tmp_path / "s")
    assert new["threshold_calibration"]["detector_sha256"] == file_sha256(ssd_path)
    assert new["threshold_calibration"]["screens"] == 6 and new["version"] == str(summary["version"])
    assert new["threshold_calibration"]["seed"] == SCREEN_SEED
    mv = client.get_model_version("gaa-resnet34", str(summary["version"]))
    assert "candidate" in mv.aliases and "eval.click_success" not in mv.tags   # not evaluated yet
    assert mv.tags["dataset_digest"] == ver["dataset_digest"] and mv.tags["calibration_detector"].endswith(
        f"gaa-ssd/{ssd['version']}")
    run = client.get_run(mv.run_id)
    assert run.info.run_name == "recalibrate-resnet34" and run.data.metrics["score_threshold"] == new["score_threshold"]
    # recalibrating the recalibrated version keeps the first crop threshold as its fallback
    # (on another draw of screens, which it records)
    again = recalibrate(compose_tiny(tmp_path, "resnet34", f"recalibrate.verifier=models:/gaa-resnet34/{mv.version}",
                                     f"recalibrate.detector=models:/gaa-ssd/{ssd['version']}",
                                     "trainer.calibration.screen_seed=11"))
    third = _doc(client, "gaa-resnet34", again["version"], tmp_path / "c")
    assert third["crop_threshold"] == old["score_threshold"] and third["threshold_calibration"]["seed"] == 11
    # the verifier trained with mirror averaging (model.mirror_average); a recalibration may switch it off
    assert old["mirror_average"] is True and new["mirror_average"] is True and again["mirror_average"] is True
    off = recalibrate(compose_tiny(tmp_path, "resnet34", f"recalibrate.verifier=models:/gaa-resnet34/{mv.version}",
                                   f"recalibrate.detector=models:/gaa-ssd/{ssd['version']}",
                                   "recalibrate.mirror_average=false"))
    assert off["mirror_average"] is False
    assert _doc(client, "gaa-resnet34", off["version"], tmp_path / "d")["mirror_average"] is False
    assert client.get_run(client.get_model_version("gaa-resnet34", str(off["version"])).run_id
                          ).data.params["mirror_average"] == "False"
    # further contexts: written into the new version's file, logged, and GameEye scores with them
    wide = recalibrate(compose_tiny(tmp_path, "resnet34", f"recalibrate.verifier=models:/gaa-resnet34/{mv.version}",
                                    f"recalibrate.detector=models:/gaa-ssd/{ssd['version']}",
                                    "recalibrate.extra_crop_margins=[0.55,1.05]"))
    assert wide["extra_crop_margins"] == [0.55, 1.05] and off["extra_crop_margins"] == []
    assert _doc(client, "gaa-resnet34", wide["version"], tmp_path / "e")["extra_crop_margins"] == [0.55, 1.05]
    assert client.get_run(client.get_model_version("gaa-resnet34", str(wide["version"])).run_id
                          ).data.params["extra_crop_margins"] == "[0.55, 1.05]"


def test_cli_names_the_bad_spec_and_leaves_the_registry_alone(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    r = subprocess.run([sys.executable, "-m", "gaa_mlops.recalibrate", "verifier=models:/gaa-resnet34/9",
                        f"paths.root={tmp_path}", f"tracking.uri={uri}"],
                       capture_output=True, text=True, cwd=REPO, env=subprocess_env(uri), timeout=300)
    assert r.returncode == 1 and "gaa-resnet34" in r.stderr and "Traceback" not in r.stderr
    assert MlflowClient(uri).search_registered_models() == []
