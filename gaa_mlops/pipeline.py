"""The whole job as one MLflow parent run: datasets → SSD → ResNet34 → evaluation → promotion → deploy.

Run:
    python -m gaa_mlops.pipeline experiment=quick                      # README's main job
    mlflow run . --env-manager local -P overrides="experiment=quick"  # the same through MLproject
    python -m gaa_mlops.pipeline steps=[train_resnet34,evaluate] note="more kanji negatives"
    python -m gaa_mlops.pipeline pipeline.models.ssd.projects=ssd pipeline.models.resnet34.projects=no_ja_text
    python -m gaa_mlops.pipeline steps=[train_ssd,evaluate,promote]   # + recalibrate_resnet34 after train_ssd
    python -m gaa_mlops.pipeline resume=<parent run id>              # after a failed step
    python -m gaa_mlops.pipeline -m trainer.lr=0.01,0.003             # one parent run per job

The parent run is the "learning task output": its tags link the child runs, both dataset digests,
both model versions and the evaluation; ``note`` becomes its description in the MLflow UI.
Every step records its result on the parent, so ``resume`` redoes only what did not finish.
When the SSD is trained without the verifier, ``recalibrate_resnet34`` follows ``train_ssd``
(``pipeline.recalibrate_verifier``): the verifier's close threshold was chosen on screens with the
old SSD, so a new version of it gets one chosen with the new SSD (``gaa_mlops.recalibrate``).
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable

import hydra
import mlflow
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from mlflow import MlflowClient
from omegaconf import DictConfig

from gaa_mlops.cli import CONF_DIR, prepare_argv, user_errors_in_one_line
from gaa_mlops.config_schema import ConfigError, check_config
from gaa_mlops.registry import CHAMPION, RegistryError, resolve_version
from gaa_mlops.run_logging import log_code, log_config
from gaa_mlops.tracking import setup_tracking

log = logging.getLogger(__name__)
MODELS = ("ssd", "resnet34")
STEPS = ("build_datasets", "train_ssd", "train_resnet34", "recalibrate_resnet34", "evaluate", "promote", "deploy")
SHORT_KEYS = ("steps", "note", "resume")
GROUP_CHOICES = ("model=", "projects=", "trainer=", "pipeline=")


class PipelineStepError(RuntimeError):
    """A step failed; the parent run ends FAILED and names it."""


def model_config(base_overrides: list[str], model: str, projects: str, extra: list[str]) -> DictConfig:
    """The full config of one model inside the pipeline: the user's overrides, then the model's own."""
    kept = [o for o in base_overrides if not o.lstrip("+~").startswith(GROUP_CHOICES)
            and not o.lstrip("+~").startswith("pipeline.")]
    return compose(config_name="config", overrides=kept + [f"model={model}", f"projects={projects}", *extra])


def with_recalibration(steps: list[str], enabled: bool) -> list[str]:
    """``steps`` with ``recalibrate_resnet34`` right after ``train_ssd`` when the verifier is not
    trained in the same run (and the step is not listed already)."""
    if not enabled or "train_ssd" not in steps or {"train_resnet34", "recalibrate_resnet34"} & set(steps):
        return list(steps)
    i = steps.index("train_ssd") + 1
    return [*steps[:i], "recalibrate_resnet34", *steps[i:]]


def _done_steps(client: MlflowClient, run_id: str) -> dict[str, Any]:
    tags = client.get_run(run_id).data.tags
    return {k.split(".")[1]: json.loads(v) for k, v in tags.items()
            if k.startswith("pipeline.") and k.endswith(".result")}


class Pipeline:
    """Runs the selected steps inside the active parent run; each step's result is tagged on it."""

    def __init__(self, cfg: DictConfig, base_overrides: list[str]):
        self.cfg = cfg
        self.p = cfg.pipeline
        self.base = list(base_overrides)
        self.client = MlflowClient()
        self.results: dict[str, Any] = {}
        self.steps: list[str] = []

    def sub(self, model: str, *extra: str) -> DictConfig:
        m = self.p.models[model]
        return model_config(self.base, model, m.projects, [*m.overrides, *self._mining(model), *extra])

    def _mines(self, model: str) -> bool:
        return model == "resnet34" and bool(self.p.get("mine_ssd_proposals", False))

    def _mining(self, model: str) -> list[str]:
        """The verifier's dataset mines the proposals of this run's SSD, else the candidate's; with
        neither (a first run without train_ssd) it is built without mining, and says so."""
        if not self._mines(model):
            return []
        if "train_ssd" not in self.results:
            name = model_config(self.base, "ssd", self.p.models.ssd.projects, []).model.registered_name
            try:
                resolve_version(self.client, name, alias="candidate")
            except RegistryError as exc:
                log.warning("verifier dataset built without mined proposals: %s", exc)
                return []
        return [f"model.dataset.hard_negatives.detector={self._weights_spec('ssd')}"]

    def _deferred(self, model: str) -> bool:
        """Is this model's dataset built by its train step (it mines the SSD trained in this run)?"""
        return self._mines(model) and "train_ssd" in self.steps and "train_ssd" not in self.results

    def run(self, parent_id: str, steps: list[str]) -> dict[str, Any]:
        self.results = _done_steps(self.client, parent_id)
        self.steps = list(steps)
        actions: dict[str, Callable[[], Any]] = {
            "build_datasets": self.build_datasets, "train_ssd": lambda: self.train("ssd"),
            "train_resnet34": lambda: self.train("resnet34"),
            "recalibrate_resnet34": self.recalibrate_verifier, "evaluate": self.evaluate,
            "promote": self.promote, "deploy": self.deploy}
        for step in steps:
            if step in self.results:
                log.info("step %s: already done in this run, skipped", step)
                continue
            log.info("step %s ...", step)
            started = time.monotonic()
            try:
                result = actions[step]()
            except Exception as exc:
                mlflow.set_tag("pipeline.failed_step", step)
                raise PipelineStepError(f"pipeline step {step!r} failed: {type(exc).__name__}: {exc}") from exc
            minutes = (time.monotonic() - started) / 60
            mlflow.log_metric(f"minutes.{step}", minutes)
            log.info("step %s done in %.1f min", step, minutes)
            self.results[step] = result
            mlflow.set_tag(f"pipeline.{step}.result", json.dumps(result, default=str)[:5000])
        mlflow.set_tag("pipeline.failed_step", "")
        return self.results

    # ---------------------------------------------------------------- steps
    def build_datasets(self) -> dict:
        from gaa_mlops.build_dataset import build_and_log
        out = {}
        for model in MODELS:
            if self._deferred(model):
                out[model] = {"deferred": "built in train_resnet34: it mines the proposals of the SSD "
                                          "trained in this run"}
                continue
            s = build_and_log(self.sub(model))
            out[model] = {"run_id": s["run_id"], "digest": s["digest"], "cache_hit": s["cache_hit"]}
            mlflow.set_tag(f"{model}.dataset_digest", s["digest"])
        return out

    def train(self, model: str) -> dict:
        from gaa_mlops.build_dataset import build_and_log
        from gaa_mlops.train import train
        if self._mines(model) and (self.results.get("build_datasets") or {}).get(model, {}).get("deferred"):
            built = build_and_log(self.sub(model))      # its own child run, as in build_datasets
            mlflow.set_tag(f"{model}.dataset_digest", built["digest"])
        s = train(self.sub(model))
        mlflow.set_tags({f"{model}.train_run_id": s["run_id"], f"{model}.version": s["version"],
                         f"{model}.dataset_digest": s["dataset_digest"]})
        return {k: s[k] for k in ("run_id", "model_name", "version", "dataset_digest", "score_threshold")}

    def recalibrate_verifier(self) -> dict:
        """A new version of the verifier (the candidate, or this run's) with its close threshold
        chosen on screens with this run's SSD (or the SSD candidate)."""
        from gaa_mlops.recalibrate import recalibrate
        verifier, detector = self._weights_spec("resnet34"), self._weights_spec("ssd")
        try:
            s = recalibrate(self.sub("resnet34", f"recalibrate.verifier={verifier}",
                                     f"recalibrate.detector={detector}"))
        except RegistryError as exc:       # no verifier registered yet: nothing to recalibrate
            log.warning("recalibrate_resnet34 skipped: %s", exc)
            return {"skipped": str(exc)}
        mlflow.set_tag("resnet34.version", s["version"])
        return {k: s[k] for k in ("model_name", "version", "recalibrated_from", "score_threshold")}

    def _trained(self, model: str) -> dict | None:
        """This run's version of ``model``: trained, or (the verifier) recalibrated here."""
        done = self.results.get(f"train_{model}") or self.results.get(f"recalibrate_{model}") or {}
        return done if "version" in done else None

    def _weights_spec(self, model: str) -> str:
        name = self.sub(model).model.registered_name
        trained = self._trained(model)
        return f"models:/{name}/{trained['version']}" if trained else f"models:/{name}@candidate"

    def evaluate(self) -> dict:
        from gaa_mlops.evaluate import HEADLINE, STAGE_KEYS, evaluate
        cfg = self.sub("ssd", f"evaluation.ssd_weights={self._weights_spec('ssd')}",
                       f"evaluation.resnet_weights={self._weights_spec('resnet34')}")
        s = evaluate(cfg)
        keys = (*HEADLINE, *STAGE_KEYS, "latency_p50_ms", "verifier_accuracy")
        sets = [""] + [f"{name}." for name in (cfg.evaluation.get("extra_projects") or [])]
        metrics = {f"{p}{k}": s[f"{p}{k}"] for p in sets for k in keys if f"{p}{k}" in s}
        mlflow.log_metrics(metrics)
        mlflow.set_tag("evaluation.run_id", s["run_id"])
        return {"run_id": s["run_id"], "dataset_digest": s["dataset_digest"], **metrics}

    def _version(self, model: str) -> str | None:
        trained = self._trained(model)
        return str(trained["version"]) if trained else None

    def promote(self) -> dict:
        from gaa_mlops.promote import DEFAULT_GATE_SETS, PromotionRefused, promote
        if self.p.promote == "none":
            return {"skipped": "pipeline.promote=none"}
        if self.p.promote != "auto":
            raise ValueError(f"unknown pipeline.promote {self.p.promote!r}; valid: ['auto', 'none']")
        out = {}
        for model in MODELS:
            name = self.sub(model).model.registered_name
            try:
                gate_sets = tuple((self.cfg.get("promote") or {}).get("gate_sets") or DEFAULT_GATE_SETS)
                r = promote(self.client, name, version=self._version(model), alias="candidate",
                            reason=f"pipeline {mlflow.active_run().info.run_id}", gate_sets=gate_sets)
                out[model] = {"champion": str(r["version"]), "changed": r["changed"]}
            except PromotionRefused as exc:
                log.warning("%s", exc)
                out[model] = {"refused": str(exc)}
            except RegistryError as exc:  # nothing registered for this model yet
                out[model] = {"skipped": str(exc)}
        out["game_eye"] = self._register_pair()
        return out

    def _register_pair(self) -> dict:
        """gaa-game-eye@champion follows the pair of champions: a new version when either changed."""
        from gaa_mlops.logged_models import GAME_EYE_MODEL, first_image, register_game_eye
        try:
            ssd, resnet = (resolve_version(self.client, self.sub(m).model.registered_name, alias=CHAMPION)
                           for m in MODELS)
        except RegistryError as exc:
            return {"skipped": f"no pair of champions yet: {exc}"}
        project = self.cfg.evaluation.project
        project = project if isinstance(project, str) else project[0]
        example = first_image(Path(self.cfg.paths.projects_dir) / project)
        mv = register_game_eye(self.client, ssd, resnet, example_image_path=example)
        return {"model": GAME_EYE_MODEL, "version": str(mv.version)}

    def deploy(self) -> dict:
        from gaa_mlops.deploy.cli import main_cfg as deploy_main
        if not self.p.deploy:
            return {"skipped": "pipeline.deploy=false"}
        out = {}
        for model in MODELS:
            name = self.sub(model).model.registered_name
            try:
                resolve_version(self.client, name, alias=CHAMPION)
            except RegistryError as exc:
                out[model] = {"skipped": f"nothing to deploy: {exc}"}
                continue
            result = deploy_main(self.sub(model))
            out[model] = {"path": result.path, "version": result.version, "sha256": result.sha256}
            mlflow.set_tag(f"{model}.deployed_to", result.path)
        return out


def run_pipeline(cfg: DictConfig, base_overrides: list[str]) -> dict[str, Any]:
    """Open (or resume) the parent run and run ``cfg.pipeline.steps``; return every step's result."""
    p = cfg.pipeline
    steps = with_recalibration(list(p.steps), bool(p.get("recalibrate_verifier", True)))
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"unknown pipeline step(s) {unknown} (pipeline.steps); valid: {list(STEPS)}")
    for model, m in p.models.items():          # each model's own trainer and dataset, before any run
        check_config(model_config(base_overrides, model, m.projects, list(m.overrides)))
    root = Path(cfg.paths.root).resolve()
    setup_tracking(cfg.tracking.uri, cfg.tracking.experiment_name, str(root))
    nested = mlflow.active_run() is not None and not p.resume
    with mlflow.start_run(run_id=p.resume or None, run_name=None if p.resume else "pipeline", nested=nested) as run:
        if not p.resume:
            mlflow.set_tags({"gaa.step": "pipeline", "mlflow.note.content": p.note or ""})
            log_config(cfg, exclude=("pipeline.resume",))
            log_code()
        elif p.note:
            mlflow.set_tag("mlflow.note.content", p.note)
        results = Pipeline(cfg, base_overrides).run(run.info.run_id, steps)
    return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, **results}


def print_summary(summary: dict[str, Any], tracking_uri: str) -> None:
    """Where everything is: runs, versions, metrics, deployed files, and how to look at them."""
    lines = [f"pipeline run: {summary['run_id']} (experiment {summary['experiment_id']})"]
    for model in MODELS:
        t = summary.get(f"train_{model}")
        if t:
            lines.append(f"  {t['model_name']} version {t['version']}  (train run {t['run_id']}, "
                         f"dataset {t['dataset_digest'][:12]})")
    r = summary.get("recalibrate_resnet34") or {}
    if "version" in r:
        lines.append(f"  {r['model_name']} version {r['version']}  (recalibrated from {r['recalibrated_from']} "
                     f"for this SSD: close threshold {r['score_threshold']:.4f})")
    ev = summary.get("evaluate")
    if ev:
        numbers = [f"{k} {v:.4f}" for k, v in ev.items() if isinstance(v, float)]
        lines.append("  evaluation: " + ", ".join(numbers))
    if summary.get("promote"):
        lines.append(f"  promotion: {summary['promote']}")
    for model, d in (summary.get("deploy") or {}).items():
        if isinstance(d, dict) and "path" in d:
            lines.append(f"  deployed {model} version {d['version']} -> {d['path']}")
    # MLflow 3.17's UI opens in its GenAI view unless the URL (or the toggle, remembered per browser) asks
    runs_page = (f"http://127.0.0.1:5000/#/experiments/{summary.get('experiment_id', '')}/runs"
                 "?workflowType=machine_learning")
    lines.append(f"look at it: mlflow ui --backend-store-uri {tracking_uri}  (then open {runs_page})")
    print("\n".join(lines))


def main() -> None:
    prepare_argv(sys.argv, "pipeline", SHORT_KEYS)

    @hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
    @user_errors_in_one_line
    def _main(cfg: DictConfig) -> None:
        overrides = list(HydraConfig.get().overrides.task)
        summary = run_pipeline(cfg, overrides)
        print_summary(summary, mlflow.get_tracking_uri())

    _main()


if __name__ == "__main__":
    main()
