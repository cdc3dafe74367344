"""The field loop through a real Label Studio server on 127.0.0.1: frames recorded with GameEye are
exported to it (project, labelling config, local storage, pre-annotated tasks), labelled through its
API as a labeller would, imported back pixel-exact, then trained on and evaluated per set.

Run: make label-studio && pytest tests/test_label_studio.py   (the first server start migrates its
database: about a minute)
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import mlflow
import pytest
from PIL import Image

from gaa_mlops.label import NO_TARGET, LabelError, export_frames, import_from_server, main
from gaa_mlops.label_studio import API_KEY_ENV, LabelStudioError, LabelStudioServer
from gaa_mlops.projects import load_project
from game_eye.engine import GameEye
from game_eye.record import Recorder
from tests.conftest import make_tiny_projects
from tests.label_studio_server import LabelStudio
from tests.test_game_eye import _classifier, _detector

pytestmark = [pytest.mark.label_studio, pytest.mark.xdist_group("label_studio")]   # one server per session

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO / "projects" / "eval_screens"
LS_PROJECT = "gaa-test-field"


@pytest.fixture(scope="module")
def ls(module_tmp):
    root = module_tmp
    server = LabelStudio.start(root / "server", frames_root=root)
    yield server, root
    server.stop()


def _shots():
    """Four eval_screens screenshots: two with a close button (and its true box), then two without."""
    doc = json.loads((EVAL / "annotations.json").read_text())
    boxes = {}
    for a in doc["annotations"]:
        x, y, w, h = a["bbox"]
        boxes.setdefault(a["image_id"], []).append([x, y, x + w, y + h])
    with_close = [im for im in doc["images"] if len(boxes.get(im["id"], [])) == 1][:2]
    without = [im for im in doc["images"] if im["id"] not in boxes][:2]
    return [(EVAL / im["file_name"], boxes.get(im["id"], [None])[0]) for im in with_close + without]


def _record(folder: Path, tmp: Path) -> list[tuple[str, list]]:
    """Record the four screenshots as `serve --record --record-when all` does (PNG bytes, as a phone
    sends them); (frame id, true box) in recording order."""
    eye = GameEye(_detector(tmp / "ssd.pth"), _classifier(tmp / "resnet.pth"))
    rec = Recorder(folder, when="all", min_free_mb=0, background=False)
    out = []
    for path, truth in _shots():
        buf = io.BytesIO()
        Image.open(path).convert("RGB").save(buf, "PNG")
        candidates = []
        entry = eye.detect_bytes(buf.getvalue(), name=path.name, candidates=candidates)
        out.append((rec.offer(buf.getvalue(), entry, candidates, eye.info()), truth))
    return out


def _rect(box, w, h):
    x1, y1, x2, y2 = box
    return {"from_name": "label", "to_name": "image", "type": "rectanglelabels", "original_width": w,
            "original_height": h, "value": {"x": 100 * x1 / w, "y": 100 * y1 / h, "width": 100 * (x2 - x1) / w,
                                            "height": 100 * (y2 - y1) / h, "rotation": 0,
                                            "rectanglelabels": ["close"]}}


def _label(server: LabelStudio, project_title: str, answers: dict[str, list]) -> dict[str, int]:
    """A labeller's work through the API: ``answers`` maps a frame id to its boxes ([] = "no target");
    frames not in it stay unlabelled. Returns frame id -> Label Studio task id."""
    from label_studio_sdk import LabelStudio as Sdk

    sdk = Sdk(base_url=server.url, api_key=server.api_key)
    project = next(p for p in sdk.projects.list(title=project_title) if p.title == project_title)
    ids = {}
    for task in sdk.tasks.list(project=project.id):
        frame = task.data["frame"]
        ids[frame] = task.id
        if frame not in answers:
            continue
        w, h = task.data["width"], task.data["height"]
        result = [_rect(b, w, h) for b in answers[frame]] or \
            [{"from_name": "frame", "to_name": "image", "type": "choices", "value": {"choices": [NO_TARGET]}}]
        sdk.annotations.create(task.id, result=result, project=project.id)
    return ids


def test_the_field_loop_through_a_real_label_studio(ls, tmp_path, monkeypatch, capsys):
    server, root = ls
    field = root / "field"
    frames = _record(field, tmp_path)
    monkeypatch.setenv(API_KEY_ENV, server.api_key)

    # export: the project is created with its config and a local storage on the folder, tasks imported
    assert main(["export", str(field), "--server", server.url, "--ls-project", LS_PROJECT,
                 "--document-root", str(root)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["imported_to_server"] == 4 and out["ls_project"] == LS_PROJECT
    again = export_frames(field, root, server=LabelStudioServer(server.url), ls_project=LS_PROJECT)
    assert again["tasks"] == 0 and again["ls_project_id"] == out["ls_project_id"]   # never twice, same project

    # a labeller accepts or corrects the boxes, marks a screen "no target", leaves one for later
    (f1, box1), (f2, box2), (f3, _), (f4, _) = frames
    corrected = [box2[0] + 0.5, box2[1] - 1.25, box2[2] + 2.0, box2[3]]
    task_ids = _label(server, LS_PROJECT, {f1: [box1], f2: [corrected], f3: []})
    assert set(task_ids) == {f1, f2, f3, f4}

    # import: a held-out detection project, every box pixel-exact, the unlabelled frame left out
    pdir = tmp_path / "projects"
    names = make_tiny_projects(pdir)
    assert main(["import", LS_PROJECT, "--server", server.url, "--project", "field_eval", "--held-out",
                 "--projects-dir", str(pdir)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {**summary, "frames": 3, "imported": 3, "not_labelled": 1, "changed": True}
    project = load_project(pdir / "field_eval")
    got = {s.path.stem: [list(b) for b in s.boxes] for s in project.screenshots}
    assert got == {f1: [box1], f2: [corrected], f3: []}
    assert project.held_out
    assert import_from_server(LabelStudioServer(server.url), str(out["ls_project_id"]), "field_eval", pdir,
                              held_out=True)["changed"] is False   # by id this time; the same export: a no-op

    # train on it (a training import of the same frames) and evaluate on the held-out set, per set
    assert main(["import", LS_PROJECT, "--server", server.url, "--project", "field_train",
                 "--projects-dir", str(pdir)]) == 0
    capsys.readouterr()
    from gaa_mlops.evaluate import evaluate
    from gaa_mlops.train import train
    from tests.tiny import compose_tiny, hydra_init

    with hydra_init():
        include = "projects.include=[" + ",".join([*names, "field_train"]) + "]"
        trained = train(compose_tiny(tmp_path, "ssd", f"paths.projects_dir={pdir}", include))
        manifests = [json.loads(m.read_text()) for m in (tmp_path / "datasets").glob("*/manifest.json")]
        assert any(m["digest"] == trained["dataset_digest"] and "field_train" in m["projects"] for m in manifests)
        cfg = compose_tiny(tmp_path, "resnet34", f"paths.projects_dir={pdir}", "evaluation.project=shots_tiny",
                           "evaluation.extra_projects=[field_eval]",
                           f"evaluation.resnet_weights={_classifier(tmp_path / 'verifier.pth')}")
        result = evaluate(cfg)
    metrics = mlflow.MlflowClient().get_run(result["run_id"]).data.metrics
    assert "field_eval.click_success" in metrics and metrics["field_eval.n_with_close"] == 2
    assert metrics["field_eval.n_without_close"] == 1

    # the API key never reaches the output or any file written
    written = [p for d in (field, pdir / "field_eval", pdir / "field_train") for p in d.rglob("*") if p.is_file()]
    assert all(server.api_key.encode() not in p.read_bytes() for p in written)
    assert server.api_key not in capsys.readouterr().err


def test_bad_exports_and_bad_keys_are_refused_naming_the_task_or_the_server(ls, tmp_path, monkeypatch):
    server, root = ls
    field = root / "field_bad"
    frames = _record(field, tmp_path)
    monkeypatch.setenv(API_KEY_ENV, "0" * 40)
    with pytest.raises(LabelStudioError, match=rf"{server.url}.*HTTP 401.*LABEL_STUDIO_API_KEY") as err:
        export_frames(field, root, server=LabelStudioServer(server.url), ls_project="gaa-test-bad")
    assert "0" * 40 not in str(err.value)
    monkeypatch.setenv(API_KEY_ENV, server.api_key)
    out = export_frames(field, root, server=LabelStudioServer(server.url), ls_project="gaa-test-bad")
    assert out["tasks"] == 4    # the refused export did not count the frames as exported
    (f1, box1), (f2, _), _, _ = frames
    outside = [box1[0], box1[1], box1[2] + 5000, box1[3]]
    task_ids = _label(server, "gaa-test-bad", {f1: [outside], f2: []})
    pdir = tmp_path / "projects"
    with pytest.raises(LabelError, match=rf"task {task_ids[f1]}: box .* outside"):
        import_from_server(LabelStudioServer(server.url), "gaa-test-bad", "field_bad", pdir)
    assert not (pdir / "field_bad").exists()
    with pytest.raises(LabelStudioError, match="no project with id or title 'gaa-nope'"):
        import_from_server(LabelStudioServer(server.url), "gaa-nope", "field_bad", pdir)
    monkeypatch.delenv(API_KEY_ENV)
    with pytest.raises(LabelStudioError, match=API_KEY_ENV):
        LabelStudioServer(server.url)
