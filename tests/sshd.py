"""A throwaway OpenSSH sshd on 127.0.0.1 for the deploy tests (see tests/test_deploy_ssh.py).

``SshServer.start(tmp_dir)`` generates a host key and a client key, writes an sshd_config (free
port, ListenAddress 127.0.0.1, StrictModes no, UsePAM no, the current user allowed) and runs
``/usr/sbin/sshd -D -e -f CONFIG`` until ``stop()``.

The SFTP subsystem is a small wrapper script whose behaviour the tests switch with
``set_fault()``: ``None`` (plain sftp-server), ``"efbig"`` (writes past a few KiB fail, as on
a full disk) or ``"nobody"`` (sftp-server drops to uid 65534, so writing to root's
directories is really denied; root would bypass a chmod).

Nothing here skips: a missing sshd is an error that says how to install it.
"""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import paramiko

SSHD = os.environ.get("GAA_TEST_SSHD", "/usr/sbin/sshd")
SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server")
INSTALL_HINT = "install it with `apt-get install -y openssh-server` (README: test setup)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_key(path: Path) -> paramiko.Ed25519Key:
    """Generate an ed25519 key with ssh-keygen (paramiko cannot write ed25519 private keys)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gaa-test", "-f", str(path)],
                   check=True, stdout=subprocess.DEVNULL)
    path.chmod(0o600)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


class SshServer:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key_file = self.root / "ssh_host_ed25519_key"
        self.client_key_file = self.root / "id_ed25519"
        self.other_key_file = self.root / "id_other"
        self.known_hosts = self.root / "known_hosts"
        self.fault_file = self.root / "sftp_fault"
        self.log_file = self.root / "sshd.log"
        self.proc: subprocess.Popen | None = None

    # -- setup -----------------------------------------------------------------------------------
    @classmethod
    def start(cls, root: Path) -> "SshServer":
        server = cls(root)
        server._prepare()
        server._launch()
        return server

    def _prepare(self) -> None:
        if not Path(SSHD).is_file():
            raise RuntimeError(f"OpenSSH server not found at {SSHD}; {INSTALL_HINT}")
        sftp_server = next((p for p in SFTP_SERVERS if Path(p).is_file()), None)
        if sftp_server is None:
            raise RuntimeError(f"sftp-server not found in {SFTP_SERVERS}; {INSTALL_HINT}")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # privilege-separation dir
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_key = write_key(self.host_key_file)
        self.client_key = write_key(self.client_key_file)
        self.other_key = write_key(self.other_key_file)
        authorized = self.root / "authorized_keys"
        authorized.write_text(f"{self.client_key.get_name()} {self.client_key.get_base64()}\n")
        authorized.chmod(0o600)
        self.write_known_hosts(self.host_key)
        wrapper = self.root / "sftp-wrapper.sh"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"mode=$(cat {self.fault_file} 2>/dev/null)\n"
            'case "$mode" in\n'
            f"  efbig) trap '' XFSZ; ulimit -f 16; exec {sftp_server} ;;\n"
            f"  nobody) exec setpriv --reuid=65534 --regid=65534 --clear-groups {sftp_server} ;;\n"
            f"  *) exec {sftp_server} ;;\n"
            "esac\n")
        wrapper.chmod(0o755)
        self.config = self.root / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            f"HostKey {self.host_key_file}",
            f"PidFile {self.root / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            f"AllowUsers {self.user}",
            "PermitRootLogin yes" if os.geteuid() == 0 else "PermitRootLogin no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "StrictModes no",
            "UsePAM no",
            "UseDNS no",
            "LogLevel VERBOSE",
            f"Subsystem sftp {wrapper}",
            "",
        ]))

    def _launch(self) -> None:
        log = open(self.log_file, "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log_file.read_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not start on port {self.port}: {self.log_file.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    # -- knobs for the tests ---------------------------------------------------------------------
    def write_known_hosts(self, key: paramiko.PKey, path: Path | None = None) -> Path:
        path = Path(path or self.known_hosts)
        path.write_text(f"[{self.host}]:{self.port} {key.get_name()} {key.get_base64()}\n")
        return path

    def set_fault(self, mode: str | None) -> None:
        if mode:
            self.fault_file.write_text(mode)
        else:
            self.fault_file.unlink(missing_ok=True)

    def ssh_settings(self, **overrides) -> dict:
        """Plain values for gaa_mlops.deploy.targets.SshTarget / the deploy=ssh config group."""
        settings = dict(host=self.host, port=self.port, user=self.user, key_file=str(self.client_key_file),
                        known_hosts=str(self.known_hosts), password_env=None, connect_timeout_s=10.0)
        settings.update(overrides)
        return settings


def sshd_available_message() -> str | None:
    if shutil.which("ssh-keygen") is None or not Path(SSHD).is_file():
        return f"OpenSSH server/ssh-keygen missing; {INSTALL_HINT}"
    return None


# -- pytest fixture (import it into a test module: ``from tests.sshd import sshd_server  # noqa: F401``) --
try:
    import pytest
except ImportError:  # pragma: no cover - only the fixture needs pytest
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="module")
    def sshd_server(tmp_path_factory):
        """A real sshd on 127.0.0.1 for the module; fails (never skips) when OpenSSH is missing."""
        problem = sshd_available_message()
        if problem:
            pytest.fail(problem, pytrace=False)
        server = SshServer.start(tmp_path_factory.mktemp("sshd"))
        try:
            yield server
        finally:
            server.stop()
