"""List and delete "learning task outputs" (pipeline parent runs) and everything they produced.

Run:
    python -m gaa_mlops.outputs list [--experiment gaa-quick]
    python -m gaa_mlops.outputs delete <parent run id> [--yes]

The store is ``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///./mlflow.db``.
``delete`` refuses an output whose model version is a champion or is what a target runs now;
otherwise it deletes the model versions, the child runs and the parent, then purges their
artifacts with MLflow's garbage collection (``mlflow gc``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.entities import Run, ViewType

from gaa_mlops.registry import CHAMPION
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
    run = client.get_run(run_id)
    if run.data.tags.get("gaa.step") != "pipeline":
        raise ValueError(f"run {run_id} is not a pipeline run (tag gaa.step={run.data.tags.get('gaa.step')!r})")
    children = client.search_runs([run.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{run_id}'")
    versions = []
    for child in children:
        versions += client.search_model_versions(f"run_id = '{child.info.run_id}'")
    return Output(run, children, versions)


def _currently_deployed(client: MlflowClient, mv) -> bool:
    """The newest deploy of this model that was not rolled back is this version."""
    if "deployed_at" not in (mv.tags or {}):
        return False
    others = client.search_model_versions(f"name = '{mv.name}'")
    live = [v for v in others if "deployed_at" in (v.tags or {})
            and v.tags.get("rolled_back_at", "") < v.tags["deployed_at"]]
    return bool(live) and max(live, key=lambda v: v.tags["deployed_at"]).version == mv.version


def in_use(client: MlflowClient, output: Output) -> list[str]:
    reasons = []
    for mv in output.versions:
        aliases = client.get_registered_model(mv.name).aliases or {}
        if str(aliases.get(CHAMPION)) == str(mv.version):
            reasons.append(f"{mv.name} version {mv.version} is {CHAMPION}")
        if _currently_deployed(client, mv):
            reasons.append(f"{mv.name} version {mv.version} is deployed to {mv.tags.get('deployed_to')}")
    return reasons


def delete_output(client: MlflowClient, run_id: str, tracking_uri: str) -> list[str]:
    """Delete the output or raise OutputInUse; return the deleted run ids."""
    output = load_output(client, run_id)
    reasons = in_use(client, output)
    if reasons:
        raise OutputInUse(f"refusing to delete {run_id}: " + "; ".join(reasons))
    for mv in output.versions:
        client.delete_model_version(mv.name, mv.version)
    run_ids = [c.info.run_id for c in output.children] + [run_id]
    for rid in run_ids:
        client.delete_run(rid)
    subprocess.run([sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", tracking_uri,
                    "--run-ids", ",".join(run_ids)],
                   check=True, env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri})
    return run_ids


def table(client: MlflowClient, runs: list[Run]) -> str:
    header = ["run", "date", "status", "note", "datasets (ssd/resnet)", "versions", "click", "false_tap", "deployed"]
    rows = [header]
    for run in runs:
        t, m = run.data.tags, run.data.metrics
        out = load_output(client, run.info.run_id)
        deployed = [f"{mv.name}/{mv.version}" for mv in out.versions if _currently_deployed(client, mv)]
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gaa_mlops.outputs", description=__doc__.split("\n")[0])
    ap.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI") or default_uri("."))
    sub = ap.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="a table of pipeline runs")
    ls.add_argument("--experiment")
    rm = sub.add_parser("delete", help="delete a pipeline run, its child runs, versions and artifacts")
    rm.add_argument("run_id")
    args = ap.parse_args(argv)
    client = MlflowClient(args.tracking_uri)
    if args.command == "list":
        print(table(client, pipeline_runs(client, args.experiment)))
        return 0
    try:
        deleted = delete_output(client, args.run_id, args.tracking_uri)
    except (OutputInUse, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"deleted runs {deleted} and purged their artifacts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
