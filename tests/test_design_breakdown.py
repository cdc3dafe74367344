"""Click success and false-tap rate by design attribute: the counting, the designs file, and evaluate
logging them for a set that records its designs (and not for one that does not)."""
from __future__ import annotations

import json
import shutil

import mlflow
import pytest
import torch
from mlflow import MlflowClient

from gaa_mlops.evaluate import evaluate
from gaa_mlops.evaluation.breakdown import (
    breakdown_metrics,
    breakdown_table,
    design_breakdown,
    false_tap_breakdown,
    load_designs,
)
from game_eye.models import build_classifier, build_detector
from game_eye.weights import save_weights
from tests.conftest import make_tiny_projects
from tests.tiny import compose_tiny, hydra_init


def _row(path, outcome, truth=True):
    return {"path": str(path), "truth": [[0, 0, 1, 1]] if truth else [], "outcome": outcome}


def test_breakdown_counts_screens_with_a_button_per_attribute_value(tmp_path):
    designs = {tmp_path / f"s{i}.jpg": d for i, d in enumerate([
        {"plate": "circle", "see_through": True, "effect": "", "glyph": "g0"},
        {"plate": "circle", "see_through": False, "effect": "glow", "glyph": "g1"},
        {"plate": "rsquare", "see_through": False, "effect": "glow", "glyph": "g2"},
        {"plate": "rsquare", "see_through": False, "effect": None, "glyph": "g3"},
        {},                                                          # a screen without a button
    ])}
    rows = [_row(tmp_path / "s0.jpg", "hit"), _row(tmp_path / "s1.jpg", "miss"),
            _row(tmp_path / "s2.jpg", "wrong_tap"), _row(tmp_path / "s3.jpg", "hit"),
            _row(tmp_path / "s4.jpg", "false_tap", truth=False), _row(tmp_path / "other.jpg", "hit")]
    got = design_breakdown(rows, designs, max_values=3)
    assert "glyph" not in got                                       # 4 values > max_values
    assert got["plate"]["circle"] == {"n": 2, "n_hit": 1, "n_wrong_tap": 0, "n_miss": 1, "click_success": 0.5}
    assert got["plate"]["rsquare"] == {"n": 2, "n_hit": 1, "n_wrong_tap": 1, "n_miss": 0, "click_success": 0.5}
    assert set(got["see_through"]) == {"true", "false"} and got["see_through"]["true"]["click_success"] == 1.0
    assert got["effect"]["none"]["n"] == 2                          # "" and null: no effect
    metrics = breakdown_metrics(got, "eval_designs.")
    assert metrics["eval_designs.click_success.plate.circle"] == 0.5
    assert metrics["eval_designs.click_success.see_through.false"] == pytest.approx(1 / 3)
    table = breakdown_table(got)
    assert len(table["attribute"]) == len(metrics) and sum(table["n"]) == 4 * len(got)


def test_false_tap_breakdown_counts_screens_without_a_button_per_attribute_value(tmp_path):
    designs = {tmp_path / f"s{i}.jpg": d for i, d in enumerate([
        {"weight": "thin", "font": "Roboto"},
        {"weight": "thin", "font": "Mplus2"},
        {"weight": "bold", "font": "Roboto"},
        {"weight": "bold", "font": "Roboto"},
        {"weight": "thin", "font": "Roboto"},                      # a screen with a button: not counted here
        {},                                                          # no attributes: not counted
    ])}
    outcomes = ["false_tap", "correct_reject", "correct_reject", "correct_reject", "hit", "false_tap"]
    rows = [_row(tmp_path / f"s{i}.jpg", outcome, truth=outcome == "hit") for i, outcome in enumerate(outcomes)]
    got = false_tap_breakdown(rows, designs)
    assert got["weight"] == {"bold": {"n": 2, "n_false_tap": 0, "false_tap_rate": 0.0},
                             "thin": {"n": 2, "n_false_tap": 1, "false_tap_rate": 0.5}}
    assert got["font"]["Roboto"] == {"n": 3, "n_false_tap": 1, "false_tap_rate": pytest.approx(1 / 3)}
    metrics = breakdown_metrics(got, "eval_counts.", key="false_tap_rate")
    assert metrics["eval_counts.false_tap_rate.weight.thin"] == 0.5 and len(metrics) == 4
    table = breakdown_table(got)
    assert set(table) == {"attribute", "value", "n", "n_false_tap", "false_tap_rate"} and sum(table["n"]) == 8
    assert design_breakdown(rows, designs)["weight"] == {"thin": {"n": 1, "n_hit": 1, "n_wrong_tap": 0, "n_miss": 0,
                                                                  "click_success": 1.0}}


def test_designs_file_is_read_relative_to_its_project_and_a_bad_one_is_named(tmp_path):
    assert load_designs(tmp_path) == {}
    (tmp_path / "designs.json").write_text(json.dumps([{"file_name": "images/a.jpg", "box": [1, 2, 3, 4],
                                                        "plate": "pill"}]))
    assert load_designs(tmp_path) == {(tmp_path / "images" / "a.jpg").resolve(): {"plate": "pill"}}
    (tmp_path / "designs.json").write_text(json.dumps({"file_name": "a.jpg"}))
    with pytest.raises(ValueError, match=r"designs\.json.*list of objects"):
        load_designs(tmp_path)
    (tmp_path / "designs.json").write_text("[{")
    with pytest.raises(ValueError, match=r"designs\.json: not JSON"):
        load_designs(tmp_path)


def test_evaluate_logs_click_success_by_design_for_a_set_that_records_its_designs(tmp_path, mlflow_store):
    pdir = tmp_path / "projects"
    make_tiny_projects(pdir)
    shutil.copytree(pdir / "shots_tiny", pdir / "shots_plain")
    (pdir / "shots_plain" / "project.yaml").write_text(
        (pdir / "shots_plain" / "project.yaml").read_text().replace("shots_tiny", "shots_plain"))
    boxes = json.loads((pdir / "shots_tiny" / "boxes.json").read_text())
    (pdir / "shots_tiny" / "designs.json").write_text(json.dumps(
        [{"file_name": im["file_name"], "plate": ["circle", "none", "none"][i], "source": "drawn"}
         for i, im in enumerate(boxes["images"])]))
    torch.manual_seed(0)
    kwargs = {"channels": [8, 8, 8, 16, 16]}
    det, cls = build_detector("ssd_tiny", 2, [128, 72], **kwargs), build_classifier("resnet18", 2)
    ssd = save_weights(tmp_path / "ssd.pth", dict(arch="ssd_tiny", num_classes=2, classes=["background", "close"],
                                                  image_size=[128, 72], model_kwargs=kwargs,
                                                  state_dict=det.state_dict(), score_threshold=0.0))
    res = save_weights(tmp_path / "res.pth", dict(arch="resnet18", num_classes=2, classes=["close", "not_close"],
                                                  image_size=32, state_dict=cls.state_dict(), score_threshold=0.0))
    with hydra_init():
        cfg = compose_tiny(tmp_path, "ssd", f"paths.projects_dir={pdir}", "evaluation.project=shots_tiny",
                           "evaluation.extra_projects=[shots_plain]", f"evaluation.ssd_weights={ssd}",
                           f"evaluation.resnet_weights={res}")
    summary = evaluate(cfg)
    run_id = summary["run_id"]
    metrics = MlflowClient().get_run(run_id).data.metrics
    # two screens carry a button: s0 (circle) and s1 (none); the third has none, so it counts for false taps
    by_plate = {k: v for k, v in metrics.items() if k.startswith("click_success.plate.")}
    assert set(by_plate) == {"click_success.plate.circle", "click_success.plate.none"}
    hits = sum(by_plate.values())                                   # one screen per plate value
    assert hits == pytest.approx(metrics["click_success"] * metrics["n_with_close"])
    assert metrics["click_success.source.drawn"] == pytest.approx(metrics["click_success"])
    assert not any(k.startswith("shots_plain.click_success.") for k in metrics)   # no designs.json there
    assert not any(k.startswith("click_success.") for k in summary)  # on the run; the summary keeps the headline
    table = mlflow.artifacts.load_dict(f"runs:/{run_id}/evaluation/by_design.json")
    assert dict(zip(table["columns"], table["data"][0]))["attribute"] == "plate"
    arts = {a.path for a in MlflowClient().list_artifacts(run_id, "evaluation")}
    assert {"evaluation/by_design.png", "evaluation/by_design.json"} <= arts
    assert metrics["false_tap_rate.plate.none"] == pytest.approx(metrics["false_tap_rate"])   # the one screen
    assert {"evaluation/false_taps_by_design.png", "evaluation/false_taps_by_design.json"} <= arts
    assert "evaluation/shots_plain/by_design.json" not in {
        a.path for a in MlflowClient().list_artifacts(run_id, "evaluation/shots_plain")}
