"""MLproject and every config group parse and compose; overrides and unknown names behave."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
                                        "deploy", "outputs"}
    for name, ep in doc["entry_points"].items():
        python, flag, launcher, entry = ep["command"].split()[:4]
        assert (python, flag, launcher) == ("python3", "-m", "gaa_mlops.launch"), name
        assert entry in ENTRY_POINTS, name
        module = REPO / "gaa_mlops" / entry
        assert module.with_suffix(".py").exists() or (module / "__main__.py").exists(), name
        ep["command"].format(**{p: "x" for p in ep["parameters"]})


def test_every_entry_point_has_a_console_script():
    """setup.cfg's console_scripts: one gaa-<step> per entry point (gaa-build-dataset, ...) and game-eye."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    scripts = dict(line.split(" = ") for line in cfg["options.entry_points"]["console_scripts"].strip().splitlines())
    assert scripts["game-eye"] == "game_eye.__main__:main"
    for entry in ENTRY_POINTS:
        target = scripts[f"gaa-{entry.replace('_', '-')}"]
        assert target.split(":")[0] == f"gaa_mlops.{entry}"
    # installed (make setup: pip install -e .): the script runs its entry point
    out = subprocess.run([str(Path(sys.executable).parent / "gaa-outputs"), "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "python -m gaa_mlops.outputs" in out.stdout


def test_required_groups_exist():
    assert {"model", "projects", "trainer", "tracking", "deploy", "experiment", "paths"} <= set(GROUPS)


@pytest.mark.parametrize("group,option", [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))])
def test_every_group_option_composes(group, option):
    extra = ["deploy.host=example"] if (group, option) == ("deploy", "ssh") else []
    with hydra_init():
        cfg = compose(config_name="config", overrides=[f"{group}={option}", *extra])
    if group == "experiment":
        assert cfg.tracking.experiment_name == f"gaa-{option}"
        return
    own = yaml.safe_load((CONF / group / f"{option}.yaml").read_text()) or {}
    own.pop("defaults", None)
    assert set(own) <= set(cfg[group]), f"{group}={option}: keys of its file missing from cfg.{group}"
    if "name" in own:                                     # the option chosen is the one composed
        assert cfg[group].name == own["name"]


def test_project_sets_name_existing_projects():
    available = set(available_projects(REPO / "projects"))
    for path in (CONF / "projects").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        assert set(doc["include"]) <= available, path
        assert "eval_screens" not in doc["include"], f"{path} trains on the held-out evaluation set"


def test_each_model_has_its_own_image_size_and_project_set():
    with hydra_init():
        ssd = compose(config_name="config", overrides=["model=ssd"])
        res = compose(config_name="config", overrides=["model=resnet34", "model.image_size=112",
                                                       "projects=no_ja_text"])
    assert list(ssd.model.image_size) == [576, 320] and ssd.projects.name == "ssd"
    assert res.model.image_size == 112 and res.projects.name == "no_ja_text"
    assert res.trainer.batch_size != ssd.trainer.batch_size or res.trainer.lr != ssd.trainer.lr


def test_unknown_group_option_lists_choices():
    with hydra_init(), pytest.raises(MissingConfigException) as err:
        compose(config_name="config", overrides=["model=yolo"])
    assert "resnet34" in str(err.value) and "ssd" in str(err.value)


def test_mlproject_overrides_string_is_split_like_a_shell():
    assert expand_overrides(["--overrides", "model=ssd note='two words'", "x=1"]) == [
        "model=ssd", "note=two words", "x=1"]


def test_a_run_and_a_multirun_leave_nothing_in_the_working_directory(tmp_path):
    """Hydra writes no outputs/<date>/<time>/.hydra and no log file into the cwd (the config goes to
    MLflow); a multirun's multirun.yaml goes to the temp folder. A real entry point, run and multirun."""
    cwd, store, tmp = tmp_path / "cwd", tmp_path / "store", tmp_path / "tmp"
    for d in (cwd, store, tmp):
        d.mkdir()
    common = [f"paths.root={store}", f"tracking.uri=sqlite:///{store / 'mlflow.db'}"]
    env = {**os.environ, "TMPDIR": str(tmp)}
    env.pop("MLFLOW_TRACKING_URI", None)
    single = subprocess.run([sys.executable, "-m", "gaa_mlops.promote", "model=ssd", *common],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert single.returncode == 1 and "registered model 'gaa-ssd' does not exist" in single.stderr
    multi = subprocess.run([sys.executable, "-m", "gaa_mlops.promote", "-m", "model=ssd,resnet34", *common],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert multi.returncode == 1 and "does not exist" in multi.stderr
    assert sorted(p.name for p in cwd.iterdir()) == []
    assert list(tmp.glob("gaa-multirun/*/multirun.yaml"))


def test_cfg_job_prints_the_classes_that_will_train():
    """`--cfg job` shows model.classes resolved from the project set, not `auto`; the rest is Hydra's."""
    out = subprocess.run([sys.executable, "-m", "gaa_mlops.train", "model=resnet34", "projects=resnet34_watch_ad",
                          f"paths.projects_dir={REPO / 'projects'}", "--cfg", "job"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    job = yaml.safe_load(out.stdout)
    assert job["model"]["classes"] == ["close", "watch_ad", "other"]
    assert job["paths"]["datasets_dir"] == "${paths.root}/data/datasets"      # unresolved, as Hydra prints it
    assert "hydra" not in job
