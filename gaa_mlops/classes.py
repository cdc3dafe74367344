"""Model classes come from the selected project set: adding a class is adding a project.

Each project declares what it contributes (``gaa_mlops.projects``): a sprite project its
``label`` (``close``, ``watch_ad``, ... or the negative ``other``, alias ``not_close``), a detection
project its COCO category names. A model config says ``classes: auto`` and gets::

    detector (task detection):      [background, *targets]
    verifier (task classification): [*targets, negative]

``targets`` are the set's target classes, ``close`` first (its index stays what old weight files
and clients know), then the others alphabetically. ``negative`` is ``not_close`` when the only
target is ``close`` (the two-class verifier keeps its name, datasets and weight files) and
``other`` otherwise. An explicit list in the config is still allowed and is checked the same way.

    from gaa_mlops.classes import resolve_classes
    resolve_classes("auto", "classification", projects, set_name="resnet34_watch_ad")
    # ['close', 'watch_ad', 'other']
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from gaa_mlops.projects import NEGATIVE, NEGATIVE_LABELS, Project, ProjectError, is_negative, load_projects

AUTO = "auto"
BACKGROUND = "background"
LEGACY_NEGATIVE = "not_close"


def order_targets(names: Iterable[str]) -> list[str]:
    """``close`` first, then the others alphabetically."""
    names = set(names)
    return (["close"] if "close" in names else []) + sorted(names - {"close"})


def target_classes(projects: Sequence[Project]) -> list[str]:
    """The target classes the projects contribute (negatives and backgrounds contribute none)."""
    return order_targets(c for p in projects for c in p.classes if not is_negative(c))


def negative_name(targets: Sequence[str]) -> str:
    return LEGACY_NEGATIVE if list(targets) == ["close"] else NEGATIVE


def model_classes(task: str, targets: Sequence[str]) -> list[str]:
    """The model's class list for these targets (see the module docstring)."""
    if task == "detection":
        return [BACKGROUND, *targets]
    return [*targets, negative_name(targets)]


def split_classes(task: str, classes: Sequence[str]) -> tuple[list[str], str | None]:
    """(targets, negative) of a model's class list; raises ValueError naming what is wrong."""
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes {classes} name a class more than once")
    if task == "detection":
        if not classes or classes[0] != BACKGROUND:
            raise ValueError(f"detector classes must start with {BACKGROUND!r}, got {classes}")
        targets = classes[1:]
        bad = [c for c in targets if is_negative(c) or c == BACKGROUND]
        if bad:
            raise ValueError(f"detector classes {classes}: {bad} cannot be detected (negatives and "
                             f"{BACKGROUND!r} are not targets)")
        negative = None
    else:
        negs = [c for c in classes if is_negative(c)]
        if len(negs) != 1:
            raise ValueError(f"verifier classes {classes} need exactly one negative class "
                             f"(one of {list(NEGATIVE_LABELS)}), found {negs}")
        negative = negs[0]
        targets = [c for c in classes if c != negative]
        if BACKGROUND in targets:
            raise ValueError(f"verifier classes {classes}: {BACKGROUND!r} is the detector's class")
    if not targets:
        raise ValueError(f"classes {classes} hold no target class")
    return targets, negative


def resolve_classes(spec: Any, task: str, projects: Sequence[Project], set_name: str | None = None) -> list[str]:
    """``spec`` is ``auto`` (derive from ``projects``) or an explicit list (returned as given once valid)."""
    where = f"project set {set_name!r}" if set_name else "the project list"
    if spec is None or (isinstance(spec, str) and spec == AUTO):
        targets = target_classes(projects)
        if not targets:
            raise ProjectError(
                f"{where} ({[p.name for p in projects]}) declares no target class: add a sprite project "
                f"with e.g. `label: close` or a detection project with boxes; negatives ({list(NEGATIVE_LABELS)}) "
                "and backgrounds are not targets")
        return model_classes(task, targets)
    if isinstance(spec, str):
        raise ValueError(f"model.classes is {spec!r}; use {AUTO!r} or a list of class names")
    classes = [str(c) for c in spec]
    split_classes(task, classes)
    return classes


def resolve_config_classes(cfg) -> list[str]:
    """The class list of ``cfg.model`` with ``auto`` resolved from ``cfg.projects`` (plain list)."""
    from omegaconf import OmegaConf

    m = cfg.model
    spec = m.get("classes", AUTO)
    if OmegaConf.is_config(spec):
        spec = OmegaConf.to_container(spec, resolve=True)
    if isinstance(spec, str) and spec == AUTO:
        set_name = str(cfg.projects.get("name", "")) or None
        projects = load_projects(list(cfg.projects.include), cfg.paths.projects_dir, set_name)
        return resolve_classes(spec, str(m.task), projects, set_name)
    return resolve_classes(spec, str(m.task), [], None)


def resolve_in_place(cfg) -> list[str]:
    """Write the resolved class list into ``cfg.model.classes`` (so the logged config shows it)."""
    from omegaconf import open_dict

    classes = resolve_config_classes(cfg)
    with open_dict(cfg):
        cfg.model.classes = classes
    return classes
