"""gaa_mlops.label: recorded frames -> Label Studio tasks with GameEye's pre-annotations -> a
labeller's export (in Label Studio's JSON export format) -> a detection project, pixel-exact.

Run: pytest tests/test_label.py
"""
import io
import json

import numpy as np
import pytest
import yaml
from PIL import Image

from gaa_mlops.label import NO_TARGET, LabelError, export_frames, import_export, main
from gaa_mlops.projects import ProjectError, load_project, load_projects
from game_eye.record import Recorder

INFO = {"ssd": {"sha256": "a" * 64, "model_name": "gaa-ssd", "version": "3"},
        "resnet": {"sha256": "b" * 64, "model_name": "gaa-resnet34", "version": "9"}, "labels": ["close"]}
W, H = 720, 1280
GAMEEYE_BOX = [629.0, 301.0, 673.0, 345.0]       # what GameEye answered on frame 0
LABELLER_BOX = [37.0, 1101.0, 101.5, 1166.25]    # a box a labeller drew on frame 1 (GameEye missed it)


def _png(seed):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def field(tmp_path):
    """A recording folder with four frames, as `game_eye serve --record DIR --record-when all` keeps them."""
    rec = Recorder(tmp_path / "field", when="all", min_free_mb=0, background=False)
    answers = [[{"label": "close", "score": 0.97, "box": GAMEEYE_BOX}], [], [], []]
    for i, dets in enumerate(answers):
        rec.offer(_png(i), {"image": f"shot{i}.png", "width": W, "height": H, "detections": dets}, [], INFO)
    return tmp_path / "field"


def _percent(box):
    x1, y1, x2, y2 = box
    return {"x": 100 * x1 / W, "y": 100 * y1 / H, "width": 100 * (x2 - x1) / W, "height": 100 * (y2 - y1) / H,
            "rotation": 0}


def _rect(box, label="close"):
    return {"from_name": "label", "to_name": "image", "type": "rectanglelabels", "original_width": W,
            "original_height": H, "value": {**_percent(box), "rectanglelabels": [label]}}


def _labelled(tasks):
    """What Label Studio's JSON export holds after a labeller: accepted GameEye's box on task 1, drew a
    box on task 2, marked task 3 "no target", and has not reached task 4 yet."""
    out = []
    for i, t in enumerate(tasks, start=1):
        task = {**t, "id": i, "annotations": []}
        if i == 1:
            task["annotations"] = [{"id": 11, "result": t["predictions"][0]["result"], "was_cancelled": False}]
        elif i == 2:
            task["annotations"] = [{"id": 12, "result": [_rect(LABELLER_BOX)], "was_cancelled": False}]
        elif i == 3:
            task["annotations"] = [{"id": 13, "was_cancelled": False, "result": [
                {"from_name": "frame", "to_name": "image", "type": "choices", "value": {"choices": [NO_TARGET]}}]}]
        out.append(task)
    return out


def _export(field, tmp_path, change=None):
    tasks = json.loads((field / "label-studio" / "tasks.json").read_text())
    labelled = _labelled(tasks)
    if change:
        change(labelled)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(labelled))
    return path


def test_export_writes_the_config_and_pre_annotated_tasks_once(field):
    out = export_frames(field)
    assert out["tasks"] == 4 and out["classes"] == ["close"]
    config = (field / "label-studio" / "config.xml").read_text()
    assert '<Label value="close"/>' in config and f'<Choice value="{NO_TARGET}"/>' in config
    tasks = json.loads((field / "label-studio" / "tasks.json").read_text())
    pre = tasks[0]["predictions"][0]
    assert pre["model_version"] == "gaa-ssd@3+gaa-resnet34@9"
    assert pre["result"][0]["value"]["rectanglelabels"] == ["close"]
    assert pre["result"][0]["value"]["x"] == pytest.approx(100 * 629 / 720)
    assert tasks[0]["data"]["image"].startswith("/data/local-files/?d=") and tasks[0]["data"]["path"].endswith(".png")
    assert export_frames(field)["tasks"] == 0   # nothing is exported twice
    assert json.loads((field / "label-studio" / "tasks.json").read_text()) == []


def test_the_round_trip_keeps_every_box_pixel_exact(field, tmp_path):
    export_frames(field)
    out = import_export(_export(field, tmp_path), "field_test", tmp_path / "projects")
    assert out == {**out, "frames": 3, "imported": 3, "not_labelled": 1, "changed": True}
    project = load_project(tmp_path / "projects" / "field_test")
    assert project.task == "detection" and not project.held_out and project.augment.weight == 3.0
    assert project.mine_proposals   # the verifier's mining runs the detector on field frames
    boxes = sorted(s.boxes for s in project.screenshots)
    assert boxes == sorted([(), (tuple(GAMEEYE_BOX),), (tuple(LABELLER_BOX),)])   # exactly, not approximately
    first = sorted(field.glob("*.png"))[0]
    shot = next(s for s in project.screenshots if s.boxes == (tuple(GAMEEYE_BOX),))
    assert shot.path.read_bytes() == first.read_bytes() and (shot.width, shot.height) == (W, H)


def test_importing_the_same_export_twice_changes_nothing(field, tmp_path):
    export_frames(field)
    export = _export(field, tmp_path)
    import_export(export, "field_test", tmp_path / "projects")
    ann = tmp_path / "projects" / "field_test" / "annotations.json"
    stamp = ann.stat().st_mtime_ns
    assert import_export(export, "field_test", tmp_path / "projects")["changed"] is False
    assert ann.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("change, message", [
    (lambda ts: ts[1]["annotations"][0]["result"].__setitem__(0, _rect([700, 10, 760, 70])), "task 2: box"),
    (lambda ts: ts[1]["annotations"][0]["result"].__setitem__(0, _rect(LABELLER_BOX, "banana")), "task 2: unknown"),
    (lambda ts: ts[0]["data"].__setitem__("path", "/nowhere/frame.png"), "task 1: image /nowhere/frame.png"),
    (lambda ts: ts[2]["annotations"][0]["result"].append(_rect(LABELLER_BOX)), f"task 3: marked '{NO_TARGET}'"),
])
def test_a_bad_export_names_the_task_and_writes_nothing(field, tmp_path, change, message):
    export_frames(field)
    with pytest.raises(LabelError, match=message.replace("(", r"\(")):
        import_export(_export(field, tmp_path, change), "field_test", tmp_path / "projects")
    assert not (tmp_path / "projects").exists() or not any((tmp_path / "projects").iterdir())   # no leftovers


def test_an_empty_or_unlabelled_export_is_refused(field, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(LabelError, match="empty export"):
        import_export(empty, "field_test", tmp_path / "projects")
    export_frames(field)
    unlabelled = tmp_path / "unlabelled.json"
    unlabelled.write_text((field / "label-studio" / "tasks.json").read_text())
    with pytest.raises(LabelError, match="none of its 4 tasks is labelled"):
        import_export(unlabelled, "field_test", tmp_path / "projects")


def test_a_held_out_field_set_never_trains(field, tmp_path):
    export_frames(field)
    export = _export(field, tmp_path)
    import_export(export, "field_eval", tmp_path / "projects", held_out=True)
    doc = yaml.safe_load((tmp_path / "projects" / "field_eval" / "project.yaml").read_text())
    assert doc["held_out"] is True and doc["mine_proposals"] is False
    with pytest.raises(ProjectError, match="held out"):
        load_projects(["field_eval"], tmp_path / "projects", set_name="ssd")
    with pytest.raises(LabelError, match="held out"):  # the same frames cannot slip into training by re-import
        import_export(export, "field_eval", tmp_path / "projects", held_out=False)


def test_the_dataset_builder_takes_a_field_project_like_any_other(field, tmp_path, tiny_projects):
    from gaa_mlops.data.build import build_dataset
    from tests.test_data_build import DET

    pdir, names = tiny_projects
    export_frames(field)
    import_export(_export(field, tmp_path), "field_test", pdir)
    without = build_dataset(names, pdir, tmp_path / "ds", **DET, progress=False)
    built = build_dataset(names + ["field_test"], pdir, tmp_path / "ds", **DET, progress=False)
    assert built.digest != without.digest and "field_test" in built.manifest["projects"]
    assert build_dataset(names + ["field_test"], pdir, tmp_path / "ds", **DET, progress=False).cache_hit


def test_field_frames_weigh_more_in_both_datasets(field, tmp_path, tiny_projects):
    from gaa_mlops.data.assets import Assets
    from gaa_mlops.data.build import _plan
    from tests.test_data_build import DET

    pdir, names = tiny_projects
    export_frames(field)
    import_export(_export(field, tmp_path), "field_test", pdir, weight=3)
    assets = Assets(load_projects(names + ["field_test"], pdir))
    field_shots = [s for s in assets.screenshots if "field_test" in str(s.path)]
    assert {assets.shot_weight(s) for s in field_shots} == {3.0}
    recipe = {**DET["recipe"], "n_train": 40, "n_val": 0}
    real = [job[4] for job in _plan(assets, "detection", ["background", "close"], recipe) if job[0] == "real"]
    assert all(real.count(s) == 3 for s in field_shots if s in real)   # the SSD sees each field screen 3 times
    assert all(real.count(s) == 1 for s in set(real) if s not in field_shots)
    rng = np.random.default_rng(0)
    picks = [assets.pick_screenshot(rng, assets.screenshots) for _ in range(3000)]
    share = sum(p in field_shots for p in picks) / len(picks)
    expected = 3 * len(field_shots) / (3 * len(field_shots) + len(assets.screenshots) - len(field_shots))
    assert abs(share - expected) < 0.05   # the verifier's crops from screens: by project weight


def test_the_cli(field, tmp_path, capsys):
    assert main(["export", str(field)]) == 0
    assert json.loads(capsys.readouterr().out)["tasks"] == 4
    export = _export(field, tmp_path)
    assert main(["import", str(export), "--project", "field_cli", "--projects-dir", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "field_cli" / "project.yaml").is_file()
    assert main(["import", str(tmp_path / "missing.json"), "--project", "x", "--projects-dir", str(tmp_path)]) == 1
    assert "missing.json" in capsys.readouterr().err
