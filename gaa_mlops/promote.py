"""Promote a registered version to alias ``champion`` after a gate on its evaluation metrics.

Run:
    python -m gaa_mlops.promote model=ssd                       # the version behind alias `candidate`
    python -m gaa_mlops.promote model=ssd version=7 reason="fewer misses on new ads"
    python -m gaa_mlops.promote model=resnet34 alias=candidate force=true reason="new eval set"
    mlflow run . -e promote -P overrides="model=ssd version=7" --env-manager local

``version=``, ``alias=``, ``force=``, ``reason=`` are short for ``promote.<key>=`` (conf/promote/).

The gate reads the ``eval.*`` tags that evaluation writes on a version. It refuses a version with
no evaluation, and, unless ``force=true``, one that is worse than the current champion on ANY
class both were evaluated on (``eval.classes``: close, watch_ad, ...): a lower ``click_success`` or a
higher ``false_tap_rate`` (``eval.click_success`` for close, ``eval.watch_ad.click_success`` for
watch_ad, ...), or one evaluated on another dataset digest than the champion (the numbers would
not be comparable). A class only one of the two reports is not compared (a rate that could not be
measured, NaN, neither). Held-out field sets (``evaluation.extra_projects`` whose name matches
``promote.gate_sets``, default ``field_*``: the projects ``gaa_mlops.label import --held-out``
writes) gate too: a version worse on one than the champion was on the same set (same set digest)
is refused. The promoted version gets
tags ``promoted_by``, ``promoted_at``, ``promote_reason`` (and ``promote_forced``, ``previous_champion``).
"""
from __future__ import annotations

import datetime as dt
import fnmatch
import getpass
import math
import sys
from typing import Callable

from gaa_mlops import registry
from gaa_mlops.cli import CONF_DIR, prepare_argv, user_errors_in_one_line

SHORT_KEYS = ("version", "alias", "force", "reason")
DEFAULT_GATE_SETS = ("field_*",)
EVAL_KEYS = ("eval.click_success", "eval.false_tap_rate", "eval.dataset_digest")


class PromotionRefused(RuntimeError):
    """The gate refused the promotion; the message says why and how to override."""


GATED = ("click_success", "false_tap_rate")      # higher is better, lower is better
UNTAGGED_TOP_K = "5"    # evaluations from before the eval.top_k tag ran GameEye's top_k of then


def _tag_name(label: str, key: str) -> str:
    return f"eval.{key}" if label == "close" else f"eval.{label}.{key}"


def evaluation(mv) -> dict | None:
    """The version's evaluation tags as numbers, or None when it was never evaluated.

    ``classes`` maps every evaluated class to its gated rates (close included; a version evaluated
    before classes came from projects has close alone); the close rates also stay at the top level."""
    tags = mv.tags or {}
    if not all(tags.get(k) not in (None, "") for k in EVAL_KEYS):
        return None
    labels = [c for c in (tags.get("eval.classes") or "close").split(",") if c]
    try:
        per_class = {c: {k: float(tags[_tag_name(c, k)]) for k in GATED}
                     for c in labels if all(_tag_name(c, k) in tags for k in GATED)}
        sets = {k[len("eval."):-len(".dataset_digest")] for k in tags
                if k.startswith("eval.") and k.endswith(".dataset_digest") and k != "eval.dataset_digest"}
        per_set = {name: {"dataset_digest": tags[f"eval.{name}.dataset_digest"],
                          **{k: float(tags[f"eval.{name}.{k}"]) for k in GATED}}
                   for name in sets if all(f"eval.{name}.{k}" in tags for k in GATED)}
        return {"click_success": float(tags["eval.click_success"]),
                "false_tap_rate": float(tags["eval.false_tap_rate"]),
                "dataset_digest": tags["eval.dataset_digest"], "run_id": tags.get("eval.run_id"),
                "top_k": tags.get("eval.top_k", UNTAGGED_TOP_K), "classes": per_class, "sets": per_set}
    except ValueError as exc:
        raise PromotionRefused(f"{mv.name} version {mv.version} has unreadable eval tags: {exc}") from exc


def _classes_of(ev: dict) -> dict[str, dict[str, float]]:
    per = dict(ev.get("classes") or {})
    per.setdefault("close", {k: ev[k] for k in GATED if k in ev})
    return per


def _worse(a: dict, b: dict, prefix: str) -> list[str]:
    """Lower click_success or higher false_tap_rate of ``a`` than ``b`` (NaN on either side: not compared)."""
    out = []
    if not (math.isnan(a.get("click_success", math.nan)) or math.isnan(b.get("click_success", math.nan))) \
            and a["click_success"] < b["click_success"]:
        out.append(f"{prefix}click_success {a['click_success']:.4f} < champion's {b['click_success']:.4f}")
    if not (math.isnan(a.get("false_tap_rate", math.nan)) or math.isnan(b.get("false_tap_rate", math.nan))) \
            and a["false_tap_rate"] > b["false_tap_rate"]:
        out.append(f"{prefix}false_tap_rate {a['false_tap_rate']:.4f} > champion's {b['false_tap_rate']:.4f}")
    return out


def gate(candidate: dict, champion: dict | None, gate_sets=DEFAULT_GATE_SETS) -> list[str]:
    """Reasons to refuse ``candidate`` against ``champion`` (both from :func:`evaluation`); empty = pass.

    Every class present in both is compared: lower click_success or higher false_tap_rate refuses;
    so does the same on an extra evaluation set matching ``gate_sets`` that both were evaluated on
    with the same set digest."""
    if champion is None:
        return []
    if candidate["dataset_digest"] != champion["dataset_digest"]:
        return [f"evaluated on dataset {candidate['dataset_digest']} but the champion on "
                f"{champion['dataset_digest']}: evaluate both on the same set to compare"]
    top_k = (candidate.get("top_k", UNTAGGED_TOP_K), champion.get("top_k", UNTAGGED_TOP_K))
    if top_k[0] != top_k[1]:
        return [f"evaluated with GameEye top_k {top_k[0]} but the champion with top_k {top_k[1]}: "
                f"evaluate both with the same GameEye settings to compare"]
    cand, champ = _classes_of(candidate), _classes_of(champion)
    problems = []
    for c in [c for c in cand if c in champ]:
        problems += _worse(cand[c], champ[c], "" if c == "close" else f"{c} ")
    a_sets, b_sets = candidate.get("sets") or {}, champion.get("sets") or {}
    for name in sorted(set(a_sets) & set(b_sets)):
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in gate_sets) and \
                a_sets[name]["dataset_digest"] == b_sets[name]["dataset_digest"]:
            problems += _worse(a_sets[name], b_sets[name], f"held-out set {name}: ")
    return problems


def promote(client, registered_name: str, *, version: int | str | None = None, alias: str | None = "candidate",
            force: bool = False, reason: str | None = None, user: str | None = None,
            echo: Callable[[str], None] = print, gate_sets=DEFAULT_GATE_SETS) -> dict:
    """Gate and move alias ``champion`` to the chosen version; returns a summary dict."""
    mv = registry.resolve_version(client, registered_name, version=version, alias=alias or registry.CANDIDATE)
    label = f"{registered_name} version {mv.version}"
    ev = evaluation(mv)
    if ev is None:
        missing = [k for k in EVAL_KEYS if not (mv.tags or {}).get(k)]
        raise PromotionRefused(f"{label} has no evaluation (missing tags {missing}); run "
                               f"`python -m gaa_mlops.evaluate model=... version={mv.version}` first")
    aliases = dict(client.get_registered_model(registered_name).aliases or {})
    previous = aliases.get(registry.CHAMPION)
    if previous is not None and str(previous) == str(mv.version):
        echo(f"{label} is already the champion; nothing to do")
        return {"version": mv.version, "previous_champion": previous, "changed": False, "forced": False}
    champ = None
    if previous is not None:
        champ_mv = client.get_model_version(registered_name, str(previous))
        champ = evaluation(champ_mv)
        if champ is None:
            problems = [f"the champion (version {previous}) has no evaluation to compare with"]
        else:
            problems = gate(ev, champ, gate_sets)
    else:
        problems = []
    if problems and not force:
        raise PromotionRefused(f"refusing to promote {label} over champion version {previous}: "
                               + "; ".join(problems) + ". Pass force=true (with reason=...) to promote anyway")
    for p in problems:
        echo(f"WARNING (forced): {p}")
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    tags = {"promoted_by": user or getpass.getuser(), "promoted_at": now, "promote_reason": reason or "",
            "promote_forced": str(bool(problems)).lower(), "previous_champion": previous or ""}
    registry.set_version_tags(client, mv, tags)
    client.set_registered_model_alias(registered_name, registry.CHAMPION, mv.version)
    others = "".join(f"; {c}: click_success {m['click_success']:.4f}, false_tap_rate {m['false_tap_rate']:.4f}"
                     for c, m in ev["classes"].items() if c != "close")
    echo(f"{label} is now {registered_name}@{registry.CHAMPION} (was {previous or 'none'}): "
         f"click_success {ev['click_success']:.4f}, false_tap_rate {ev['false_tap_rate']:.4f}{others}")
    return {"version": mv.version, "previous_champion": previous, "changed": True, "forced": bool(problems),
            "metrics": ev, "champion_metrics": champ, "tags": tags}


def main_cfg(cfg) -> dict:
    """The body of the Hydra entry point: config → plain values → promote()."""
    from mlflow import MlflowClient

    from gaa_mlops.tracking import setup_tracking_from_config

    p = cfg.get("promote") or {}
    setup_tracking_from_config(cfg)
    return promote(MlflowClient(), cfg.model.registered_name, version=p.get("version"),
                   alias=p.get("alias") or registry.CANDIDATE, force=bool(p.get("force", False)),
                   reason=p.get("reason"), gate_sets=tuple(p.get("gate_sets") or DEFAULT_GATE_SETS))


def main() -> None:
    import hydra

    prepare_argv(sys.argv, "promote", SHORT_KEYS)

    @hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
    @user_errors_in_one_line(also=(PromotionRefused, LookupError))
    def _main(cfg) -> None:
        main_cfg(cfg)

    _main()


if __name__ == "__main__":
    main()
