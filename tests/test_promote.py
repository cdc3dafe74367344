"""Promotion gate: alias `champion` moves only to an evaluated version that is not worse (or with force)."""
from __future__ import annotations

import itertools

import pytest
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient

from gaa_mlops import registry
from gaa_mlops.promote import CONF_DIR, PromotionRefused, gate, main_cfg, promote

QUIET = dict(echo=lambda s: None)
_names = (f"gaa-test-{i}" for i in itertools.count())


def ev(cs, ftr, digest="d1", **more):
    return {"eval.click_success": cs, "eval.false_tap_rate": ftr, "eval.dataset_digest": digest, "eval.run_id": "r",
            **more}


@pytest.fixture(scope="module")
def store(module_tmp):
    root = module_tmp
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("promote-tests", artifact_location=(root / "artifacts").as_uri())
    return uri, client, exp


@pytest.fixture
def model(store):
    """make(*version_tags) → a fresh registered model whose versions carry those tags (version i+1)."""
    _, client, exp = store

    def make(*version_tags, champion=None):
        name = next(_names)
        for tags in version_tags:
            run = client.create_run(exp)
            registry.register_weights(client, name, run.info.run_id, tags, alias="candidate")
        if champion:
            client.set_registered_model_alias(name, "champion", str(champion))
        return name

    return client, make


def champion(client, name):
    return str(client.get_registered_model(name).aliases.get("champion"))


def test_gate_rules():
    champ = {"click_success": 0.8, "false_tap_rate": 0.1, "dataset_digest": "d"}
    assert gate({"click_success": 0.8, "false_tap_rate": 0.1, "dataset_digest": "d"}, champ) == []
    assert gate({"click_success": 0.9, "false_tap_rate": 0.05, "dataset_digest": "d"}, None) == []
    assert len(gate({"click_success": 0.7, "false_tap_rate": 0.2, "dataset_digest": "d"}, champ)) == 2
    assert "same set" in gate({"click_success": 0.9, "false_tap_rate": 0.0, "dataset_digest": "x"}, champ)[0]
    assert gate({"click_success": 0.9, "false_tap_rate": 0.0, "dataset_digest": "d", "top_k": "5"}, champ) == []
    assert "top_k" in gate({"click_success": 0.9, "false_tap_rate": 0.0, "dataset_digest": "d", "top_k": "8"}, champ)[0]


def test_first_promotion_and_tags(model):
    client, make = model
    name = make(ev(0.8, 0.1))
    out = promote(client, name, reason="first model", user="alice", **QUIET)
    assert out["changed"] and champion(client, name) == "1"
    tags = client.get_model_version(name, "1").tags
    assert tags["promoted_by"] == "alice" and tags["promote_reason"] == "first model"
    assert tags["promoted_at"].endswith("+00:00") and tags["promote_forced"] == "false"
    assert not promote(client, name, version=1, **QUIET)["changed"]  # already champion


def test_better_version_promoted_from_alias(model):
    client, make = model
    name = make(ev(0.8, 0.1), ev(0.85, 0.1), champion=1)
    promote(client, name, **QUIET)  # alias candidate → version 2
    assert champion(client, name) == "2"
    assert client.get_model_version(name, "2").tags["previous_champion"] == "1"


@pytest.mark.parametrize("tags, why", [
    (ev(0.7, 0.1), "click_success 0.7000 < champion's 0.8000"),
    (ev(0.9, 0.2), "false_tap_rate 0.2000 > champion's 0.1000"),
    (ev(0.9, 0.0, digest="other"), "evaluate both on the same set"),
    (ev(0.9, 0.0, **{"eval.top_k": "8"}), "top_k 8 but the champion with top_k 5"),   # champion untagged: 5
])
def test_worse_or_incomparable_refused_unless_forced(model, tags, why):
    client, make = model
    name = make(ev(0.8, 0.1), tags, champion=1)
    with pytest.raises(PromotionRefused, match=why.replace("(", r"\(")):
        promote(client, name, version=2, **QUIET)
    assert champion(client, name) == "1"
    out = promote(client, name, version=2, force=True, reason="accepting it", **QUIET)
    assert out["forced"] and champion(client, name) == "2"
    assert client.get_model_version(name, "2").tags["promote_forced"] == "true"


def field(cs, ftr, digest="f1", name="field_2026_12"):
    return {f"eval.{name}.click_success": cs, f"eval.{name}.false_tap_rate": ftr,
            f"eval.{name}.dataset_digest": digest}


@pytest.mark.parametrize("candidate, refused", [
    (ev(0.9, 0.0, **field(0.70, 0.02)), "held-out set field_2026_12: click_success 0.7000 < champion's 0.8000"),
    (ev(0.9, 0.0, **field(0.85, 0.05)), "held-out set field_2026_12: false_tap_rate 0.0500 > champion's 0.0200"),
    (ev(0.9, 0.0, **field(0.70, 0.02, digest="f2")), None),           # another version of the set: not comparable
    (ev(0.9, 0.0, **field(0.70, 0.02, name="eval_designs")), None),   # not a field set (promote.gate_sets)
    (ev(0.9, 0.0, **field(0.85, 0.01)), None),
])
def test_a_held_out_field_set_gates_the_promotion(model, candidate, refused):
    client, make = model
    name = make(ev(0.8, 0.1, **field(0.80, 0.02), **field(0.80, 0.02, name="eval_designs")), candidate, champion=1)
    if refused:
        with pytest.raises(PromotionRefused, match=refused.replace("(", r"\(")):
            promote(client, name, version=2, **QUIET)
        assert champion(client, name) == "1"
    else:
        assert promote(client, name, version=2, **QUIET)["changed"] and champion(client, name) == "2"


def test_unevaluated_version_refused_even_with_force(model):
    client, make = model
    name = make(ev(0.8, 0.1), {"weights_sha256": "ab"}, champion=1)
    with pytest.raises(PromotionRefused, match="has no evaluation"):
        promote(client, name, version=2, force=True, **QUIET)
    assert champion(client, name) == "1"


def test_unknown_names(model):
    client, make = model
    name = make(ev(0.8, 0.1))
    with pytest.raises(LookupError, match="no version 5; existing: \\[1\\]"):
        promote(client, name, version=5, **QUIET)
    with pytest.raises(LookupError, match="no alias 'best'"):
        promote(client, name, alias="best", **QUIET)
    with pytest.raises(LookupError, match="does not exist"):
        promote(client, "gaa-missing", **QUIET)


def test_hydra_entry(store, model, tmp_path):
    uri, _ = store[:2]
    client, make = model
    name = make(ev(0.8, 0.1), ev(0.9, 0.1), champion=1)
    overrides = [f"tracking.uri={uri}", f"paths.root={tmp_path}", f"model.registered_name={name}",
                 "promote.version=2", "promote.reason=better"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
        if "promote" not in cfg:  # until conf/config.yaml lists `- promote: default`
            cfg = compose(config_name="config", overrides=["+promote=default"] + overrides)
    out = main_cfg(cfg)
    assert out["version"] in (2, "2") and champion(client, name) == "2"


def test_cli_main_in_process(store, model, tmp_path, monkeypatch, capsys):
    """gaa-promote / python -m gaa_mlops.promote with the short overrides (version=, reason=, force=)."""
    from gaa_mlops import promote as promote_module

    uri = store[0]
    client, make = model
    name = make(ev(0.8, 0.1), ev(0.7, 0.1), champion=1)
    args = ["gaa-promote", f"tracking.uri={uri}", f"paths.root={tmp_path}", f"model.registered_name={name}",
            f"hydra.run.dir={tmp_path / 'hydra'}", "version=2"]
    monkeypatch.setattr("sys.argv", args)
    with pytest.raises(SystemExit) as info:
        promote_module.main()
    assert info.value.code == 1 and "click_success 0.7000 < champion's 0.8000" in capsys.readouterr().err
    monkeypatch.setattr("sys.argv", args + ["force=true", "reason=known regression accepted"])
    promote_module.main()
    assert champion(client, name) == "2"
    assert client.get_model_version(name, "2").tags["promote_reason"] == "known regression accepted"
