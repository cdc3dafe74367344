"""Run an entry point with a Python that has gaa_mlops' dependencies: what MLproject calls.

    python3 -m gaa_mlops.launch pipeline --overrides "experiment=quick"

``mlflow run`` runs MLproject's command with the ``python3`` first on PATH. When that one lacks the
dependencies (the venv is not activated, as with ``.venv/bin/mlflow run .``), this runs the entry
point with the repository's ``.venv/bin/python`` instead; with neither, it says so in one line and
exits 2. Standard library only: it must start under any Python.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ENTRY_POINTS = ("pipeline", "build_dataset", "train", "evaluate", "promote", "recalibrate", "deploy", "outputs")
REQUIRED = ("hydra", "mlflow", "torch")
VENV = Path(__file__).resolve().parents[1] / ".venv"


def missing_modules() -> list[str]:
    return [m for m in REQUIRED if importlib.util.find_spec(m) is None]


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ENTRY_POINTS:
        print(f"usage: python3 -m gaa_mlops.launch {{{','.join(ENTRY_POINTS)}}} [args...]", file=sys.stderr)
        sys.exit(2)
    command = ["-m", f"gaa_mlops.{args[0]}", *args[1:]]
    missing = missing_modules()
    if not missing:
        os.execv(sys.executable, [sys.executable, *command])
    venv_python = VENV / "bin" / "python"
    in_venv = Path(sys.prefix).resolve() == VENV.resolve()
    if venv_python.is_file() and not in_venv:
        os.execv(str(venv_python), [str(venv_python), *command])
    print(f"{sys.executable} has no {', '.join(missing)} and there is no {venv_python}: run `make setup` "
          "in the repository, then `source .venv/bin/activate`", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
