"""MLflow models as an MLflow user expects them: each trained version is a logged pyfunc model with a
signature, an input example and its weight file byte for byte; the promoted pair is gaa-game-eye,
served by the real ``mlflow models serve`` with the same detections as GameEye's CLI."""
from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from hydra import compose
from mlflow import MlflowClient
from PIL import Image

from gaa_mlops import registry
from gaa_mlops.logged_models import GAME_EYE_MODEL, pip_requirements
from gaa_mlops.pipeline import run_pipeline
from game_eye.weights import file_sha256
from tests.tiny import MODEL_OVERRIDES, REPO, hydra_init, subprocess_env, tiny_overrides

SCREEN = REPO / "projects" / "eval_screens" / "images"


@pytest.fixture(scope="module")
def store(module_tmp):
    """A tiny pipeline run (train, evaluate, promote, deploy) into its own store."""
    root = module_tmp
    per_model = [f"pipeline.models.{m}.overrides=[{','.join(repr(x) for x in o)}]" for m, o in MODEL_OVERRIDES.items()]
    ov = [*tiny_overrides(root, "gaa-test-logged"), *per_model]
    with hydra_init():
        summary = run_pipeline(compose(config_name="config", overrides=ov), ov)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return {"root": root, "uri": uri, "summary": summary, "client": MlflowClient(uri)}


def _screenshot() -> Path:
    return sorted(SCREEN.glob("*.jpg"))[0]


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_each_version_is_a_logged_pyfunc_with_its_weight_file(store, tmp_path):
    client = store["client"]
    for model, name in (("ssd", "gaa-ssd"), ("resnet34", "gaa-resnet34")):
        mv = client.get_model_version(name, str(store["summary"][f"train_{model}"]["version"]))
        model_id = registry.logged_model_id(mv)
        assert model_id and mv.source == f"models:/{model_id}"
        lm = client.get_logged_model(model_id)
        assert str(lm.status) == "READY" and lm.source_run_id == mv.run_id
        # validation metrics are linked to the model (and to the dataset it was validated on)
        linked = {m.key: m for m in lm.metrics}
        key = "best_val_map50" if model == "ssd" else "best_val_accuracy"
        assert key in linked and linked[key].dataset_digest
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{mv.version}", dst_path=str(tmp_path / name)))
        doc = yaml.safe_load((local / "MLmodel").read_text())
        assert doc["signature"]["inputs"] and doc["saved_input_example_info"]
        assert doc["model_id"] == model_id
        assert sorted((local / "requirements.txt").read_text().split()) == sorted(pip_requirements())
        assert (local / "code" / "game_eye" / "engine.py").is_file()
        # deploy ships exactly this file: the registered sha256 is the model's artifacts/best_weight.pth
        assert file_sha256(local / "artifacts" / "best_weight.pth") == mv.tags["weights_sha256"]
        assert file_sha256(registry.download_weights(client, mv, tmp_path / f"{name}-w")) == mv.tags["weights_sha256"]


def test_pyfunc_load_model_predicts_proposals_and_probabilities(store, tmp_path):
    shot = _screenshot()
    ssd = mlflow.pyfunc.load_model("models:/gaa-ssd@champion")
    (out,) = ssd.predict(pd.DataFrame({"image": [_b64(shot)]}))
    assert isinstance(out["proposals"], list)
    for p in out["proposals"]:
        assert p["label"] == "close" and 0 <= p["score"] <= 1 and len(p["box"]) == 4
    verifier = mlflow.pyfunc.load_model("models:/gaa-resnet34@champion")
    crop = sorted((REPO / "projects" / "close_plain_x" / "images").glob("*.png"))[0]
    rows = verifier.predict(pd.DataFrame({"image": [_b64(crop), _b64(shot)]}))
    assert len(rows) == 2 and rows[0] != rows[1]
    assert set(rows[0]["probabilities"]) == {"close", "not_close"}
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    # the verifier's file says mirror_average: a crop and its mirror image score the same, as in GameEye
    mirrored = tmp_path / "mirrored.png"
    Image.open(crop).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored)
    plain, flipped = verifier.predict(pd.DataFrame({"image": [_b64(crop), _b64(mirrored)]}))
    assert plain["probabilities"] == pytest.approx(rows[0]["probabilities"], abs=2e-6)
    assert flipped["probabilities"] == pytest.approx(plain["probabilities"], abs=2e-6)
    with pytest.raises(ValueError, match="neither bytes nor base64"):
        verifier.predict(pd.DataFrame({"image": ["not base64!"]}))


def test_game_eye_pair_follows_the_champions(store):
    client = store["client"]
    summary = store["summary"]
    mv = client.get_model_version_by_alias(GAME_EYE_MODEL, "champion")
    assert summary["promote"]["game_eye"]["version"] == str(mv.version)
    for tag, name in (("ssd_version", "gaa-ssd"), ("resnet_version", "gaa-resnet34")):
        assert mv.tags[tag] == str(client.get_model_version_by_alias(name, "champion").version)
    # the register-game-eye run is one of the pipeline's children, so outputs delete keeps it with them
    run = client.get_run(mv.run_id)
    assert run.data.tags["mlflow.parentRunId"] == summary["run_id"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_models_serve_answers_like_the_cli(store, tmp_path):
    client, shot = store["client"], _screenshot()
    port = _free_port()
    env = subprocess_env(store["uri"])
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m",
                               f"models:/{GAME_EYE_MODEL}@champion", "--env-manager", "local", "-p", str(port),
                               "-h", "127.0.0.1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = json.dumps({"dataframe_split": {"columns": ["image"], "data": [[_b64(shot)]]}}).encode()
        deadline, answer = time.monotonic() + 120, None
        while answer is None:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                             headers={"Content-Type": "application/json"})
                answer = json.loads(urllib.request.urlopen(req, timeout=30).read())
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"mlflow models serve did not answer: {server.stdout.read()[-2000:]!r}")
                time.sleep(1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    (served,) = answer["predictions"]
    ssd = registry.download_weights(client, client.get_model_version_by_alias("gaa-ssd", "champion"), tmp_path / "s")
    res = registry.download_weights(client, client.get_model_version_by_alias("gaa-resnet34", "champion"),
                                    tmp_path / "r")
    cli = subprocess.run([sys.executable, "-m", "game_eye", "--ssd-weights", str(ssd), "--resnet-weights", str(res),
                          "--json", "-", str(shot)], capture_output=True, text=True, timeout=300, env=env)
    assert cli.returncode == 0, cli.stderr
    (entry,) = json.loads(cli.stdout)["images"]
    assert (served["width"], served["height"]) == (entry["width"], entry["height"])
    assert served["detections"] == entry["detections"]
