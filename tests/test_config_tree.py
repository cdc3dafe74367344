"""MLproject and every config group parse and compose; overrides and unknown names behave."""
from __future__ import annotations

import pytest
import yaml
from hydra import compose
from hydra.errors import MissingConfigException

from gaa_mlops.cli import expand_overrides
from gaa_mlops.launch import ENTRY_POINTS
from gaa_mlops.projects import available_projects
from tests.tiny import REPO, hydra_init

CONF = REPO / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())


def test_mlproject_entry_points_parse():
    doc = yaml.safe_load((REPO / "MLproject").read_text())
    assert set(doc["entry_points"]) == {"main", "build_dataset", "train", "evaluate", "promote", "recalibrate",
                                        "deploy"}
    for name, ep in doc["entry_points"].items():
        python, flag, launcher, entry = ep["command"].split()[:4]
        assert (python, flag, launcher) == ("python3", "-m", "gaa_mlops.launch"), name
        assert entry in ENTRY_POINTS, name
        module = REPO / "gaa_mlops" / entry
        assert module.with_suffix(".py").exists() or (module / "__main__.py").exists(), name
        ep["command"].format(overrides="x")


def test_required_groups_exist():
    assert {"model", "projects", "trainer", "tracking", "deploy", "experiment", "paths"} <= set(GROUPS)


@pytest.mark.parametrize("group,option", [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))])
def test_every_group_option_composes(group, option):
    extra = ["deploy.host=example"] if (group, option) == ("deploy", "ssh") else []
    with hydra_init():
        cfg = compose(config_name="config", overrides=[f"{group}={option}", *extra])
    assert cfg.tracking.experiment_name == f"gaa-{option}" if group == "experiment" else cfg[group] is not None


def test_project_sets_name_existing_projects():
    available = set(available_projects(REPO / "projects"))
    for path in (CONF / "projects").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        assert set(doc["include"]) <= available, path
        assert "eval_screens" not in doc["include"], f"{path} trains on the held-out evaluation set"


def test_each_model_has_its_own_image_size_and_project_set():
    with hydra_init():
        ssd = compose(config_name="config", overrides=["model=ssd"])
        res = compose(config_name="config", overrides=["model=resnet34", "model.image_size=96",
                                                       "projects=no_ja_text"])
    assert list(ssd.model.image_size) == [576, 320] and ssd.projects.name == "ssd"
    assert res.model.image_size == 96 and res.projects.name == "no_ja_text"
    assert res.trainer.batch_size != ssd.trainer.batch_size or res.trainer.lr != ssd.trainer.lr


def test_unknown_group_option_lists_choices():
    with hydra_init(), pytest.raises(MissingConfigException) as err:
        compose(config_name="config", overrides=["model=yolo"])
    assert "resnet34" in str(err.value) and "ssd" in str(err.value)


def test_mlproject_overrides_string_is_split_like_a_shell():
    assert expand_overrides(["--overrides", "model=ssd note='two words'", "x=1"]) == [
        "model=ssd", "note=two words", "x=1"]
