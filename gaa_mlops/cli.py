"""Command-line glue shared by the Hydra entry points.

* ``python -m gaa_mlops.<step> --overrides "model=ssd trainer.epochs=3"``: MLproject passes all
  overrides as one quoted parameter; ``expand_overrides`` splits it (shell rules, so
  ``note='two words'`` stays one override).
* Short forms such as ``version=7`` become ``<group>.version=7`` (``namespace_short_overrides``).
* ``--cfg job`` (``-c job``) prints the job config as Hydra does, but with ``model.classes: auto``
  resolved to the class list that will train (``print_job_config``); ``--resolve`` resolves the
  interpolations too.
* :func:`user_errors_in_one_line` wraps each Hydra task: the config is checked first
  (``gaa_mlops.config_schema``), and a user's mistake (a bad setting, project, weight file, model
  version, host, ...) ends as one ``error: ...`` line and exit code 1; ``--verbose`` (or
  ``HYDRA_FULL_ERROR=1``) shows the traceback instead.
"""
from __future__ import annotations

import functools
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")  # absolute: works for -m and console scripts


def expand_overrides(argv: Sequence[str]) -> list[str]:
    """Replace ``--overrides "a=1 b=2"`` (or ``--overrides=...``) by the overrides it holds."""
    out, it = [], iter(argv)
    for arg in it:
        if arg == "--overrides":
            out += shlex.split(next(it, ""))
        elif arg.startswith("--overrides="):
            out += shlex.split(arg.split("=", 1)[1])
        else:
            out.append(arg)
    return out


def namespace_short_overrides(argv: Sequence[str], group: str, keys: Sequence[str]) -> list[str]:
    """``version=7`` → ``<group>.version=7`` so the documented short forms work with Hydra."""
    out = []
    for arg in argv:
        key = arg.split("=", 1)[0]
        out.append(f"{group}.{arg}" if "=" in arg and key in keys else arg)
    return out


def _wants_job_config(args: Sequence[str]) -> tuple[bool, list[str], bool]:
    """(``--cfg job`` given?, the other arguments, ``--resolve`` given?)."""
    rest, wanted, resolve, it = [], False, False, iter(args)
    for arg in it:
        if arg in ("--cfg", "-c"):
            value = next(it, "")
            wanted = wanted or value == "job"
            if value != "job":
                rest += [arg, value]
        elif arg == "--cfg=job":
            wanted = True
        elif arg == "--resolve":
            resolve = True
        else:
            rest.append(arg)
    if resolve and not wanted:
        rest.append("--resolve")
    return wanted, rest, resolve


def print_job_config(overrides: Sequence[str], resolve: bool = False) -> None:
    """Print the composed job config (YAML) with ``model.classes`` resolved from the project set."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from gaa_mlops.classes import resolve_in_place

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    try:
        resolve_in_place(cfg)
    except (LookupError, ValueError) as exc:        # a bad project set: the run would fail the same way
        print(f"note: model.classes stays {cfg.model.get('classes')!r}: {exc}", file=sys.stderr)
    print(OmegaConf.to_yaml(cfg, resolve=resolve), end="")


def prepare_argv(argv: list[str], group: str | None = None, short_keys: Sequence[str] = ()) -> None:
    """Rewrite ``sys.argv``-like ``argv`` in place before ``@hydra.main`` reads it; answer
    ``--cfg job`` here (see the module doc) and exit."""
    args = expand_overrides(argv[1:])
    if "--verbose" in args:
        args = [a for a in args if a != "--verbose"]
        os.environ["HYDRA_FULL_ERROR"] = "1"
    if group:
        args = namespace_short_overrides(args, group, short_keys)
    wanted, rest, resolve = _wants_job_config(args)
    if wanted and not any(a.startswith("-") for a in rest):   # other Hydra flags: Hydra's own --cfg
        print_job_config(rest, resolve)
        sys.exit(0)
    argv[1:] = args


def _user_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions that report a user's mistake in their message (imported when one is raised:
    the entry point has loaded their modules by then)."""
    from gaa_mlops.config_schema import ConfigError
    from gaa_mlops.data.loaders import DatasetMismatchError
    from gaa_mlops.deploy.targets import DeployError
    from gaa_mlops.distributed import DeviceError
    from gaa_mlops.projects import ProjectError
    from gaa_mlops.registry import RegistryError
    from gaa_mlops.tracking import TrackingError
    from gaa_mlops.training.loops import NonFiniteLossError
    from game_eye.weights import WeightFileError

    return (ConfigError, DatasetMismatchError, DeployError, DeviceError, ProjectError, RegistryError,
            TrackingError, NonFiniteLossError, WeightFileError)


def is_user_error(exc: BaseException) -> bool:
    """A user's mistake, or a pipeline step that failed on one."""
    from gaa_mlops.pipeline import PipelineStepError

    if isinstance(exc, PipelineStepError):
        return exc.__cause__ is not None and is_user_error(exc.__cause__)
    return isinstance(exc, _user_error_types())


def user_errors_in_one_line(task: Callable[[Any], Any] | None = None, *,
                            also: tuple[type[BaseException], ...] = ()) -> Callable[[Any], Any]:
    """Decorate a Hydra task (under ``@hydra.main``): check the config before the task creates any
    run, and turn a user error (or one of ``also``: ``@user_errors_in_one_line(also=(OSError,))``)
    into one ``error: <message>`` line on stderr and exit code 1."""
    if task is None:
        return functools.partial(user_errors_in_one_line, also=also)

    @functools.wraps(task)
    def run(cfg):
        from gaa_mlops.config_schema import check_config

        try:
            check_config(cfg)
            return task(cfg)
        except Exception as exc:
            if os.environ.get("HYDRA_FULL_ERROR") == "1" or not (is_user_error(exc) or isinstance(exc, also)):
                raise
            print("error: " + " ".join(str(exc).split()), file=sys.stderr)
            sys.exit(1)
    return run
