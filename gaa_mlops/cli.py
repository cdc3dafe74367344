"""Command-line glue shared by the Hydra entry points.

* ``python -m gaa_mlops.<step> --overrides "model=ssd trainer.epochs=3"``: MLproject passes all
  overrides as one quoted parameter; ``expand_overrides`` splits it (shell rules, so
  ``note='two words'`` stays one override).
* Short forms such as ``version=7`` become ``<group>.version=7`` (``namespace_short_overrides``).
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Sequence

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


def prepare_argv(argv: list[str], group: str | None = None, short_keys: Sequence[str] = ()) -> None:
    """Rewrite ``sys.argv``-like ``argv`` in place before ``@hydra.main`` reads it."""
    args = expand_overrides(argv[1:])
    if group:
        args = namespace_short_overrides(args, group, short_keys)
    argv[1:] = args
