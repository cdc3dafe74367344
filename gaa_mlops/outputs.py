"""List and delete "learning task outputs" (pipeline parent runs) and everything they produced.

Run:
    python -m gaa_mlops.outputs list [--experiment gaa-quick]
    python -m gaa_mlops.outputs delete <parent run id> [--yes]     # asks first unless --yes

The store is ``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///./mlflow.db``.
``delete`` refuses an output whose model version is a champion or is what a target runs now (or may
run: see ``gaa_mlops.deploy.live``);
otherwise it deletes the model versions and their logged models, the child runs and the parent,
then purges their artifacts with MLflow's garbage collection (``mlflow gc``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mlflow import MlflowClient
from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException

from gaa_mlops.deploy import live
from gaa_mlops.registry import CHAMPION, logged_model_id
from gaa_mlops.tracking import default_uri

MODELS = (("ssd", "gaa-ssd"), ("resnet34", "gaa-resnet34"))


class OutputInUse(RuntimeError):
    """The output's weights are the champion or currently deployed."""


@dataclass
class Output:
    run: Run
    children: list[Run]
    versions: list  # ModelVersion


def pipeline_runs(client: MlflowClient, experiment: str | None = None) -> list[Run]:
    exps = [client.get_experiment_by_name(experiment)] if experiment else client.search_experiments()
    ids = [e.experiment_id for e in exps if e is not None]
    if not ids:
        return []
    return client.search_runs(ids, filter_string="tags.`gaa.step` = 'pipeline'", run_view_type=ViewType.ACTIVE_ONLY,
                              order_by=["attributes.start_time DESC"])


def load_output(client: MlflowClient, run_id: str) -> Output:
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ValueError(f"no run {run_id!r} in {client.tracking_uri}; `python -m gaa_mlops.outputs list` "
                         f"shows the pipeline runs") from None
    if run.data.tags.get("gaa.step") != "pipeline":
        raise ValueError(f"run {run_id} is not a pipeline run (tag gaa.step={run.data.tags.get('gaa.step')!r})")
    children = client.search_runs([run.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{run_id}'")
    versions = []
    for child in children:
        versions += client.search_model_versions(f"run_id = '{child.info.run_id}'")
    return Output(run, children, versions)


def _deployed_to(client: MlflowClient, mv) -> list[str]:
    """The targets that run this version now (or may: a deploy of or from it was interrupted)."""
    return live.targets_running(client, mv.name, mv.version)


def in_use(client: MlflowClient, output: Output) -> list[str]:
    reasons = []
    for mv in output.versions:
        aliases = client.get_registered_model(mv.name).aliases or {}
        if str(aliases.get(CHAMPION)) == str(mv.version):
            reasons.append(f"{mv.name} version {mv.version} is {CHAMPION}")
        targets = _deployed_to(client, mv)
        if targets:
            reasons.append(f"{mv.name} version {mv.version} is deployed to {', '.join(targets)}")
    return reasons


def delete_output(client: MlflowClient, run_id: str, tracking_uri: str) -> list[str]:
    """Delete the output or raise OutputInUse; return the deleted run ids."""
    output = load_output(client, run_id)
    reasons = in_use(client, output)
    if reasons:
        raise OutputInUse(f"refusing to delete {run_id}: " + "; ".join(reasons))
    model_ids = [m for m in (logged_model_id(mv) for mv in output.versions) if m]
    model_dirs = [_local_model_dir(client, m) for m in model_ids]
    for mv in output.versions:
        client.delete_model_version(mv.name, mv.version)
    for model_id in model_ids:
        client.delete_logged_model(model_id)
    run_ids = [c.info.run_id for c in output.children] + [run_id]
    for rid in run_ids:
        client.delete_run(rid)
    artifact_dirs = [_local_run_dir(client, rid) for rid in run_ids]
    artifact_dirs += model_dirs
    gc = [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", tracking_uri, "--run-ids", ",".join(run_ids)]
    if model_ids:
        gc += ["--logged-model-ids", ",".join(model_ids)]
    subprocess.run(gc, check=True, env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri})
    for folder in artifact_dirs:  # gc empties a local run's artifact folder but leaves the folder
        if folder is not None and folder.is_dir() and not any(p.is_file() for p in folder.rglob("*")):
            shutil.rmtree(folder, ignore_errors=True)
    return run_ids


def _local_folder(artifact_uri: str | None) -> Path | None:
    """The folder holding ``<...>/artifacts`` when those artifacts are local files, else None."""
    if not (artifact_uri or "").startswith("file:"):
        return None
    folder = Path(urlparse(artifact_uri).path)
    return folder.parent if folder.name == "artifacts" else folder


def _local_run_dir(client: MlflowClient, run_id: str) -> Path | None:
    """``mlruns/<experiment>/<run id>`` when the run's artifacts are local files."""
    return _local_folder(client.get_run(run_id).info.artifact_uri)


def _local_model_dir(client: MlflowClient, model_id: str) -> Path | None:
    """``mlruns/<experiment>/models/<model id>`` when the logged model's artifacts are local files."""
    return _local_folder(client.get_logged_model(model_id).artifact_location)


def table(client: MlflowClient, runs: list[Run]) -> str:
    header = ["run", "date", "status", "note", "datasets (ssd/resnet)", "versions", "click", "false_tap", "deployed"]
    rows = [header]
    for run in runs:
        t, m = run.data.tags, run.data.metrics
        out = load_output(client, run.info.run_id)
        deployed = [f"{mv.name}/{mv.version}" for mv in out.versions if _deployed_to(client, mv)]
        versions = [f"{name.split('-')[1]} v{t[f'{key}.version']}" for key, name in MODELS if f"{key}.version" in t]
        rows.append([
            run.info.run_id[:12],
            dt.datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M"),
            run.info.status,
            (t.get("mlflow.note.content") or "")[:30],
            "/".join(t.get(f"{k}.dataset_digest", "-")[:8] for k, _ in MODELS),
            ", ".join(versions) or "-",
            f"{m['click_success']:.3f}" if "click_success" in m else "-",
            f"{m['false_tap_rate']:.3f}" if "false_tap_rate" in m else "-",
            ", ".join(deployed) or "no",
        ])
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows)


def _confirm(output: Output) -> bool:
    if not sys.stdin.isatty():
        print("error: delete needs --yes when not run from a terminal", file=sys.stderr)
        return False
    names = ", ".join(f"{mv.name} v{mv.version}" for mv in output.versions) or "no model versions"
    answer = input(f"delete run {output.run.info.run_id}, its {len(output.children)} child runs and {names}, "
                   f"with their artifacts? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gaa_mlops.outputs", description=__doc__.split("\n")[0])
    ap.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI") or default_uri("."))
    sub = ap.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="a table of pipeline runs")
    ls.add_argument("--experiment")
    rm = sub.add_parser("delete", help="delete a pipeline run, its child runs, versions and artifacts")
    rm.add_argument("run_id")
    rm.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = ap.parse_args(argv)
    client = MlflowClient(args.tracking_uri)
    if args.command == "list":
        print(table(client, pipeline_runs(client, args.experiment)))
        return 0
    try:
        output = load_output(client, args.run_id)
        reasons = in_use(client, output)
        if reasons:
            raise OutputInUse(f"refusing to delete {args.run_id}: " + "; ".join(reasons))
        if not args.yes and not _confirm(output):
            print("nothing deleted", file=sys.stderr)
            return 1
        deleted = delete_output(client, args.run_id, args.tracking_uri)
    except (OutputInUse, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"deleted runs {deleted} and purged their artifacts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
