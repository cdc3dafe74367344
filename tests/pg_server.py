"""A throwaway PostgreSQL and a real ``mlflow server`` on 127.0.0.1 for the tracking-server tests.

``PostgresServer.start()`` runs Debian's ``initdb`` into ``<dir>/pgdata`` (trust auth, one user
``gaa``) and ``postgres -D <dir>/pgdata -k <dir> -h 127.0.0.1 -p <free port>`` in a fresh
``/tmp/gaa-pg-*`` folder (not under pytest's 0700 tmp tree); as root both run as the unprivileged
``postgres`` user (PostgreSQL refuses root), with the folder handed over to it. ``stop()``
removes the folder.
``MlflowServer.start(dir, backend_uri)`` runs ``mlflow server --backend-store-uri <that>
--artifacts-destination dir/artifacts --serve-artifacts`` on a free port and waits for ``/health``;
``stop()`` / ``restart()`` keep the port and the stores, as an operator's restart would.

Nothing here skips: missing PostgreSQL binaries are an error that says how to install them.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

INSTALL_HINT = "install it with `apt-get install -y postgresql` (or `make system-packages`)"
PG_USER = "gaa"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir() -> Path:
    """Debian's /usr/lib/postgresql/<version>/bin (newest), or $GAA_TEST_PG_BINDIR."""
    if os.environ.get("GAA_TEST_PG_BINDIR"):
        candidates = [os.environ["GAA_TEST_PG_BINDIR"]]
    else:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[::-1]
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(str(Path(on_path).resolve().parent))
    for c in candidates:
        if (Path(c) / "initdb").is_file() and (Path(c) / "postgres").is_file():
            return Path(c)
    raise RuntimeError(f"PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin "
                       f"or on PATH; {INSTALL_HINT}")


def _as_user() -> tuple[list[str], int | None, int | None]:
    """Command prefix and uid/gid to run PostgreSQL unprivileged when we are root."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError(f"running as root but there is no `postgres` user to run PostgreSQL as; "
                           f"{INSTALL_HINT}") from exc
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups"], pw.pw_uid, pw.pw_gid


def _wait(check, what: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} not ready after {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen | None, timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def launched(server):
    """``server._launch()``, or its ``stop()`` (nothing left running) and the error; returns the server."""
    try:
        server._launch()
    except BaseException:
        server.stop()
        raise
    return server


class PostgresServer:
    def __init__(self, root: Path | None = None):
        import tempfile
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="gaa-pg-"))
        self.data = self.root / "pgdata"
        self.port = free_port()
        self.log_file = self.root / "postgres.log"
        self.proc: subprocess.Popen | None = None

    @classmethod
    def start(cls, root: Path | None = None) -> "PostgresServer":
        return launched(cls(root))

    def uri(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg2://{PG_USER}@127.0.0.1:{self.port}/{db}"  # SQLAlchemy 2.1 defaults to psycopg 3

    def _launch(self) -> None:
        bindir = pg_bindir()
        prefix, uid, gid = _as_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if uid is not None:
            os.chown(self.root, uid, gid)
        init = subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(self.data), "-U", PG_USER,
                               "--auth=trust", "-E", "UTF8", "--no-sync"], capture_output=True, text=True,
                              cwd=self.root)
        if init.returncode:
            raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr[-2000:]}")
        with open(self.log_file, "wb") as log:
            self.proc = subprocess.Popen(
                [*prefix, str(bindir / "postgres"), "-D", str(self.data), "-k", str(self.root),
                 "-h", "127.0.0.1", "-p", str(self.port), "-c", "fsync=off", "-c", "max_connections=50"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        _wait(self._accepts, f"postgres on port {self.port}", self.proc, self.log_file, 60)

    def _accepts(self) -> bool:
        import psycopg2
        psycopg2.connect(host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres",
                         connect_timeout=2).close()
        return True

    def create_database(self, name: str) -> str:
        import psycopg2
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.uri(name)

    def stop(self) -> None:
        _stop(self.proc)
        shutil.rmtree(self.root, ignore_errors=True)


class MlflowServer:
    def __init__(self, root: Path, backend_uri: str, extra_args: tuple[str, ...] = (), env: dict | None = None):
        self.root = Path(root)
        self.backend_uri = backend_uri
        self.artifacts = self.root / "artifacts"
        self.port = free_port()
        self.log_file = self.root / "mlflow-server.log"
        self.extra_args = tuple(extra_args)
        self.env = env
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, root: Path, backend_uri: str, **kw) -> "MlflowServer":
        server = cls(root, backend_uri, **kw)
        server._launch()
        return server

    def _launch(self, timeout: float = 180) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        mlflow_bin = Path(sys.executable).parent / "mlflow"
        cmd = [str(mlflow_bin), "server", "--backend-store-uri", self.backend_uri,
               "--artifacts-destination", str(self.artifacts), "--serve-artifacts",
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1", *self.extra_args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | dict(self.env or {})
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, env=env,
                                         start_new_session=True)
        _wait(self._healthy, f"mlflow server on port {self.port}", self.proc, self.log_file, timeout)

    def _healthy(self) -> bool:
        with urllib.request.urlopen(self.uri + "/health", timeout=2) as r:
            return r.status == 200

    def stop(self) -> None:
        _stop(self.proc)

    def restart(self) -> None:
        self.stop()
        self._launch()
