"""Types and ranges of the settings a user overrides most, checked before any run is created.

Every Hydra entry point calls :func:`check_config` on its composed config first (through
``gaa_mlops.cli.user_errors_in_one_line``), so ``trainer.lr=abc``, ``trainer.epochs=-1`` or
``model.dataset.n_train=-5`` stop with one line that names the key, the value and what is allowed,
instead of failing inside torch with a FAILED run left in MLflow::

    $ python -m gaa_mlops.train trainer.lr=abc
    error: config trainer.lr='abc': Input should be a valid number, unable to parse string as a number

The schemas cover the keys with a range (the rest of the config stays free-form: ``extra="allow"``);
pydantic does the checking, one model per config group.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class ConfigError(ValueError):
    """A setting out of its type or range; the message names the key and the value."""


class _Group(BaseModel):
    model_config = ConfigDict(extra="allow", strict=False)


def _ordered_pair(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] > value[1]:
        raise ValueError(f"[low, high] with low <= high, got {list(value)}")
    return value


class Calibration(_Group):
    target_recall: Optional[Annotated[float, Field(gt=0.0, le=1.0)]] = None
    max_false_positive_rate: Optional[Fraction] = None
    screens: Optional[NonNegativeInt] = None
    screen_seed: Optional[NonNegativeInt] = None
    screen_no_close_fraction: Optional[Fraction] = None
    compose_workers: Optional[NonNegativeInt] = None
    max_false_tap_rate: Optional[Fraction] = None
    max_wrong_tap_rate: Optional[Fraction] = None


class Average(_Group):
    window: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    every: PositiveInt = 10
    max_val_drop: NonNegative = 0.01


class Trainer(_Group):
    epochs: PositiveInt
    batch_size: PositiveInt
    optimizer: Literal["sgd", "adamw"]
    lr: Positive
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)]
    weight_decay: NonNegative
    scheduler: Literal["cosine", "step", "none"]
    warmup_epochs: NonNegative
    num_workers: NonNegativeInt
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    max_minutes: Optional[Positive] = None
    augment: bool = True
    detector_window: Optional[Annotated[float, Field(gt=0.0, le=1.0)]] = None
    calibration: Calibration = Calibration()
    average: Average = Average()


class HardNegatives(_Group):
    negative_share: Optional[Fraction] = None
    positive_share: Optional[Fraction] = None
    top_k: Optional[PositiveInt] = None
    screenshot_share: Optional[Fraction] = None


class Dataset(_Group):
    n_train: PositiveInt
    n_val: PositiveInt
    seed: NonNegativeInt = 0
    no_close_fraction: Optional[Fraction] = None
    distractors: Optional[tuple[NonNegativeInt, NonNegativeInt]] = None
    button_width_fraction: Optional[tuple[Annotated[float, Field(gt=0.0, le=1.0)],
                                          Annotated[float, Field(gt=0.0, le=1.0)]]] = None
    corner_fraction: Optional[Fraction] = None
    distractor_top_fraction: Optional[Fraction] = None
    card_fraction: Optional[Fraction] = None
    extra_close: Optional[tuple[NonNegativeInt, NonNegativeInt]] = None
    screen_sizes: Optional[list[tuple[PositiveInt, PositiveInt]]] = None
    crop_margin: Optional[tuple[NonNegative, NonNegative]] = None
    runtime_crop_margin: Optional[NonNegative] = None
    crop_jitter: Optional[NonNegative] = None
    hard_negatives: Optional[HardNegatives] = None

    _pairs_ordered = field_validator("distractors", "button_width_fraction", "extra_close",
                                     "crop_margin")(_ordered_pair)


class Model(_Group):
    task: Literal["detection", "classification"]
    image_size: Union[PositiveInt, tuple[PositiveInt, PositiveInt]]
    classes: Union[Literal["auto"], list[str]]
    mirror_average: bool = False
    extra_crop_margins: list[NonNegative] = []
    dataset: Dataset


class Evaluation(_Group):
    regions: Literal["full", "top_corners"]
    top_k: Optional[PositiveInt] = None
    precision: Literal["auto", "fp32", "int8"]
    limit: Optional[PositiveInt] = None
    gallery_size: NonNegativeInt


class Deploy(_Group):
    keep: NonNegativeInt
    action: Literal["deploy", "rollback"]
    lock_wait_s: NonNegative


GROUPS: dict[str, type[_Group]] = {"trainer": Trainer, "model": Model, "evaluation": Evaluation,
                                   "deploy": Deploy}


def _message(group: str, err: dict) -> str:
    key = ".".join([group, *(str(p) for p in err["loc"])])
    if err["type"] == "missing":
        return f"config {key} is missing"
    return f"config {key}={err['input']!r}: {err['msg']}"


def check_config(cfg) -> None:
    """Raise :class:`ConfigError` (every bad key in one line) when a checked group of the composed
    Hydra config ``cfg`` has a value out of its type or range; the groups it lacks are skipped."""
    from omegaconf import OmegaConf

    problems = []
    for group, schema in GROUPS.items():
        if group not in cfg:
            continue
        try:
            schema.model_validate(OmegaConf.to_container(cfg[group], resolve=True))
        except ValidationError as exc:
            problems += [_message(group, e) for e in exc.errors(include_url=False)]
    if problems:
        raise ConfigError("; ".join(problems))
