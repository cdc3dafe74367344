"""Project loading and bad inputs: every error names the file, key or project."""
from __future__ import annotations

import pytest
import yaml

from gaa_mlops.data.build import build_dataset
from gaa_mlops.projects import ProjectError, available_projects, load_project, load_projects
from tests.test_data_build import CLS


def _edit(folder, **changes):
    path = folder / "project.yaml"
    doc = yaml.safe_load(path.read_text())
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    path.write_text(yaml.safe_dump(doc))
    return path


def test_load_tiny_projects(tiny_projects):
    pdir, names = tiny_projects
    assert available_projects(pdir) == sorted(names)          # `_notes` is not a project
    projects = {p.name: p for p in load_projects(names, pdir)}
    assert projects["close_tiny"].label == "close" and len(projects["close_tiny"].sources) == 3
    assert projects["close_tiny"].augment.rotate == 10
    shots = projects["shots_tiny"].screenshots
    assert len(shots) == 3 and shots[0].boxes == ((60.0, 4.0, 68.0, 12.0),) and shots[2].boxes == ()


def test_missing_key_names_file_and_key(tiny_projects):
    pdir, _ = tiny_projects
    path = _edit(pdir / "close_tiny", sources=None)
    with pytest.raises(ProjectError) as e:
        load_project(pdir / "close_tiny")
    assert str(path) in str(e.value) and "'sources'" in str(e.value)


def test_wrong_task_value_lists_valid_ones(tiny_projects):
    pdir, _ = tiny_projects
    path = _edit(pdir / "neg_tiny", task="segmentation")
    with pytest.raises(ProjectError, match="'task'.*segmentation.*classification") as e:
        load_project(pdir / "neg_tiny")
    assert str(path) in str(e.value)


@pytest.mark.parametrize("changes, key", [
    ({"label": "Close me"}, "'label'"),   # any lower-case identifier is a class now
    ({"label": "background"}, "'label'"),
    ({"label": None}, "'label'"),
    ({"name": "other"}, "'name'"),
    ({"sources": ["*.gif"]}, "'sources'"),
    ({"augment": {"scale": [2, 1]}}, "augment.scale"),
    ({"augment": {"rotat": 3}}, "rotat"),
    ({"colour": 1}, "colour"),
    ({"mine_proposals": True}, "'mine_proposals' is only for detection"),   # close_tiny is a sprite project
])
def test_bad_keys_are_named(tiny_projects, changes, key):
    pdir, _ = tiny_projects
    path = _edit(pdir / "close_tiny", **changes)
    with pytest.raises(ProjectError) as e:
        load_project(pdir / "close_tiny")
    assert str(path) in str(e.value) and key in str(e.value)


def test_detection_without_annotations(tiny_projects):
    pdir, _ = tiny_projects
    _edit(pdir / "shots_tiny", annotations=None)
    with pytest.raises(ProjectError, match="'annotations'"):
        load_project(pdir / "shots_tiny")


def test_a_held_out_project_is_refused_in_a_training_set(tiny_projects):
    pdir, names = tiny_projects
    _edit(pdir / "shots_tiny", held_out=True)
    assert load_project(pdir / "shots_tiny").held_out  # evaluation reads it as before
    with pytest.raises(ProjectError, match="'shots_tiny' named in project set 'ssd' is held out"):
        load_projects(names, pdir, set_name="ssd")
    _edit(pdir / "shots_tiny", held_out="yes")
    with pytest.raises(ProjectError, match="held_out"):
        load_project(pdir / "shots_tiny")
    _edit(pdir / "shots_tiny", held_out=False, mine_proposals="yes")
    with pytest.raises(ProjectError, match="'mine_proposals' must be true or false"):
        load_project(pdir / "shots_tiny")


def test_unknown_project_names_project_set_and_available(tiny_projects):
    pdir, names = tiny_projects
    with pytest.raises(ProjectError) as e:
        load_projects(names + ["close_nope"], pdir, set_name="resnet34")
    msg = str(e.value)
    assert "close_nope" in msg and "resnet34" in msg and "close_tiny" in msg


def test_corrupt_png_fails_build_naming_file_and_leaves_nothing(tiny_projects, tmp_path):
    pdir, names = tiny_projects
    bad = pdir / "neg_tiny" / "text.png"
    bad.write_bytes(bad.read_bytes()[:40])                  # truncated PNG
    with pytest.raises(ProjectError) as e:
        build_dataset(names, pdir, tmp_path / "ds", **CLS, progress=False)
    assert str(bad) in str(e.value)
    assert not (tmp_path / "ds").exists() or list((tmp_path / "ds").iterdir()) == []


def test_generated_sources_missing_says_how_to_make_them(tiny_projects):
    """A project whose sources are rendered at setup (close_icons, ...) on a clone without them."""
    pdir, _ = tiny_projects
    _edit(pdir / "close_tiny", sources=["images/*.png"], generator="generate.py")
    with pytest.raises(ProjectError, match=r"'images/\*\.png' matches no file.*generate\.py: run `make assets`"):
        load_project(pdir / "close_tiny")


def test_a_folder_without_project_yaml_is_named_as_such(tiny_projects):
    pdir, names = tiny_projects
    (pdir / "half_made").mkdir()
    with pytest.raises(ProjectError, match=r"'half_made'.*has no project.yaml"):
        load_projects([*names, "half_made"], pdir, set_name="ssd")
    with pytest.raises(ProjectError, match=r"'nowhere'.*does not exist"):
        load_projects(["nowhere"], pdir, set_name="ssd")
