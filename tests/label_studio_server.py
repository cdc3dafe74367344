"""A throwaway Label Studio server on 127.0.0.1 for the labelling round-trip tests.

``LabelStudio.start(root, frames_root)`` runs ``label-studio start`` from its own venv
(``.venv-label-studio``, made by ``make label-studio``; ``$GAA_TEST_LABEL_STUDIO`` overrides the
executable) with a data dir under ``root``, on a free port, with a default user whose API token
is random, and local-files serving rooted at ``frames_root``; it waits for ``/health``. ``stop()``
ends it. The first start migrates a fresh SQLite database (about a minute on 2 cores).

Nothing here skips: a missing server is an error that says how to install it.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import urllib.request
from pathlib import Path

from tests.pg_server import _stop, _wait, free_port, launched

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EXECUTABLE = REPO / ".venv-label-studio" / "bin" / "label-studio"
START_TIMEOUT_S = 300


def executable() -> Path:
    path = Path(os.environ.get("GAA_TEST_LABEL_STUDIO") or DEFAULT_EXECUTABLE)
    if not path.is_file():
        raise RuntimeError(f"Label Studio server not found at {path}: run `make label-studio` (its own venv, "
                           "pinned in constraints/label-studio-server.txt), or set GAA_TEST_LABEL_STUDIO")
    return path


class LabelStudio:
    def __init__(self, root: Path, frames_root: Path):
        self.root, self.frames_root = Path(root), Path(frames_root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = secrets.token_hex(20)   # the legacy token format: 40 hex digits
        self.log_file = self.root / "label-studio.log"
        self.proc: subprocess.Popen | None = None

    @classmethod
    def start(cls, root: Path, frames_root: Path) -> "LabelStudio":
        return launched(cls(root, frames_root))

    def _launch(self) -> None:
        exe = executable()
        self.root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
               "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(self.frames_root.resolve()),
               "LABEL_STUDIO_BASE_DATA_DIR": str(self.root / "data"), "HOME": str(self.root),
               "PYTHONUNBUFFERED": "1", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
               "COLLECT_ANALYTICS": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        cmd = [str(exe), "start", "--no-browser", "--data-dir", str(self.root / "data"), "--port", str(self.port),
               "--internal-host", "127.0.0.1", "--username", "labeller@example.com",
               "--password", secrets.token_hex(8), "--user-token", self.api_key, "--enable-legacy-api-token"]
        with open(self.log_file, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root,
                                         start_new_session=True)

        def healthy() -> bool:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                return r.status == 200

        _wait(healthy, f"label-studio start ({exe})", self.proc, self.log_file, START_TIMEOUT_S)

    def stop(self) -> None:
        _stop(self.proc)
