"""What every tracked run records besides metrics: the resolved config and the code that ran."""
from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Mapping

import mlflow
from omegaconf import DictConfig, OmegaConf

CODE_PATHS = ("gaa_mlops", "game_eye", "conf", "MLproject", "setup.cfg")
CODE_ROOT = Path(__file__).resolve().parents[1]     # the checkout whose code is running (not paths.root)
MAX_PARAM_LENGTH = 6000


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping → {"a.b.c": "value"} with stable, sorted keys; lists stay one value."""
    flat: dict[str, str] = {}
    for key in sorted(tree):
        value, name = tree[key], f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def log_config(cfg: DictConfig, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Log the resolved config as params (minus ``exclude`` prefixes) and as ``config.yaml``."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    params = {k: v for k, v in flatten(resolved).items() if not k.startswith(exclude)}
    for i in range(0, len(params), 100):  # MLflow caps a batch at 100 params
        mlflow.log_params(dict(list(params.items())[i:i + 100]))
    mlflow.log_text(OmegaConf.to_yaml(resolved), "config.yaml")
    return params


def git_state(root: str | Path) -> dict[str, str]:
    """Commit and dirty flag of the checkout at ``root``; 'unknown' outside git."""
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    try:
        commit = run("rev-parse", "HEAD")
        dirty = bool(run("status", "--porcelain", "--untracked-files=no"))
    except (subprocess.CalledProcessError, FileNotFoundError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}


def source_archive(root: str | Path) -> bytes:
    """tar.gz of the code and configs plus every project manifest and generator (not the images)."""
    root = Path(root)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in CODE_PATHS:
            path = root / name
            if path.exists():
                tar.add(path, arcname=name, filter=lambda t: None if "__pycache__" in t.name else t)
        for manifest in sorted((root / "projects").glob("*/project.yaml")):
            tar.add(manifest, arcname=str(manifest.relative_to(root)))
        for script in sorted((root / "projects").glob("**/*.py")):
            tar.add(script, arcname=str(script.relative_to(root)))
    return buf.getvalue()


def log_code(root: str | Path = CODE_ROOT) -> dict[str, str]:
    """Tags git commit + dirty flag of the checkout at ``root`` (the running code's) and logs
    ``code/source.tar.gz``."""
    state = git_state(root)
    mlflow.set_tags(state)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / "source.tar.gz"
        tmp.write_bytes(source_archive(root))
        mlflow.log_artifact(str(tmp), artifact_path="code")
    return state
