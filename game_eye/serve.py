"""GameEye as a persistent local server: both models stay loaded; POST /detect over HTTP/1.1.

    python -m game_eye serve --ssd-weights ssd.pth --resnet-weights resnet.pth \\
        [--host 127.0.0.1] [--port 8765] [--regions full|top_corners] [--path-root /tmp/shots] \\
        [--watch-s 1.0] [--record DIR [--record-when all|uncertain|tapped] [--record-max-mb 1024]]

    curl -s --data-binary @shot.png http://127.0.0.1:8765/detect         # image bytes as the body
    curl -s -X POST 'http://127.0.0.1:8765/detect?path=shot.png'          # a file scp'd to --path-root
    curl -s http://127.0.0.1:8765/health                                  # models, versions, sha256, pid
    curl -s -X POST http://127.0.0.1:8765/reload                          # load the weight files again now
    curl -s -X POST -d '{"closed": false}' 'http://127.0.0.1:8765/outcome?frame=ID'   # after a tap (--record)

``POST /detect`` answers the CLI's JSON entry for one image (200), or ``{"image", "error"}`` with
status 400 when the image cannot be decoded or the request is bad (413: too large, 408: the body
did not arrive in time). Optional query parameters: ``name`` (echoed as ``image``), ``regions``
(``full`` or ``top_corners``), ``path``: a regular file under ``--path-root`` (relative to it, or
absolute); without ``--path-root`` the server refuses ``?path=``. Every answer carries the header
``X-GameEye-Weights: <ssd sha256[:12]>.<resnet sha256[:12]>`` of the weights that made it.

* Requests are read before they wait for the models, so a slow or broken client holds up no one;
  then they wait in arrival order (:class:`FifoLock`): a client that sends back to back cannot
  starve another.
* The weight files are watched (``--watch-s``, default every second; 0: never): when a deploy
  renames a new file into place and it stays put for one more look, a new GameEye loads in the
  background while the old one keeps answering, and the next request is answered by the new one.
  No request is dropped; a file that fails to load keeps the old models and shows
  ``reload_error`` in ``/health``. ``POST /reload`` does the same at once and answers ``/health``.
* ``--record DIR`` keeps frames for labelling (``game_eye.record``: the bytes as received and a
  sidecar with the answer and every verified proposal), written on a background thread after the
  answer is sent; a kept frame's id comes back as ``X-GameEye-Frame``, and ``POST /outcome?frame=ID``
  with a JSON object (``{"closed": true}``: did the ad close after the tap?) stores it in the sidecar.

The server prints ``serving on http://HOST:PORT`` once ready (``--port 0`` picks a free port). It
listens on 127.0.0.1 only by default: there is no authentication of its own. To reach it from
another machine use ``game_eye.client``, which tunnels through the SSH login.
"""
from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from .cli_args import REGION_CHOICES, add_model_args, add_record_args, build_engine, load_or_exit, recorder_or_exit

MAX_BODY = 64 << 20
READ_TIMEOUT_S = 30  # per socket read: a client that stops sending is dropped, idle keep-alives too
WEIGHTS_HEADER = "X-GameEye-Weights"
FRAME_HEADER = "X-GameEye-Frame"   # the recorded frame's id, when --record kept this request


class RequestError(Exception):
    """A /detect request that cannot be answered with detections; ``status`` is its HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def content_length(header: Optional[str]) -> int:
    """The request body's size from its Content-Length header; RequestError when it is not one."""
    if header is None or header.strip() == "":
        return 0
    try:
        length = int(header.strip())
    except ValueError:
        raise RequestError(f"Content-Length {header!r} is not a number of bytes") from None
    if length < 0:
        raise RequestError(f"Content-Length {length} is negative")
    if length > MAX_BODY:
        raise RequestError(f"body of {length} bytes is larger than {MAX_BODY}", status=413)
    return length


def read_upload(path_text: str, root: Optional[Path]) -> bytes:
    """The bytes of ``?path=``: a regular file under ``root`` (the folder given as --path-root)."""
    if root is None:
        raise RequestError("?path= is disabled: start serve with --path-root DIR (the folder screenshots "
                           "are copied to), or send the image as the body")
    candidate = Path(path_text)
    real = Path(os.path.realpath(candidate if candidate.is_absolute() else root / candidate))
    if real != root and root not in real.parents:
        raise RequestError(f"{path_text}: not under --path-root {root}")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise RequestError(f"{path_text}: no such file under --path-root {root}") from None
    except OSError as exc:
        raise RequestError(f"{path_text}: cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RequestError(f"{path_text}: not a regular file")
        if info.st_size > MAX_BODY:
            raise RequestError(f"{path_text}: {info.st_size} bytes is larger than {MAX_BODY}", status=413)
        return fh.read(MAX_BODY + 1)


class FifoLock:
    """A lock granted in arrival order. ``threading.Lock`` promises no order: a thread that releases
    and re-acquires at once can win again and again while another waits."""

    def __init__(self):
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> "FifoLock":
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._cond.wait_for(lambda: self._serving == ticket)
        return self

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


def weights_id(info: dict[str, Any]) -> str:
    """``<ssd sha256[:12]>.<resnet sha256[:12]>``: what the X-GameEye-Weights header carries."""
    return ".".join((info.get(k) or {}).get("sha256", "none")[:12] for k in ("ssd", "resnet"))


def _file_signature(paths: tuple[str, ...]) -> tuple:
    """(inode, size, mtime) per file: a deploy's atomic rename changes the inode."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


class Engines:
    """The GameEye that answers now, and its replacement once the weight files change.

    ``current()`` is what a request uses: it grabs the engine once, so a swap in the middle of a
    request never mixes two pairs. ``reload()`` builds the new engine outside any request's way and
    swaps it in; a failure leaves the old one answering."""

    def __init__(self, eye: Any, factory: Callable[[], Any], paths: tuple[str, ...], signature: tuple):
        """``eye``: the engine loaded from ``paths`` when they had ``signature`` (taken before the load,
        so a file replaced during it is seen as changed)."""
        self._factory = factory
        self._paths = paths
        self._reload_lock = threading.Lock()
        self._signature = signature
        self._current = (eye, eye.info())
        self.reloads = 0
        self.reload_error: Optional[str] = None

    def current(self) -> tuple[Any, dict[str, Any]]:
        return self._current

    def reload(self) -> dict[str, Any]:
        """Load the weight files again and answer with the new info; raises when they do not load."""
        with self._reload_lock:
            signature = _file_signature(self._paths)
            try:
                eye = self._factory()
            except Exception as exc:
                self.reload_error = f"{type(exc).__name__}: {exc}"
                self._signature = signature  # not again until the files change once more
                raise
            self._current = (eye, eye.info())
            self._signature = signature
            self.reloads += 1
            self.reload_error = None
            return self._current[1]

    def watch(self, interval_s: float, stop: threading.Event) -> None:
        """Reload when the files' signature changed and held for one more look (a deploy puts the
        two files in place one after the other)."""
        pending = None
        while not stop.wait(interval_s):
            seen = _file_signature(self._paths)
            if seen == self._signature:
                pending = None
            elif seen == pending:
                try:
                    self.reload()
                    print(f"reloaded weights {weights_id(self._current[1])}", file=sys.stderr, flush=True)
                except Exception:
                    print(f"reload failed, old weights kept: {self.reload_error}", file=sys.stderr, flush=True)
                pending = None
            else:
                pending = seen

    def health(self) -> dict[str, Any]:
        info = self._current[1]
        return {"status": "ok", "pid": os.getpid(), "weights": weights_id(info), **info,
                "reloads": self.reloads, "reload_error": self.reload_error}


def _health_with(engines: Engines, recorder) -> dict[str, Any]:
    return {**engines.health(), "record": recorder.stats() if recorder is not None else None}


def make_handler(engines: Engines, path_root: Optional[Path], recorder=None):
    from http.server import BaseHTTPRequestHandler
    from urllib.parse import parse_qs, urlparse

    models_lock = FifoLock()  # one inference at a time (the cores are the bottleneck), in arrival order

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = READ_TIMEOUT_S
        # TCP_NODELAY: the headers and the body are two writes; with Nagle's algorithm the body would
        # wait for the peer's delayed ACK (about 40 ms on Linux) on every keep-alive answer.
        disable_nagle_algorithm = True

        def _send(self, status: int, doc, info: Optional[dict] = None, frame: Optional[str] = None) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header(WEIGHTS_HEADER, weights_id(info or engines.current()[1]))
            if frame:
                self.send_header(FRAME_HEADER, frame)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *a):  # quiet by default; errors still go to stderr
            pass

        def do_GET(self):
            if urlparse(self.path).path == "/health":
                self._send(200, _health_with(engines, recorder))
            else:
                self._send(404, {"error": "not found; use POST /detect, POST /reload or GET /health"})

        def _read_body(self) -> bytes:
            length = content_length(self.headers.get("Content-Length"))
            try:
                data = self.rfile.read(length) if length else b""
            except TimeoutError:
                raise RequestError(f"request body not received within {READ_TIMEOUT_S} s", status=408) from None
            if len(data) < length:
                raise RequestError(f"body ended after {len(data)} of its {length} bytes")
            return data

        def do_POST(self):
            url = urlparse(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            name = q.get("name", q.get("path", "<body>"))
            try:
                body = self._read_body()  # first, whatever the answer: an unread body would be the next request
            except RequestError as exc:
                self.close_connection = True
                self._send(exc.status, {"image": name, "error": str(exc)})
                return
            if url.path == "/outcome":
                self._outcome(q.get("frame"), body)
                return
            if url.path == "/reload":
                try:
                    engines.reload()
                except Exception:
                    self._send(500, {"error": f"reload failed, old weights kept: {engines.reload_error}"})
                    return
                self._send(200, _health_with(engines, recorder))
                return
            if url.path != "/detect":
                self._send(404, {"error": "not found; use POST /detect, POST /reload, POST /outcome or GET /health"})
                return
            regions = q.get("regions")
            if regions is not None and regions not in REGION_CHOICES:
                self._send(400, {"image": name, "error": f"unknown regions {regions!r}; valid: {list(REGION_CHOICES)}"})
                return
            try:
                if body:
                    data = body
                elif "path" in q:
                    data = read_upload(q["path"], path_root)
                else:
                    raise RequestError("empty body and no ?path=")
            except RequestError as exc:
                self._send(exc.status, {"image": name, "error": str(exc)})
                return
            candidates = [] if recorder is not None else None
            with models_lock:  # only decoding and inference wait for the models
                eye, info = engines.current()
                entry = eye.detect_bytes(data, name=name, regions=regions, candidates=candidates)
            frame = recorder.offer(data, entry, candidates, info) if recorder is not None else None
            self._send(400 if "error" in entry else 200, entry, info, frame)

        def _outcome(self, frame: Optional[str], body: bytes) -> None:
            """POST /outcome?frame=ID with a JSON object (e.g. {"closed": false}): kept in the frame's sidecar."""
            if recorder is None:
                self._send(409, {"error": "recording is off: start serve with --record DIR"})
                return
            try:
                outcome = json.loads(body or b"null")
            except ValueError:
                outcome = None
            if not frame or not isinstance(outcome, dict):
                self._send(400, {"error": "POST /outcome?frame=ID with a JSON object body, e.g. {\"closed\": true}"})
            elif recorder.set_outcome(frame, outcome):
                self._send(200, {"frame": frame, "outcome": outcome})
            else:
                self._send(404, {"error": f"frame {frame!r} is not recorded here (not kept, or evicted)"})

    return Handler


LISTEN_BACKLOG = 128


def main(argv: list[str]) -> int:
    """``python -m game_eye serve ...`` (see the module docstring); returns the exit code."""
    from http.server import ThreadingHTTPServer

    p = argparse.ArgumentParser(prog="python -m game_eye serve",
                                description="Keep both models loaded and answer POST /detect over HTTP.")
    add_model_args(p)
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--path-root", default=None, metavar="DIR",
                   help="the folder that POST /detect?path=FILE may read regular files from "
                        "(default: ?path= is refused; send the image as the body)")
    p.add_argument("--watch-s", type=float, default=1.0, metavar="S",
                   help="look at the weight files every S seconds and reload them when a deploy replaced "
                        "them (default 1; 0: never, POST /reload still works)")
    add_record_args(p)
    args = p.parse_args(argv)
    path_root = None
    if args.path_root is not None:
        path_root = Path(os.path.realpath(args.path_root))
        if not path_root.is_dir():
            print(f"game_eye: error: --path-root {args.path_root}: not a folder", file=sys.stderr)
            return 2
    recorder = recorder_or_exit(args)  # before the models: a bad --record folder costs no load
    paths = (args.ssd_weights, args.resnet_weights)
    signature = _file_signature(paths)
    first = load_or_exit(args)  # a bad file at start is exit 2 with one line; later ones keep the old models
    engines = Engines(first, lambda: build_engine(args), paths, signature)
    # socketserver's listen backlog is 5: a burst of bots connecting while both cores are busy would
    # overflow it and get connections reset; they queue on FifoLock instead.
    server_class = type("GameEyeHTTPServer", (ThreadingHTTPServer,), {"request_queue_size": LISTEN_BACKLOG})
    server = server_class((args.host, args.port), make_handler(engines, path_root, recorder))
    server.daemon_threads = True
    stop = threading.Event()
    if args.watch_s > 0:
        threading.Thread(target=engines.watch, args=(args.watch_s, stop), daemon=True, name="weights-watch").start()
    host, port = server.server_address[:2]
    print(f"serving on http://{host}:{port} (models loaded in {first.load_ms:.0f} ms)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        if recorder is not None:
            recorder.close()
    return 0
