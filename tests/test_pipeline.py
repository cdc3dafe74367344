"""The whole pipeline on the tiny config into a tmp store: structure, links, aliases, local deploy."""
from __future__ import annotations

import json

import mlflow
import pytest
from hydra import compose
from mlflow import MlflowClient

from gaa_mlops import registry
from gaa_mlops.pipeline import PipelineStepError, run_pipeline, with_recalibration
from gaa_mlops.training.screen_calibration import THRESHOLD_GRID
from game_eye.engine import DEFAULT_TOP_K
from game_eye.weights import file_sha256, load_weights
from tests.tiny import MODEL_OVERRIDES, hydra_init, tiny_overrides


def _overrides(root, *extra):
    per_model = [f"pipeline.models.{m}.overrides=[{','.join(repr(x) for x in o)}]" for m, o in MODEL_OVERRIDES.items()]
    return [*tiny_overrides(root), *per_model, "pipeline.note=tiny run", *extra]


def _run(root, *extra):
    ov = _overrides(root, *extra)
    return run_pipeline(compose(config_name="config", overrides=ov), ov)


@pytest.fixture
def hydra_conf():
    with hydra_init():
        yield


def test_pipeline_end_to_end(tmp_path, hydra_conf):
    summary = _run(tmp_path)
    client = MlflowClient()
    parent = client.get_run(summary["run_id"])
    tags = parent.data.tags
    assert tags["mlflow.note.content"] == "tiny run"
    assert tags["pipeline.failed_step"] == ""
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    names = sorted(r.info.run_name for r in children)
    assert names == ["build_dataset-resnet34", "build_dataset-ssd", "evaluate", "register-game-eye", "train-resnet34",
                     "train-ssd"]
    # links on the parent
    for model, name in (("ssd", "gaa-ssd"), ("resnet34", "gaa-resnet34")):
        version = tags[f"{model}.version"]
        assert tags[f"{model}.dataset_digest"]
        mv = client.get_model_version(name, version)
        assert "candidate" in mv.aliases
        assert mv.tags["eval.run_id"] == tags["evaluation.run_id"]
        assert mv.tags["eval.precision"] == "int8"   # the deployed path: the verifier carries calibration crops
        assert mv.tags["eval.top_k"] == str(DEFAULT_TOP_K)
        # first run: nothing to beat, so the gate passes and the version becomes champion
        assert "champion" in mv.aliases
        deployed = summary["deploy"][model]
        assert file_sha256(deployed["path"]) == mv.tags["weights_sha256"]
    assert "click_success" in parent.data.metrics
    eval_run = tags["evaluation.run_id"]
    arts = {a.path for a in client.list_artifacts(eval_run, "evaluation")}
    assert {"evaluation/operating_curve.png", "evaluation/operating_curve.json"} <= arts
    curve = mlflow.artifacts.load_dict(client.get_run(eval_run).info.artifact_uri + "/evaluation/operating_curve.json")
    columns = curve["columns"]
    rows = [dict(zip(columns, r)) for r in curve["data"]]
    assert [r["thresholds"] for r in rows] == sorted(r["thresholds"] for r in rows)
    for r in rows:   # every screen is a hit, wrong tap or miss at each threshold
        assert r["click_success"] + r["wrong_tap_rate"] + r["miss_rate"] == pytest.approx(1.0)
    # the verifier's dataset mined the proposals of the SSD trained in this very run
    ssd_sha = client.get_model_version("gaa-ssd", tags["ssd.version"]).tags["weights_sha256"]
    manifest = json.loads((tmp_path / "datasets" / f"resnet34-{tags['resnet34.dataset_digest'][:12]}"
                           / "manifest.json").read_text())
    assert manifest["recipe"]["hard_negatives"]["detector"] == f"sha256:{ssd_sha}"
    # ... and its close threshold was chosen on composed screens with that same SSD
    ver_doc = load_weights(summary["deploy"]["resnet34"]["path"])
    cal = ver_doc["threshold_calibration"]
    assert cal["detector_sha256"] == ssd_sha and cal["screens"] == 6
    assert ver_doc["score_threshold"] == ver_doc["class_thresholds"]["close"]
    chosen = ver_doc["crop_threshold"] if cal["method"].startswith("crops") else ver_doc["score_threshold"]
    assert ver_doc["score_threshold"] == chosen and (chosen in THRESHOLD_GRID or cal["method"] != "screens")
    train_run = client.get_run(client.get_model_version("gaa-resnet34", tags["resnet34.version"]).run_id)
    assert train_run.data.metrics["score_threshold"] == ver_doc["score_threshold"]
    assert {"plots/screen_operating_curve.png", "plots/screen_operating_curve.json"} <= \
        {a.path for a in client.list_artifacts(train_run.info.run_id, "plots")}
    assert summary["build_datasets"]["resnet34"]["deferred"]
    # second run reuses the cached datasets
    again = _run(tmp_path, "pipeline.steps=[build_datasets]")
    assert all(v["cache_hit"] for v in again["build_datasets"].values())


def test_step_selection_runs_only_those_steps(tmp_path, hydra_conf):
    summary = _run(tmp_path, "pipeline.steps=[build_datasets,train_resnet34]")
    assert set(summary) >= {"build_datasets", "train_resnet34"}
    assert "train_ssd" not in summary and "evaluate" not in summary


def test_recalibration_follows_an_ssd_trained_without_the_verifier():
    assert with_recalibration(["train_ssd", "evaluate"], True) == ["train_ssd", "recalibrate_resnet34", "evaluate"]
    for steps in (["train_ssd", "train_resnet34", "evaluate"], ["train_resnet34"], ["evaluate"],
                  ["train_ssd", "recalibrate_resnet34"]):
        assert with_recalibration(steps, True) == steps
    assert with_recalibration(["train_ssd", "evaluate"], False) == ["train_ssd", "evaluate"]


def test_ssd_retrained_alone_gets_the_verifier_recalibrated_for_it(tmp_path, hydra_conf):
    first = _run(tmp_path, "pipeline.steps=[train_ssd]")          # no verifier yet: nothing to recalibrate
    assert "skipped" in first["recalibrate_resnet34"]
    _run(tmp_path, "pipeline.steps=[train_resnet34]")
    summary = _run(tmp_path, "pipeline.steps=[train_ssd,evaluate]")
    rec = summary["recalibrate_resnet34"]
    assert rec["version"] == 2 and rec["recalibrated_from"] == "gaa-resnet34/1"
    client = MlflowClient()
    ssd = client.get_model_version("gaa-ssd", str(summary["train_ssd"]["version"]))
    new = client.get_model_version("gaa-resnet34", "2")
    doc = load_weights(registry.download_weights(client, new, tmp_path / "v2"))
    assert doc["threshold_calibration"]["detector_sha256"] == ssd.tags["weights_sha256"]
    # the evaluation scored the new SSD with the recalibrated verifier, and tagged both
    params = client.get_run(summary["evaluate"]["run_id"]).data.params
    assert (params["ssd_version"], params["resnet_version"]) == (str(ssd.version), "2")
    assert client.get_model_version("gaa-resnet34", "2").tags["eval.run_id"] == summary["evaluate"]["run_id"]


def test_failed_step_marks_parent_failed_and_resume_skips_finished_steps(tmp_path, hydra_conf):
    ssd_ok = "pipeline.models.ssd.overrides=[" + ",".join(repr(x) for x in MODEL_OVERRIDES["ssd"])
    steps = "pipeline.steps=[train_resnet34,train_ssd]"
    with pytest.raises(PipelineStepError, match="train_ssd"):
        _run(tmp_path, steps, ssd_ok + ",'trainer.device=tpu']")   # found by the step, not the schema
    client = MlflowClient()
    failed = client.search_runs(client.get_experiment_by_name("gaa-test").experiment_id,
                                filter_string="attributes.run_name = 'pipeline'")[0]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["pipeline.failed_step"] == "train_ssd"
    trained = json.loads(failed.data.tags["pipeline.train_resnet34.result"])
    resumed = _run(tmp_path, steps, ssd_ok + "]", f"pipeline.resume={failed.info.run_id}")
    assert resumed["run_id"] == failed.info.run_id
    assert resumed["train_resnet34"]["version"] == trained["version"]   # not retrained
    assert resumed["train_ssd"]["version"] == 1
    assert client.get_run(failed.info.run_id).info.status == "FINISHED"


def test_outputs_list_and_delete_rules(tmp_path, hydra_conf, capsys):
    from pathlib import Path

    from gaa_mlops import outputs
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    deployed = _run(tmp_path)
    spare = _run(tmp_path, "pipeline.steps=[train_resnet34]", "pipeline.note=spare")
    assert outputs.main(["--tracking-uri", uri, "list"]) == 0
    listing = capsys.readouterr().out
    assert deployed["run_id"][:12] in listing and spare["run_id"][:12] in listing and "spare" in listing
    # the champion / deployed output is refused, and nothing is lost
    assert outputs.main(["--tracking-uri", uri, "delete", deployed["run_id"]]) == 1
    assert "refusing" in capsys.readouterr().err
    client = MlflowClient(uri)
    assert client.get_run(deployed["run_id"]).info.lifecycle_stage == "active"
    # the spare output goes, with its version and artifacts
    child = client.get_run(spare["train_resnet34"]["run_id"])
    artifacts = Path(child.info.artifact_uri.removeprefix("file://"))
    assert artifacts.exists()
    spare_mv = client.get_model_version("gaa-resnet34", str(spare["train_resnet34"]["version"]))
    model_uri = client.get_logged_model(registry.logged_model_id(spare_mv)).artifact_location
    model_dir = Path(model_uri.removeprefix("file://"))
    assert (model_dir / "artifacts" / "best_weight.pth").is_file()
    assert outputs.main(["--tracking-uri", uri, "delete", spare["run_id"]]) == 1   # not confirmed
    assert "--yes" in capsys.readouterr().err and artifacts.exists()
    assert outputs.main(["--tracking-uri", uri, "delete", spare["run_id"], "--yes"]) == 0
    assert not artifacts.exists() and not artifacts.parent.exists()   # no empty mlruns/<exp>/<run> left
    assert not model_dir.parent.exists()                               # nor its logged model's folder
    versions = [v.version for v in client.search_model_versions("name = 'gaa-resnet34'")]
    assert str(spare["train_resnet34"]["version"]) not in [str(v) for v in versions]
