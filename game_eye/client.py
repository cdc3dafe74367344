"""The bot's way to GameEye on the pytorch server: one SSH connection, HTTP through it.

    from game_eye.client import GameEyeClient

    with GameEyeClient("pytorch-server", user="a", key_file="~/.ssh/id_ed25519") as eye:
        entry = eye.detect(png_bytes)     # or a path, or a PIL image: the CLI's JSON entry
        tap = next((d["box"] for d in entry["detections"] if d["label"] == "close"), None)
        eye.outcome(closed=True)          # after the tap, to a `serve --record` server: the cheapest label
        old = eye.detect_pickle("shot.png")   # the old DetectionResultContainer, for existing GAA code

    python -m game_eye.client --host pytorch-server [--port 22] [--user a] [--key-file K] \\
        [--known-hosts ~/.ssh/known_hosts] [--serve-port 8765] [--json OUT] shot.png ...

How it gets there:
  * paramiko (imported on the first connect; nothing else here beyond the standard library) opens
    one SSH connection and checks the server's host key against ``known_hosts`` only: an unknown or
    changed key is refused with its SHA256 fingerprint, never added.
  * Requests go through an SSH ``direct-tcpip`` channel to ``127.0.0.1:<serve_port>`` on the
    server, so ``game_eye serve`` never listens beyond the server's loopback and the SSH login is
    the only authentication. The channel stays open between requests (HTTP/1.1 keep-alive).
  * When nothing answers on that port, the client starts ``server_command`` there, detached (its
    output in ``server_log``), and waits for ``/health``. A port that answers but is not GameEye is
    an error, not a server to start.
  * A dropped connection or a dead server is reconnected (restarting the server when it is gone)
    and the request sent again, up to three times with short pauses; a request that times out is
    not resent.
  * Every answer names the weights that made it (``X-GameEye-Weights``); the client logs when they
    change (a deploy) and keeps the last in ``weights``; ``health()`` gives their versions.

Errors are :class:`GameEyeClientError`, whose message names the host and the ``stage``:
``connect``, ``host key``, ``auth``, ``server start``, ``request``. An image the server cannot
decode is not an error: its entry carries ``error``, as the CLI's does, and the client stays usable.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import json
import logging
import os
import shlex
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional, Union

log = logging.getLogger(__name__)

DEFAULT_SERVE_PORT = 8765
DEFAULT_SERVER_COMMAND = ("cd /home/a && exec python3 -m game_eye serve --ssd-weights "
                          "/home/a/pytorch_ssd/weights/best_weight.pth --resnet-weights "
                          "/home/a/resset/weights/best_weight.pth --port {port}")
DEFAULT_SERVER_LOG = "/tmp/game_eye_serve.log"
WEIGHTS_HEADER = "X-GameEye-Weights"  # as game_eye.serve sends them (not imported: the client needs no models)
FRAME_HEADER = "X-GameEye-Frame"
STAGES = ("connect", "host key", "auth", "server start", "request")
# Pauses before each resend of a request whose connection was lost. More than one resend: a killed
# server's listening socket can outlive its main thread for a moment (its other threads still
# exiting), so the first reconnect may reach a dying server.
RETRY_PAUSES_S = (0.1, 0.4, 1.0)

ImageInput = Union[bytes, bytearray, memoryview, str, os.PathLike, Any]


class GameEyeClientError(RuntimeError):
    """A detection that could not be had; ``stage`` is where it failed and the message names the host."""

    def __init__(self, host: str, stage: str, message: str):
        super().__init__(f"GameEye on {host}: {stage}: {message}")
        self.host, self.stage = host, stage


def fingerprint(key) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a paramiko public key."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


class _QuietRefusedProbe(logging.Filter):
    """paramiko logs an ERROR for every refused channel; refused is how the client learns that no
    server runs yet (it then starts one), so those records are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Connect failed" not in record.getMessage()


class _HttpOverChannel(http.client.HTTPConnection):
    """http.client on an already open SSH channel (paramiko's Channel has sendall/makefile/close)."""

    def __init__(self, channel, timeout: float):
        super().__init__("127.0.0.1", timeout=timeout)
        channel.settimeout(timeout)
        self.sock = channel

    def connect(self):  # the channel is the connection: once it is closed, the client opens another
        raise ConnectionError("SSH channel closed")


class GameEyeClient:
    """One SSH connection to the pytorch server and a GameEye request channel inside it.

    ``host``/``port``/``user``/``key_file``/``known_hosts``: the SSH login (``key_file`` None: the
    agent, when ``allow_agent``). ``serve_port``: where ``game_eye serve`` listens on the server's
    127.0.0.1. ``server_command``: how to start it there when it is not running (``{port}`` is
    filled in; None: never start one). Timeouts in seconds: ``connect_timeout`` (TCP, banner,
    auth, channel open), ``request_timeout`` (one answer), ``start_timeout`` (the first start
    exports the weights to ONNX: allow a minute). Thread-safe: requests of one client go one at a
    time; use one client per thread for parallel requests.
    """

    def __init__(self, host: str, user: Optional[str] = None, key_file: Optional[str] = None,
                 known_hosts: str = "~/.ssh/known_hosts", port: int = 22, serve_port: int = DEFAULT_SERVE_PORT,
                 server_command: Optional[str] = DEFAULT_SERVER_COMMAND, server_log: str = DEFAULT_SERVER_LOG,
                 allow_agent: bool = True, connect_timeout: float = 10.0, request_timeout: float = 30.0,
                 start_timeout: float = 120.0):
        self.host, self.port, self.user = host, int(port), user
        self.key_file = os.path.expanduser(key_file) if key_file else None
        self.known_hosts = os.path.expanduser(known_hosts)
        self.serve_port = int(serve_port)
        self.server_command, self.server_log = server_command, server_log
        self.allow_agent = allow_agent
        self.connect_timeout, self.request_timeout = float(connect_timeout), float(request_timeout)
        self.start_timeout = float(start_timeout)
        self.weights: Optional[str] = None
        self.last_frame: Optional[str] = None  # the frame id serve --record kept of the last detect
        self._ssh = None
        self._http: Optional[_HttpOverChannel] = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}:{self.port}"

    def _error(self, stage: str, message: str) -> GameEyeClientError:
        return GameEyeClientError(self.where, stage, message)

    # ------------------------------------------------------------------ SSH
    def _connect_ssh(self):
        import paramiko

        if not os.path.isfile(self.known_hosts):
            raise self._error("host key", f"known_hosts file {self.known_hosts} does not exist; refusing to "
                                          "connect without a verified host key")
        if self.key_file and not os.path.isfile(self.key_file):
            raise self._error("auth", f"key file {self.key_file} does not exist")
        client = paramiko.SSHClient()
        client.load_host_keys(self.known_hosts)  # only this file, never saved back
        client.set_missing_host_key_policy(_RejectNamingTheKey())
        try:
            client.connect(self.host, self.port, username=self.user, key_filename=self.key_file,
                           look_for_keys=False, allow_agent=self.allow_agent, timeout=self.connect_timeout,
                           banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout,
                           channel_timeout=self.connect_timeout)
        except _UnknownHostKey as exc:
            client.close()
            hint = f"ssh-keyscan -p {self.port} {self.host} >> {self.known_hosts}"
            raise self._error("host key", f"unknown host key {exc.key.get_name()} {fingerprint(exc.key)}: not in "
                                          f"{self.known_hosts}; verify the fingerprint out of band, then add it "
                                          f"(e.g. {hint})") from None
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise self._error("host key", f"HOST KEY CHANGED: the server offered {exc.key.get_name()} "
                                          f"{fingerprint(exc.key)} but {self.known_hosts} has "
                                          f"{fingerprint(exc.expected_key)}; verify it out of band") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            tried = ", ".join(filter(None, [self.key_file and f"key {self.key_file}",
                                            self.allow_agent and "agent"])) or "nothing"
            raise self._error("auth", f"authentication failed (tried: {tried}): {type(exc).__name__}") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            client.close()
            raise self._error("connect", f"cannot reach it: {type(exc).__name__}: {exc}") from None
        sock = getattr(client.get_transport(), "sock", None)
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            # small requests and their last SSH packet must not wait for a delayed ACK (Nagle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._ssh = client
        return client

    def _transport(self):
        transport = self._ssh.get_transport() if self._ssh is not None else None
        if transport is None or not transport.is_active():
            self._drop_ssh()
            transport = self._connect_ssh().get_transport()
        return transport

    def _drop_ssh(self) -> None:
        self._drop_http()
        if self._ssh is not None:
            self._ssh.close()
        self._ssh = None

    def _drop_http(self) -> None:
        if self._http is not None:
            try:
                self._http.sock.close()
            except Exception:
                pass
        self._http = None

    # ------------------------------------------------------------------ the GameEye channel
    def _open_channel(self):
        """A direct-tcpip channel to the server's 127.0.0.1:serve_port, or None when nothing listens."""
        import paramiko

        transport_log = logging.getLogger("paramiko.transport")
        if not any(isinstance(f, _QuietRefusedProbe) for f in transport_log.filters):
            transport_log.addFilter(_QuietRefusedProbe())

        try:
            return self._transport().open_channel("direct-tcpip", ("127.0.0.1", self.serve_port),
                                                  ("127.0.0.1", 0), timeout=self.connect_timeout)
        except paramiko.ChannelException as exc:
            if exc.code == paramiko.common.OPEN_FAILED_CONNECT_FAILED:
                return None
            raise self._error("connect", f"the server refused a channel to 127.0.0.1:{self.serve_port} "
                                         f"({exc.text}; is AllowTcpForwarding off?)") from None

    def _http_connection(self) -> _HttpOverChannel:
        if self._http is not None and not self._http.sock.closed:
            return self._http
        self._drop_http()
        channel = self._open_channel()
        if channel is None:
            channel = self._start_server()
        self._http = _HttpOverChannel(channel, self.request_timeout)
        status, _, doc = self._exchange("GET", "/health")
        if status != 200 or not isinstance(doc, dict) or doc.get("status") != "ok" or "ssd" not in doc:
            self._drop_http()
            raise self._error("server start", f"127.0.0.1:{self.serve_port} answers, but not as GameEye "
                                              f"(GET /health: {status}); choose another serve_port")
        self._note_weights(doc.get("weights"))
        log.info("GameEye on %s: pid %s, ssd %s v%s, resnet %s v%s", self.where, doc.get("pid"),
                 (doc.get("ssd") or {}).get("sha256", "")[:12], (doc.get("ssd") or {}).get("version"),
                 (doc.get("resnet") or {}).get("sha256", "")[:12], (doc.get("resnet") or {}).get("version"))
        return self._http

    def _start_server(self):
        if not self.server_command:
            raise self._error("server start", f"nothing listens on 127.0.0.1:{self.serve_port} and "
                                              "server_command is None")
        command = self.server_command.format(port=self.serve_port)
        log_file = shlex.quote(self.server_log)
        launch = f"nohup sh -c {shlex.quote(command)} > {log_file} 2>&1 < /dev/null & echo $!"
        log.info("starting GameEye on %s: %s", self.where, command)
        pid = self._run(launch).strip()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            time.sleep(0.2)
            channel = self._open_channel()
            if channel is not None:
                return channel
            if pid and self._run(f"kill -0 {shlex.quote(pid)} 2>/dev/null && echo alive").strip() != "alive":
                channel = self._open_channel()  # another client may have won the port
                if channel is not None:
                    return channel
                tail = self._run(f"tail -c 1500 {log_file}").strip()
                raise self._error("server start", f"`{command}` exited before listening; {self.server_log}: "
                                                  f"{tail or '(empty)'}")
        raise self._error("server start", f"`{command}` not listening on 127.0.0.1:{self.serve_port} after "
                                          f"{self.start_timeout:.0f} s; see {self.server_log} on the server")

    def _run(self, command: str) -> str:
        """A shell command on the server; its stdout."""
        try:
            _, out, _ = self._ssh.exec_command(command, timeout=self.connect_timeout)
            return out.read().decode(errors="replace")
        except Exception as exc:
            raise self._error("server start", f"cannot run a command: {type(exc).__name__}: {exc}") from None

    def _exchange(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict, Any]:
        conn = self._http
        conn.request(method, path, body=body, headers={"Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.will_close:
            self._drop_http()
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        return resp.status, dict(resp.getheaders()), doc

    def _note_weights(self, weights: Optional[str]) -> None:
        if weights and weights != self.weights:
            if self.weights is not None:
                log.info("GameEye on %s now answers with weights %s (was %s)", self.where, weights, self.weights)
            self.weights = weights

    def _call(self, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
        """One request; a dropped connection or dead server is reconnected and the request sent again,
        up to ``len(RETRY_PAUSES_S)`` more times, after a short pause each."""
        import paramiko

        with self._lock:
            for attempt in range(len(RETRY_PAUSES_S) + 1):
                try:
                    self._http_connection()
                    status, headers, doc = self._exchange(method, path, body)
                except GameEyeClientError:
                    raise
                except (socket.timeout, TimeoutError):
                    self._drop_http()
                    raise self._error("request", f"no answer within {self.request_timeout:.0f} s") from None
                except (OSError, EOFError, http.client.HTTPException, paramiko.SSHException) as exc:
                    # A failed transport (EOFError, SSHException) goes with its SSH connection: paramiko
                    # notices a dead socket on its reader thread, so is_active() can still say True just
                    # after the loss. A transport already inactive is replaced by _transport() anyway.
                    if isinstance(exc, (EOFError, paramiko.SSHException)):
                        self._drop_ssh()
                    else:
                        self._drop_http()
                    if attempt == len(RETRY_PAUSES_S):
                        raise self._error("request", f"connection lost {attempt + 1} times: "
                                                     f"{type(exc).__name__}: {exc}") from None
                    log.info("GameEye on %s: connection lost (%s); reconnecting", self.where, type(exc).__name__)
                    time.sleep(RETRY_PAUSES_S[attempt])
                    continue
                self._note_weights(headers.get(WEIGHTS_HEADER))
                if path.startswith("/detect"):
                    self.last_frame = headers.get(FRAME_HEADER)
                return status, doc
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ public
    def detect(self, image: ImageInput, name: Optional[str] = None, regions: Optional[str] = None) -> dict[str, Any]:
        """The CLI's JSON entry for one screenshot: ``{"image", "width", "height", "elapsed_ms",
        "detections": [{"label", "score", "box"}]}``, best first; ``{"image", "error"}`` when the
        server cannot decode it. ``image``: PNG/JPEG bytes, a path, or a PIL image."""
        data, default_name = _encoded(image)
        query = f"?name={_quote(name or default_name)}" + (f"&regions={_quote(regions)}" if regions else "")
        status, doc = self._call("POST", "/detect" + query, data)
        if status == 200 or (status == 400 and isinstance(doc, dict) and "error" in doc and "image" in doc):
            return doc
        raise self._error("request", f"POST /detect answered {status}: {(doc or {}).get('error', doc)}")

    def outcome(self, closed: bool, frame: Optional[str] = None, **extra: Any) -> bool:
        """Tell a recording server what the tap did (``closed``: the ad went away), for the frame of
        the last ``detect`` unless ``frame`` is given. False when the server did not keep that frame
        (recording off, the frame not kept or already evicted)."""
        frame = frame or self.last_frame
        if frame is None:
            return False
        body = json.dumps({"closed": bool(closed), **extra}).encode()
        status, doc = self._call("POST", f"/outcome?frame={_quote(frame)}", body)
        if status == 200:
            return True
        if status in (404, 409):
            return False
        raise self._error("request", f"POST /outcome answered {status}: {(doc or {}).get('error', doc)}")

    def detect_pickle(self, image: ImageInput, name: Optional[str] = None):
        """``detect`` as the old ``DetectionResultContainer`` (``game_eye.detection_result``)."""
        from .detection_result import DetectionResultContainer

        return DetectionResultContainer.from_dict(self.detect(image, name))

    def health(self) -> dict[str, Any]:
        """The server's ``/health``: pid, weights' paths, versions and sha256, reloads."""
        status, doc = self._call("GET", "/health")
        if status != 200:
            raise self._error("request", f"GET /health answered {status}")
        return doc

    def close(self) -> None:
        with self._lock:
            self._drop_ssh()

    def __enter__(self) -> "GameEyeClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _UnknownHostKey(Exception):
    def __init__(self, key):
        super().__init__("unknown host key")
        self.key = key


class _RejectNamingTheKey:
    """paramiko's RejectPolicy, keeping the offered key so that the refusal can name its fingerprint."""

    def missing_host_key(self, client, hostname, key):
        raise _UnknownHostKey(key)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _encoded(image: ImageInput) -> tuple[bytes, str]:
    """The bytes to send and the name to report for bytes, a path, or a PIL image."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image), "<bytes>"
    if isinstance(image, (str, os.PathLike)):
        return Path(image).read_bytes(), str(image)
    if hasattr(image, "save") and hasattr(image, "size"):  # a PIL image: a fast PNG, lossless
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), "<image>"
    raise TypeError(f"detect() takes PNG/JPEG bytes, a path or a PIL image, not {type(image).__name__}")


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m game_eye.client --host H shot.png ...``: the CLI's JSON for each image, via the client."""
    p = argparse.ArgumentParser(prog="python -m game_eye.client",
                                description="Ask GameEye on the pytorch server, through SSH, for close buttons.")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=22, help="SSH port")
    p.add_argument("--user", default=None)
    p.add_argument("--key-file", default=None, help="private key (default: the SSH agent)")
    p.add_argument("--known-hosts", default="~/.ssh/known_hosts", help="the only host keys trusted")
    p.add_argument("--serve-port", type=int, default=DEFAULT_SERVE_PORT, help="game_eye serve's port on the server")
    p.add_argument("--server-command", default=DEFAULT_SERVER_COMMAND,
                   help="how to start game_eye serve on the server when it is not running ({port} is filled in)")
    p.add_argument("--no-start", action="store_true", help="never start a server; fail when none runs")
    p.add_argument("--json", default=None, metavar="OUT", help="output file ('-' or absent: stdout)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    args = p.parse_args(argv)
    client = GameEyeClient(args.host, user=args.user, key_file=args.key_file, known_hosts=args.known_hosts,
                           port=args.port, serve_port=args.serve_port,
                           server_command=None if args.no_start else args.server_command)
    entries = []
    try:
        with client:
            for path in args.images:
                try:
                    data = Path(path).read_bytes()
                except OSError as exc:
                    entries.append({"image": path, "error": f"{type(exc).__name__}: {exc.strerror}"})
                    continue
                entries.append(client.detect(data, name=path))
    except GameEyeClientError as exc:
        print(f"game_eye.client: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps({"images": entries}) + "\n"
    if args.json in (None, "-"):
        sys.stdout.write(text)
    else:
        from .atomic import atomic_write_bytes

        atomic_write_bytes(Path(args.json), text.encode())
    return 1 if any("error" in e for e in entries) else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    sys.exit(main())
