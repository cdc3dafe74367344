"""Deploy targets: the few filesystem operations the safe-deploy logic needs, for a local directory
and for a server over SSH/SFTP (paramiko).

Both implement the same small interface (:class:`Target`) so ``gaa_mlops.deploy.core`` holds the
whole safety logic once. Paths are POSIX strings on the target.

Security of :class:`SshTarget`: host keys are checked against the configured known_hosts file
only (no system file, no auto-add): an unknown or changed key is refused with its SHA256
fingerprint. Authentication is by key file or agent; a password comes only from the environment
variable named in the config and is never logged or returned. Every path that reaches a remote
shell goes through ``shlex.quote``.
"""
from __future__ import annotations

import base64
import errno
import hashlib
import os
import posixpath
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

import paramiko

from game_eye.weights import file_sha256

Progress = Callable[[int, int], None]
CHUNK = 1 << 15
AUTO_EXEC_HASH_BYTES = 8 << 20  # hash_method=auto: files above this are hashed by sha256sum on the server


class DeployError(RuntimeError):
    """A deploy or rollback that could not be done; the message says what and where."""


class ConnectError(DeployError):
    """The target could not be reached or refused us (network, host key, authentication)."""


class HostKeyError(ConnectError):
    """The server's host key is unknown or changed; the message carries its SHA256 fingerprint."""


def _exclusive_temp_name(path: str) -> str:
    """``.<name>.<random>.tmp`` next to ``path``: deploy's sweep of interrupted temp files removes it."""
    d, name = posixpath.split(path)
    return posixpath.join(d, f".{name}.{secrets.token_hex(4)}.tmp")


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a public key."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


class Target:
    """The filesystem (and command) operations of a deploy target."""

    kind = "abstract"

    def describe(self, path: str) -> str:
        """Where ``path`` is, for logs and the ``deployed_to`` tag (never holds a secret)."""
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        raise NotImplementedError

    def makedirs(self, path: str) -> None:
        raise NotImplementedError

    def listdir(self, path: str) -> list[str]:
        raise NotImplementedError

    def put(self, local: str | os.PathLike, path: str, callback: Progress | None = None) -> None:
        """Write a new file ``path`` (must not exist) with the bytes of ``local``."""
        raise NotImplementedError

    def sha256(self, path: str) -> str:
        raise NotImplementedError

    def link_or_copy(self, src: str, dst: str) -> None:
        """Make ``dst`` (must not exist) hold ``src``'s bytes: a hard link where possible, else a copy."""
        raise NotImplementedError

    def rename(self, src: str, dst: str) -> None:
        """Atomically replace ``dst`` with ``src`` (POSIX rename)."""
        raise NotImplementedError

    def remove(self, path: str) -> None:
        raise NotImplementedError

    def create_exclusive(self, path: str, data: bytes) -> None:
        """Create ``path`` holding ``data``; raise FileExistsError if it exists (the lock)."""
        raise NotImplementedError

    def read_bytes(self, path: str) -> bytes:
        raise NotImplementedError

    def append(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Run a shell command on the target; return (exit status, combined output)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalTarget(Target):
    """A directory on this machine that mirrors the server layout (the embedded default)."""

    kind = "local"

    def describe(self, path: str) -> str:
        return f"file://{socket.gethostname()}{Path(path).resolve()}"

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def put(self, local, path, callback=None) -> None:
        total = os.path.getsize(local)
        done = 0
        with open(local, "rb") as src, open(path, "xb") as dst:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                dst.write(chunk)
                done += len(chunk)
                if callback:
                    callback(done, total)
            dst.flush()
            os.fsync(dst.fileno())

    def sha256(self, path: str) -> str:
        return file_sha256(path)

    def link_or_copy(self, src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise
            shutil.copy2(src, dst)

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def remove(self, path: str) -> None:
        os.unlink(path)

    def create_exclusive(self, path: str, data: bytes) -> None:
        # written in full under a temp name, then linked: a kill never leaves an empty lock behind
        tmp = _exclusive_temp_name(path)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.link(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def read_bytes(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def append(self, path: str, data: bytes) -> None:
        with open(path, "ab") as fh:
            fh.write(data)

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        try:
            proc = subprocess.run(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=timeout, text=True, errors="replace")
        except subprocess.TimeoutExpired as exc:
            return 124, f"timed out after {timeout}s: {exc.output or ''}"
        return proc.returncode, proc.stdout


class _RejectUnknownHostKey(paramiko.MissingHostKeyPolicy):
    """paramiko's RejectPolicy, with the offered key's fingerprint in the error."""

    def __init__(self, known_hosts: str):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        raise HostKeyError(
            f"host key of {hostname} is not in {self.known_hosts}: the server offered {key.get_name()} "
            f"{fingerprint(key)}. Check that fingerprint with the server's administrator (on the server: "
            f"ssh-keygen -lf /etc/ssh/ssh_host_{_key_type(key)}_key.pub), then add the key to the known_hosts "
            f"file (e.g. ssh-keyscan -p PORT HOST >> {self.known_hosts}); nothing was deployed")


def _key_type(key: paramiko.PKey) -> str:
    return {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}.get(key.get_name(), "ecdsa")


class SshTarget(Target):
    """A server reached over SSH; files go through SFTP, hashes and smoke checks through exec."""

    kind = "ssh"

    def __init__(self, host: str, port: int = 22, user: str | None = None, key_file: str | None = None,
                 known_hosts: str = "~/.ssh/known_hosts", password_env: str | None = None,
                 passphrase_env: str | None = None, allow_agent: bool = True, connect_timeout_s: float = 10.0,
                 hash_method: str = "auto"):
        if not host or host == "???":
            raise DeployError("deploy.host is not set: give the server, e.g. deploy.host=pytorch-server")
        if hash_method not in ("auto", "sha256sum", "sftp"):
            raise DeployError(f"unknown deploy.hash_method {hash_method!r}; valid: ['auto', 'sha256sum', 'sftp']")
        self.host, self.port, self.user = host, int(port), user
        self.key_file = os.path.expanduser(key_file) if key_file else None
        self.known_hosts = os.path.expanduser(known_hosts)
        self.password_env, self.passphrase_env = password_env, passphrase_env
        self.allow_agent, self.timeout, self.hash_method = allow_agent, float(connect_timeout_s), hash_method
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # -- connection ------------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}:{self.port}"

    def describe(self, path: str) -> str:
        return f"ssh://{self.user + '@' if self.user else ''}{self.host}:{self.port}{path}"

    def connect(self) -> "SshTarget":
        if self._client is not None:
            return self
        if not os.path.isfile(self.known_hosts):
            raise HostKeyError(f"known_hosts file {self.known_hosts} does not exist; refusing to connect to "
                               f"{self.where} without a verified host key (set deploy.known_hosts)")
        if self.key_file and not os.path.isfile(self.key_file):
            raise ConnectError(f"key file {self.key_file} does not exist (deploy.key_file)")
        password = os.environ.get(self.password_env) if self.password_env else None
        passphrase = os.environ.get(self.passphrase_env) if self.passphrase_env else None
        client = paramiko.SSHClient()
        client.load_host_keys(self.known_hosts)  # only this file: no system keys, and never saved back
        client.set_missing_host_key_policy(_RejectUnknownHostKey(self.known_hosts))
        how = ", ".join(filter(None, [f"key {self.key_file}" if self.key_file else None,
                                      "agent" if self.allow_agent else None,
                                      f"password from ${self.password_env}" if password else None]))
        try:
            client.connect(self.host, self.port, username=self.user, key_filename=self.key_file,
                           password=password, passphrase=passphrase, look_for_keys=False,
                           allow_agent=self.allow_agent, timeout=self.timeout, banner_timeout=self.timeout,
                           auth_timeout=self.timeout, channel_timeout=self.timeout)
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"HOST KEY CHANGED for {self.host}:{self.port}: the server offered {exc.key.get_name()} "
                f"{fingerprint(exc.key)} but {self.known_hosts} has {exc.expected_key.get_name()} "
                f"{fingerprint(exc.expected_key)}. Someone may be intercepting the connection, or the server "
                f"was reinstalled; verify the new fingerprint out of band before editing known_hosts. "
                f"Nothing was deployed") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise ConnectError(f"authentication failed for {self.where} (tried: {how or 'nothing'}): "
                               f"{type(exc).__name__}") from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            raise ConnectError(f"cannot reach {self.host}:{self.port}: {type(exc).__name__}: {exc}") from None
        self._client = client
        try:
            self._sftp = client.open_sftp()
        except (OSError, paramiko.SSHException) as exc:
            self.close()
            raise ConnectError(f"{self.where}: SFTP subsystem unavailable: {exc}") from None
        return self

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self.connect()
        return self._sftp

    @property
    def transport(self) -> paramiko.Transport | None:
        return self._client.get_transport() if self._client else None

    def close(self) -> None:
        for obj in (self._sftp, self._client):
            try:
                if obj is not None:
                    obj.close()
            except Exception:  # closing a dead connection must not mask the real error
                pass
        self._sftp = self._client = None

    # -- filesystem ------------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        try:
            self.sftp.lstat(path)
            return True
        except FileNotFoundError:
            return False

    def makedirs(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        cur = "/" if path.startswith("/") else ""
        for part in parts:
            cur = f"{cur.rstrip('/')}/{part}" if cur else part
            try:
                self.sftp.stat(cur)
            except FileNotFoundError:
                self.sftp.mkdir(cur)

    def listdir(self, path: str) -> list[str]:
        return self.sftp.listdir(path)

    def put(self, local, path, callback=None) -> None:
        total = os.path.getsize(local)
        done = 0
        with open(local, "rb") as src, self.sftp.open(path, "wxb") as dst:
            dst.set_pipelined(True)
            for chunk in iter(lambda: src.read(CHUNK), b""):
                dst.write(chunk)
                done += len(chunk)
                if callback:
                    callback(done, total)
        size = self.sftp.stat(path).st_size
        if size != total:
            raise DeployError(f"uploading to {self.describe(path)} failed: the server kept {size} of {total} bytes "
                              f"(disk full, quota or file size limit?); the previous best_weight.pth was left in place")

    def sha256(self, path: str) -> str:
        """sha256 computed on the server (``sha256sum``), or by reading the file back over SFTP.

        ``auto`` reads small files back (one SFTP round trip beats starting a remote process)
        and runs ``sha256sum`` for large ones, falling back to reading back if that fails.
        """
        method = self.hash_method
        if method == "auto":
            method = "sha256sum" if self.sftp.stat(path).st_size > AUTO_EXEC_HASH_BYTES else "sftp"
        if method == "sha256sum":
            rc, out = self.run(f"sha256sum -- {shlex.quote(path)}", timeout=max(self.timeout, 120))
            m = re.match(r"\\?([0-9a-f]{64}) ", out)
            if rc == 0 and m:
                return m.group(1)
            if self.hash_method == "sha256sum":  # asked for explicitly: no silent fallback
                raise DeployError(f"sha256sum on {self.where} failed for {path} (exit {rc}): {out.strip()[:300]}")
        h = hashlib.sha256()  # fall back to reading the file back over SFTP
        with self.sftp.open(path, "rb") as fh:
            fh.prefetch()
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    def link_or_copy(self, src: str, dst: str) -> None:
        try:
            self.sftp._request(paramiko.sftp.CMD_EXTENDED, "hardlink@openssh.com", src, dst)
            return
        except OSError as exc:
            if isinstance(exc, (FileExistsError, FileNotFoundError, PermissionError)):
                raise
        # the server lacks the extension (or links are impossible there): copy the bytes
        with self.sftp.open(src, "rb") as fin, self.sftp.open(dst, "wxb") as fout:
            fin.prefetch()
            fout.set_pipelined(True)
            for chunk in iter(lambda: fin.read(1 << 20), b""):
                fout.write(chunk)

    def rename(self, src: str, dst: str) -> None:
        self.sftp.posix_rename(src, dst)

    def remove(self, path: str) -> None:
        self.sftp.remove(path)

    def create_exclusive(self, path: str, data: bytes) -> None:
        # written in full under a temp name, then renamed: SFTP v3 rename refuses an existing
        # destination, and a kill never leaves an empty lock behind
        tmp = _exclusive_temp_name(path)
        try:
            with self.sftp.open(tmp, "wb") as fh:
                fh.write(data)
            try:
                self.sftp.rename(tmp, path)
            except OSError as exc:
                # reported as a generic failure: tell "exists" apart
                if not isinstance(exc, FileExistsError) and exc.errno in (None, errno.EIO) and self.exists(path):
                    raise FileExistsError(errno.EEXIST, f"{path} exists") from None
                raise
        finally:
            try:
                self.sftp.remove(tmp)
            except OSError:
                pass

    def read_bytes(self, path: str) -> bytes:
        with self.sftp.open(path, "rb") as fh:
            return fh.read()

    def append(self, path: str, data: bytes) -> None:
        with self.sftp.open(path, "ab") as fh:
            fh.write(data)

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        if self._client is None:
            self.connect()
        chan = self._client.get_transport().open_session(timeout=self.timeout)
        try:
            chan.set_combine_stderr(True)
            chan.settimeout(timeout)
            chan.exec_command(command)
            out, deadline = bytearray(), time.monotonic() + timeout
            while True:
                try:
                    data = chan.recv(CHUNK)
                except socket.timeout:
                    return 124, out.decode(errors="replace") + f"\n(timed out after {timeout}s)"
                if not data:
                    break
                out += data
                if time.monotonic() > deadline:
                    return 124, out.decode(errors="replace") + f"\n(timed out after {timeout}s)"
            return chan.recv_exit_status(), out.decode(errors="replace")
        finally:
            chan.close()


def make_target(kind: str, settings: dict) -> Target:
    """Build a target from plain config values (``deploy.target`` and the ssh settings)."""
    if kind == "local":
        return LocalTarget()
    if kind == "ssh":
        keys = ("host", "port", "user", "key_file", "known_hosts", "password_env", "passphrase_env",
                "allow_agent", "connect_timeout_s", "hash_method")
        return SshTarget(**{k: settings[k] for k in keys if k in settings})
    raise DeployError(f"unknown deploy target {kind!r}; valid: ['local', 'ssh']")
