"""Re-choose a verifier's close threshold for the detector it will now serve with.

The verifier's training chooses its close threshold on composed screens with the SSD it mined
(``gaa_mlops.training.screen_calibration``). When the SSD is retrained alone, the rate of false
proposals the verifier sees changes, and so does the right threshold. This registers a NEW version
of the verifier with the same weights and a threshold chosen on screens with the new detector (the
old version is left as it was; alias ``candidate`` moves to the new one; evaluate and promote it as
any other version).

Run:
    python -m gaa_mlops.recalibrate                               # champion verifier for champion SSD
    python -m gaa_mlops.recalibrate verifier=models:/gaa-resnet34/3 detector=models:/gaa-ssd@candidate
    mlflow run . -e recalibrate -P overrides="detector=models:/gaa-ssd/4" --env-manager local

``verifier=`` and ``detector=`` are short for ``recalibrate.<key>=`` (conf/recalibrate/);
``recalibrate.mirror_average=true`` also switches the new version to scoring each crop with its
mirror image (``game_eye.crops``), its threshold chosen for that;
``"recalibrate.extra_crop_margins=[0.55,1.05]"`` scores each proposal at those contexts too. The screens
come from the verifier's project set and mining recipe (``model=resnet34``), the limits from
``trainer.calibration``.
"""
from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from gaa_mlops import registry
from gaa_mlops.cli import CONF_DIR, prepare_argv, user_errors_in_one_line

SHORT_KEYS = ("verifier", "detector")
log = logging.getLogger(__name__)


def recalibrate(cfg) -> dict[str, Any]:
    """Fetch both weight files, choose the threshold on screens, register the verifier again."""
    import mlflow
    from mlflow import MlflowClient

    from gaa_mlops.tracking import setup_tracking_from_config
    from gaa_mlops.training.screen_calibration import calibrate_verifier_payload, inputs_from_config
    from game_eye.archs import CLASSIFIER_ARCHS, DETECTOR_ARCHS
    from game_eye.crops import EXTRA_MARGINS_KEY, MIRROR_KEY, extra_margins_of, mirror_average_of
    from game_eye.weights import load_weights

    if cfg.model.task != "classification":
        raise ValueError(f"recalibrate chooses a verifier's threshold: use model=resnet34, not model={cfg.model.name}")
    spec = cfg.recalibrate
    setup_tracking_from_config(cfg)
    client = MlflowClient()
    with tempfile.TemporaryDirectory() as tmp:
        ver_path, source = registry.fetch_weights(client, str(spec.verifier), Path(tmp) / "verifier")
        det_path, _ = registry.fetch_weights(client, str(spec.detector), Path(tmp) / "detector")
        payload = load_weights(ver_path, expect_arch=tuple(CLASSIFIER_ARCHS))
        load_weights(det_path, expect_arch=tuple(DETECTOR_ARCHS))
        name = str(payload.get("model_name") or cfg.model.registered_name)
        for key in ("format", "model_name", "version", "run_id"):    # publish_weights writes them anew
            payload.pop(key, None)
        if spec.get("mirror_average") is not None:
            payload[MIRROR_KEY] = bool(spec.mirror_average)
        if spec.get("extra_crop_margins") is not None:
            payload[EXTRA_MARGINS_KEY] = [float(v) for v in spec.extra_crop_margins]
        mirror = mirror_average_of(payload, ver_path)
        extra = list(extra_margins_of(payload, ver_path))
        assets, screens, settings = inputs_from_config(cfg)
        with mlflow.start_run(run_name=f"recalibrate-{cfg.model.name}", nested=mlflow.active_run() is not None) as run:
            mlflow.log_params({"verifier": spec.verifier, "detector": spec.detector, "mirror_average": mirror,
                               "extra_crop_margins": extra,
                               **{f"calibration.{k}": v for k, v in settings.items()}})
            cal = calibrate_verifier_payload(payload, det_path, assets, screens, settings, Path(tmp) / "work")
            origin = f"{source.name}/{source.version}" if source is not None else str(spec.verifier)
            tags = {**({k: v for k, v in source.tags.items() if not k.startswith(("eval.", "promote"))}
                       if source is not None else {}),
                    "run_id": run.info.run_id, "recalibrated_from": origin, "calibration_detector": str(spec.detector)}
            tags.pop("weights_sha256", None)
            mv = registry.publish_weights(client, name, run.info.run_id, payload, tags, Path(tmp) / "publish")
            mlflow.set_tags({"registered_model": name, "registered_version": mv.version,
                             "recalibrated_from": origin})
    summary = {"model_name": name, "version": int(mv.version), "recalibrated_from": origin,
               "score_threshold": cal.threshold, "crop_threshold": payload["crop_threshold"], "mirror_average": mirror,
               "extra_crop_margins": extra,
               "met_limits": cal.met_limits, **cal.at_threshold}
    log.info("registered %s version %s (alias candidate): %s", name, mv.version, summary)
    return summary


def main() -> None:
    import hydra

    if not any(a.startswith("model=") for a in sys.argv[1:]):
        sys.argv.insert(1, "model=resnet34")             # the verifier's projects, recipe and limits
    prepare_argv(sys.argv, "recalibrate", SHORT_KEYS)

    @hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
    @user_errors_in_one_line(also=(ValueError,))
    def _main(cfg) -> None:
        recalibrate(cfg)

    _main()


if __name__ == "__main__":
    main()
