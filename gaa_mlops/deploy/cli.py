"""Deploy a registered version's best_weight.pth to the pytorch server (or a local directory), or roll back.

Run:
    python -m gaa_mlops.deploy model=ssd                                # champion → local directory (default)
    python -m gaa_mlops.deploy model=ssd deploy=ssh deploy.host=pytorch-server
    python -m gaa_mlops.deploy model=resnet34 deploy=ssh deploy.host=10.0.0.5 version=12 dry_run=true
    python -m gaa_mlops.deploy model=ssd deploy=ssh deploy.host=pytorch-server action=rollback reason="misses"
    mlflow run . -e deploy -P overrides="model=ssd deploy=ssh deploy.host=pytorch-server" --env-manager local

``version=``, ``alias=``, ``action=``, ``dry_run=``, ``force=``, ``reason=`` and ``break_lock=`` are
short for ``deploy.<key>=``. The version comes from ``models:/<registered_name>@<alias>`` (default
``champion``) or ``version=N``; its weight file is checked (format, arch, sha256 against the
registered ``weights_sha256``) before anything touches the target. Afterwards the version gets tags
``deployed_to`` and ``deployed_at``, and the registered model records which version each target runs
(``gaa_mlops.deploy.live``), which ``outputs delete`` honours.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

from gaa_mlops.cli import CONF_DIR, prepare_argv, user_errors_in_one_line
from gaa_mlops.deploy import live
from gaa_mlops.deploy.core import Result, deploy_file, pid_alive, rollback
from gaa_mlops.deploy.smoke import make_smoke
from gaa_mlops.deploy.targets import DeployError, Target, make_target

log = logging.getLogger(__name__)
SHORT_KEYS = ("version", "alias", "action", "dry_run", "force", "reason", "break_lock")
ACTIONS = ("deploy", "rollback")
MODEL_ARCHS = {"ssd": "detector", "resnet34": "classifier"}
DOWNLOAD_PREFIX = "gaa-deploy-"   # + pid: a killed deploy's folder is found and removed by the next one


def target_path(paths: Mapping[str, str], model: str) -> str:
    if model not in paths:
        raise DeployError(f"no deploy path for model {model!r}; deploy.paths has {sorted(paths)}")
    return str(paths[model])


def check_weights(path: Path, model: str, sha256: str | None, force: bool = False) -> dict[str, Any]:
    """Validate the downloaded weight file: gaa-weights format, an arch that fits the model, its sha256."""
    from game_eye.models import CLASSIFIER_ARCHS, DETECTOR_ARCHS
    from game_eye.weights import file_sha256, load_weights

    if model not in MODEL_ARCHS:
        raise DeployError(f"unknown model {model!r}; valid: {sorted(MODEL_ARCHS)}")
    archs = DETECTOR_ARCHS if MODEL_ARCHS[model] == "detector" else CLASSIFIER_ARCHS
    doc = load_weights(path, expect_arch=tuple(archs))
    got = file_sha256(path)
    if sha256 is None and not force:
        raise DeployError(f"{path}: the version has no weights_sha256 tag to check against; "
                          f"pass force=true to deploy it unchecked")
    if sha256 is not None and got != sha256:
        raise DeployError(f"{path} has sha256 {got}, registered weights_sha256 is {sha256}")
    return {"arch": doc["arch"], "sha256": got, "size": path.stat().st_size}


def run_deploy(client, *, model: str, registered_name: str, target: Target, paths: Mapping[str, str],
               version: int | str | None = None, alias: str | None = "champion", keep: int = 5,
               dry_run: bool = False, force: bool = False, reason: str | None = None,
               smoke: Mapping[str, Any] | None = None, lock_wait_s: float = 0.0, break_lock: bool = False,
               create_dirs: bool = True, on_progress=None, echo: Callable[[str], None] = print) -> Result:
    """Resolve, fetch and check a version, deploy it to ``target`` and tag it; returns what was done."""
    from gaa_mlops import registry

    path = target_path(paths, model)
    mv = registry.resolve_version(client, registered_name, version=version, alias=alias or registry.CHAMPION)
    echo(f"{registered_name} version {mv.version}" + (f" (alias {alias})" if version is None else ""))
    sweep_stale_downloads()
    with tempfile.TemporaryDirectory(prefix=f"{DOWNLOAD_PREFIX}{os.getpid()}-") as tmp:
        local = registry.download_weights(client, mv, tmp)
        info = check_weights(local, model, (mv.tags or {}).get("weights_sha256"), force)
        meta = {"model": model, "registered_name": registered_name, "version": str(mv.version),
                "alias": alias if version is None else None, "run_id": mv.run_id, "reason": reason}
        smoke_fn = None
        if smoke and smoke.get("enabled") and not dry_run:
            values = {"weights": path, "ssd_weights": paths.get("ssd", ""), "resnet_weights": paths.get("resnet34", ""),
                      "sample": smoke.get("sample") or "", "model": model, "version": str(mv.version)}
            smoke_fn = make_smoke(target, smoke["command"], values, float(smoke.get("timeout_s", 120)), echo)
        where = target.describe(path)
        result = deploy_file(target, str(local), path, info["sha256"], keep=keep, meta=meta, dry_run=dry_run,
                             smoke=smoke_fn, lock_wait_s=lock_wait_s, break_lock=break_lock,
                             create_dirs=create_dirs, on_progress=on_progress, echo=echo,
                             before_swap=lambda: live.mark_pending(client, registered_name, where, mv.version))
    if result.action in ("deploy", "unchanged"):
        live.mark_running(client, registered_name, where, mv.version)
        registry.set_version_tags(client, mv, {"deployed_to": result.where,
                                               "deployed_at": result.entry["time"] if result.entry else _now()})
    return result


def sweep_stale_downloads() -> list[Path]:
    """Remove the download folders of deploys on this machine that were killed (their pid is gone)."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{DOWNLOAD_PREFIX}*"):
        m = re.match(re.escape(DOWNLOAD_PREFIX) + r"(\d+)-", folder.name)
        if m and folder.is_dir() and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def run_rollback(client, *, model: str, registered_name: str, target: Target, paths: Mapping[str, str],
                 dry_run: bool = False, reason: str | None = None, lock_wait_s: float = 0.0,
                 break_lock: bool = False, echo: Callable[[str], None] = print) -> Result:
    """Restore the previous best_weight.pth on ``target`` and tag the versions involved (when known)."""
    path = target_path(paths, model)
    result = rollback(target, path, meta={"model": model, "registered_name": registered_name, "reason": reason},
                      dry_run=dry_run, lock_wait_s=lock_wait_s, break_lock=break_lock, echo=echo)
    if client is not None and result.action == "rollback":
        _tag_rollback(client, registered_name, result)
        try:
            live.mark_running(client, registered_name, result.where, result.version)
        except Exception as exc:  # the file is restored; the record is settled by the next deploy
            log.warning("could not record what %s runs now: %s", result.where, exc)
    return result


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _tag_rollback(client, registered_name: str, result: Result) -> None:
    """Best effort: the log knows versions only for files this tool deployed."""
    when = result.entry["time"] if result.entry else _now()
    for version, tags in ((result.version, {"deployed_to": result.where, "deployed_at": when}),
                          (result.previous_version, {"rolled_back_from": result.where, "rolled_back_at": when})):
        if version is None:
            continue
        try:
            for key, value in tags.items():
                client.set_model_version_tag(registered_name, str(version), key, value)
        except Exception as exc:  # the file is restored; a tag is bookkeeping
            log.warning("could not tag %s version %s: %s", registered_name, version, exc)


def main_cfg(cfg) -> Result:
    """The body of the Hydra entry point: config → plain values → run_deploy / run_rollback."""
    from mlflow import MlflowClient
    from omegaconf import OmegaConf

    from gaa_mlops.tracking import setup_tracking_from_config

    d = cfg.deploy
    action = d.get("action", "deploy")
    if action not in ACTIONS:
        raise DeployError(f"unknown action {action!r}; valid: {list(ACTIONS)}")
    settings = OmegaConf.to_container(d, resolve=True)
    paths = {k: str(v) for k, v in settings["paths"].items()}
    target = make_target(d.target, settings)
    setup_tracking_from_config(cfg)
    client = MlflowClient()
    common = dict(model=cfg.model.name, registered_name=cfg.model.registered_name, target=target, paths=paths,
                  dry_run=bool(d.get("dry_run", False)), reason=d.get("reason"),
                  lock_wait_s=float(d.get("lock_wait_s", 0)), break_lock=bool(d.get("break_lock", False)))
    with target:
        if action == "rollback":
            return run_rollback(client, **common)
        return run_deploy(client, version=d.get("version"), alias=d.get("alias") or "champion",
                          keep=int(d.get("keep", 5)), force=bool(d.get("force", False)),
                          smoke=settings.get("smoke"), create_dirs=bool(d.get("create_dirs", True)), **common)


def main() -> None:
    import hydra

    prepare_argv(sys.argv, "deploy", SHORT_KEYS)

    @hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
    @user_errors_in_one_line(also=(RuntimeError, LookupError, ValueError, OSError))  # a deploy's every failure
    def _main(cfg) -> None:
        main_cfg(cfg)

    _main()
