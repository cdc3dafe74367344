"""The dataset as an MLflow dataset input, torch loaders, and the build with the real config."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import torch

from gaa_mlops.data.build import build_dataset
from gaa_mlops.data.loaders import ClassificationDataset, DatasetMismatchError, DetectionDataset, collate_detection
from gaa_mlops.data.mlflow_dataset import fetch_logged_dataset, log_dataset
from gaa_mlops.tracking import TrackingError, setup_tracking
from game_eye.weights import file_sha256
from tests.test_data_build import CLS, DET

REPO = Path(__file__).resolve().parents[1]


def test_log_dataset_shows_as_dataset_input(tiny_projects, tmp_path, mlflow_store):
    pdir, names = tiny_projects
    built = build_dataset(names, pdir, tmp_path / "ds", **CLS, progress=False)
    uri = setup_tracking(None, "gaa-test-data", str(mlflow_store))
    assert uri == f"sqlite:///{mlflow_store.resolve() / 'mlflow.db'}"
    with mlflow.start_run() as run:
        log_dataset(built)
    run = mlflow.get_run(run.info.run_id)
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == built.name and inp.dataset.digest == built.digest[:12]
    profile = json.loads(inp.dataset.profile)
    assert profile["counts"]["train"] == {"close": 5, "not_close": 5}
    assert profile["digest"] == built.digest
    # the source is the logged archive, resolvable wherever the store is
    assert inp.dataset.source_type == "mlflow_artifact"
    assert json.loads(inp.dataset.source)["uri"] == f"{run.info.artifact_uri}/dataset/data_set.tar.gz"
    assert run.data.tags["gaa.dataset_archive_sha256"] == file_sha256(built.archive)
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "dataset")}
    assert arts == {"dataset/data_set.tar.gz", "dataset/manifest.json"}
    exp = mlflow.get_experiment_by_name("gaa-test-data")
    assert exp.artifact_location == (mlflow_store.resolve() / "mlruns").as_uri()


def _files(folder: Path) -> dict[str, str]:
    return {str(f.relative_to(folder)): file_sha256(f) for f in sorted(folder.rglob("*")) if f.is_file()}


def test_a_second_machine_fetches_the_dataset_by_digest(tiny_projects, tmp_path, mlflow_store, caplog):
    """Another datasets folder (another machine on the same store) gets the same bytes from the run
    that keeps the archive, not a rebuild; a later run that logs the digest points at that archive;
    an archive that does not match its sha256 tag is not used: the dataset is built instead."""
    pdir, names = tiny_projects
    own = {**CLS, "recipe": {**CLS["recipe"], "seed": 4242}}   # a digest no other test of the shared store logs
    built = build_dataset(names, pdir, tmp_path / "machine1", **own, progress=False)
    setup_tracking(None, "gaa-test-fetch", str(mlflow_store))
    with mlflow.start_run() as first:
        log_dataset(built)
    fetched = build_dataset(names, pdir, tmp_path / "machine2", **own, progress=False, fetch=fetch_logged_dataset)
    assert fetched.cache_hit and fetched.extra["fetched_from"] == first.info.run_id
    assert fetched.path.parent == (tmp_path / "machine2").resolve() and _files(fetched.path) == _files(built.path)
    assert [p.name for p in (tmp_path / "machine2").iterdir()] == [built.name]     # no temp folder left

    with mlflow.start_run() as later:
        log_dataset(fetched)
    later = mlflow.get_run(later.info.run_id)
    assert {a.path for a in mlflow.MlflowClient().list_artifacts(later.info.run_id, "dataset")} == {
        "dataset/manifest.json"}
    source = json.loads(later.inputs.dataset_inputs[0].dataset.source)["uri"]
    assert source == f"{mlflow.get_run(first.info.run_id).info.artifact_uri}/dataset/data_set.tar.gz"

    mlflow.MlflowClient().set_tag(first.info.run_id, "gaa.dataset_archive_sha256", "0" * 64)
    with caplog.at_level("WARNING"):
        rebuilt = build_dataset(names, pdir, tmp_path / "machine3", **own, progress=False,
                                fetch=fetch_logged_dataset)
    assert not rebuilt.cache_hit and "does not match its sha256 tag" in caplog.text
    assert _files(rebuilt.path) == _files(built.path) | {"data_set.tar.gz": file_sha256(rebuilt.archive)}


def test_experiment_kind_opens_the_model_training_view(mlflow_store):
    """MLflow 3's UI picks the view by the experiment's kind tag: the project's experiments are tagged
    custom_model_development when created, and an existing one without a kind gets it on first use."""
    client = mlflow.MlflowClient(setup_tracking(None, "gaa-test-kind", str(mlflow_store)))
    assert client.get_experiment_by_name("gaa-test-kind").tags["mlflow.experimentKind"] == "custom_model_development"
    bare = client.create_experiment("gaa-test-kind-bare")
    assert "mlflow.experimentKind" not in client.get_experiment(bare).tags
    setup_tracking(None, "gaa-test-kind-bare", str(mlflow_store))
    assert client.get_experiment(bare).tags["mlflow.experimentKind"] == "custom_model_development"
    kept = client.create_experiment("gaa-test-kind-own", tags={"mlflow.experimentKind": "genai_development"})
    setup_tracking(None, "gaa-test-kind-own", str(mlflow_store))
    assert client.get_experiment(kept).tags["mlflow.experimentKind"] == "genai_development"


def test_unreachable_tracking_server_fails_fast(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(TrackingError, match="http://127.0.0.1:9"):
        setup_tracking("http://127.0.0.1:9", "x", str(tmp_path))


def test_detection_loader_shapes(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    built = build_dataset(names, pdir, tmp_path / "ds", **DET, progress=False)
    ds = DetectionDataset(built.path, "train", classes=["background", "close"])
    assert len(ds) == 6
    n_boxes = 0
    for i in range(len(ds)):
        x, t = ds[i]
        assert x.shape == (3, 96, 64) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
        assert t["boxes"].shape == (len(t["labels"]), 4) and t["labels"].dtype == torch.int64
        assert (t["labels"] == 1).all() and (t["boxes"][:, 2:] > t["boxes"][:, :2]).all()
        n_boxes += len(t["labels"])
    assert n_boxes == built.manifest["counts"]["train"]["boxes"]
    images, targets = collate_detection([ds[0], ds[1]])
    assert len(images) == len(targets) == 2
    x_aug, _ = DetectionDataset(built.path, "train", augment=True)[0]
    assert x_aug.shape == (3, 96, 64)
    with pytest.raises(DatasetMismatchError, match="classification"):
        ClassificationDataset(built.path, "train")


def test_detection_window_keeps_the_button_at_its_scale(tiny_projects, tmp_path):
    """A training band of the screen: its rows of the full image, the boxes moved with it, whole."""
    pdir, names = tiny_projects
    built = build_dataset(names, pdir, tmp_path / "ds", **DET, progress=False)
    full = DetectionDataset(built.path, "train")
    band = DetectionDataset(built.path, "train", window=40 / 96)
    torch.manual_seed(0)
    with_box = 0
    for i in range(len(full)):
        x, t = full[i]
        for _ in range(5):
            y, u = band[i]
            assert y.shape == (3, 40, 64)
            if len(t["boxes"]):
                with_box += 1
                (b,), (c,) = t["boxes"], u["boxes"]     # the button is in the band, not cut
                top = b[1] - c[1]
                assert torch.allclose(c, b - torch.tensor([0, top, 0, top]))
                assert torch.equal(y, x[:, int(top):int(top) + 40])
    assert with_box > 0
    # a window of the whole screen is the screen; more than the screen is refused
    assert DetectionDataset(built.path, "train", window=1.0).window is None
    with pytest.raises(ValueError, match="detector window 2 is not a share"):
        DetectionDataset(built.path, "train", window=2)


def test_classification_loader_labels_and_class_check(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    built = build_dataset(names, pdir, tmp_path / "ds", **CLS, progress=False)
    ds = ClassificationDataset(built.path, "val", ["close", "not_close"])
    assert len(ds) == 4 and [ds[i][1] for i in range(4)] == [0, 0, 1, 1]
    x, _ = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    with pytest.raises(DatasetMismatchError, match="not_close"):
        ClassificationDataset(built.path, "val", ["not_close", "close"])


def test_build_dataset_entry_point_with_real_config(tmp_path, mlflow_store):
    """The real conf tree and the real projects/, shrunk; then the cache hit."""
    from hydra import compose, initialize_config_dir

    from gaa_mlops.build_dataset import build_and_log
    from gaa_mlops.projects import available_projects

    if not available_projects(REPO / "projects"):
        pytest.fail("projects/ holds no projects yet")
    summaries = []
    for model in ("ssd", "resnet34"):
        with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[
                f"model={model}", "experiment=quick", "model.dataset.n_train=4", "model.dataset.n_val=2",
                f"paths.root={mlflow_store}", f"paths.projects_dir={REPO / 'projects'}",
                f"paths.datasets_dir={tmp_path / 'datasets'}"])
        first = build_and_log(cfg)
        again = build_and_log(cfg)
        assert not first["cache_hit"] and again["cache_hit"] and again["dataset_dir"] == first["dataset_dir"]
        summaries.append(first)
        run = mlflow.get_run(first["run_id"])
        assert run.info.run_name == f"build_dataset-{model}"
        assert run.inputs.dataset_inputs[0].dataset.digest == first["digest"][:12]
    ssd, res = summaries
    assert ssd["counts"]["train"]["images"] == 4 and res["counts"]["train"] == {"close": 4, "not_close": 4}
