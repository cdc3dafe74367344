"""GameEye: find the ad's close button on phone screenshots.

One shot (a process per batch of screenshots)::

    python -m game_eye --ssd-weights ssd.pth --resnet-weights resnet.pth \\
        [--json OUT.json] [--pickle-dir DIR] [--regions full|top_corners] \\
        [--backend auto|onnx|eager] [--top-k K] [--labels close,watch_ad] shot1.png shot2.jpg ...

writes ``{"images": [{"image", "width", "height", "elapsed_ms",
"detections": [{"label", "score", "box": [x1, y1, x2, y2]}]}]}`` to OUT (atomically) or to stdout
when OUT is ``-`` or absent. Detections are sorted by score, highest first; boxes are in pixels of
the original screenshot; each detection's ``label`` is its class from the weight files (``close``,
and e.g. ``watch_ad`` with a three-class pair): the bot taps the first ``close`` on an ad and the
first ``watch_ad`` on a game screen (``--labels close`` reports close alone). An image that cannot be read gets
``{"image", "error"}`` and the exit code is 1; a bad weight file exits 2 with one line naming it.
``--pickle-dir`` also writes ``<image stem>.pickle`` (a ``DetectionResultContainer``) per image.
``--backend`` (default ``auto``: ONNX Runtime when installed, else eager PyTorch): the first run
with a new weight file exports it to ONNX (a few seconds, needs torch) and caches the graph next to
the file (or in ``~/.cache/game_eye`` when that folder is read-only); later runs import no torch.

Persistent server (both models stay loaded; no per-screenshot process start)::

    python -m game_eye serve --ssd-weights ssd.pth --resnet-weights resnet.pth \\
        [--host 127.0.0.1] [--port 8765] [--regions full|top_corners] [--path-root /tmp/shots]

    curl -s --data-binary @shot.png http://127.0.0.1:8765/detect         # image bytes as the body
    curl -s -X POST 'http://127.0.0.1:8765/detect?path=shot.png'          # a file scp'd to --path-root
    curl -s http://127.0.0.1:8765/health                                  # models, versions, sha256

``POST /detect`` answers the same JSON entry as one element of ``images`` above (200), or
``{"image", "error"}`` with status 400 when the image cannot be decoded or the request is bad
(413: too large, 408: the body did not arrive in time). Optional query parameters: ``name``
(echoed as ``image``), ``regions`` (``full`` or ``top_corners``), ``path``: a regular file under
``--path-root`` (relative to it, or absolute); without ``--path-root`` the server refuses ``?path=``.
Requests are read before they wait for the models, so a slow or broken client holds up no one.
The server prints ``serving on http://HOST:PORT`` once ready (``--port 0`` picks a free port).
It listens on 127.0.0.1 only by default: there is no authentication.

Exit codes: 0 all images answered, 1 some image unreadable, 2 bad weights or arguments (one line
on stderr naming the file or option, before any model is loaded).
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import stat
import sys
from pathlib import Path
from typing import Optional

from .atomic import atomic_write_bytes

REGION_CHOICES = ("full", "top_corners")
MAX_BODY = 64 << 20
READ_TIMEOUT_S = 30  # per socket read: a client that stops sending is dropped, idle keep-alives too


class RequestError(Exception):
    """A /detect request that cannot be answered with detections; ``status`` is its HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _unwritable_dir(folder: Path) -> Optional[str]:
    """Why ``folder`` cannot hold output files (None when it is, or can be made, a writable folder)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def _output_path_problem(args) -> Optional[str]:
    """Checked before the models load, so that a bad output path never costs the detections."""
    if args.json not in (None, "-"):
        out = Path(args.json)
        if out.is_dir() or not out.name:
            return f"--json {args.json}: is a folder; give the JSON file's path"
        why = _unwritable_dir(out.parent)
        if why:
            return f"--json {args.json}: {why}"
    if args.pickle_dir:
        why = _unwritable_dir(Path(args.pickle_dir))
        if why:
            return f"--pickle-dir {args.pickle_dir}: {why}"
    return None


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


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ssd-weights", required=True, help="detector weight file (gaa-weights/1)")
    p.add_argument("--resnet-weights", required=True, help="verifier weight file (gaa-weights/1)")
    p.add_argument("--regions", default="full", choices=REGION_CHOICES,
                   help="where to look: the whole screen (default) or the top-left/top-right 400x400 areas")
    p.add_argument("--threads", type=_positive_int, default=None, help="inference threads (default: all cores)")
    p.add_argument("--backend", default="auto", choices=("auto", "onnx", "eager"),
                   help="onnx: ONNX Runtime + numpy (fast; exports once per weight file, cached next to it); "
                        "eager: plain PyTorch; auto (default): onnx when onnxruntime is installed")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "int8"),
                   help="the verifier on the onnx backend: int8 (statically quantized; needs calibration crops "
                        "in its weight file, which training stores), fp32, or auto (default: int8 when possible)")
    p.add_argument("--top-k", type=_positive_int, default=None,
                   help="most proposals verified per screenshot and class (default: GameEye's)")
    p.add_argument("--labels", default=None, metavar="A,B",
                   help="report only these classes, e.g. close (default: every class of the detector; "
                        "the JSON labels each detection, so old clients keep reading the first close)")


def _load(args):
    from .engine import GameEye  # onnxruntime or torch: imported only once arguments are valid
    from .weights import WeightFileError

    extra = {} if args.top_k is None else {"top_k": args.top_k}
    if args.labels:
        extra["labels"] = [c.strip() for c in args.labels.split(",") if c.strip()]
    try:
        return GameEye(args.ssd_weights, args.resnet_weights, regions=args.regions, num_threads=args.threads,
                       backend=args.backend, precision=args.precision, **extra)
    except WeightFileError as exc:
        print(f"game_eye: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ImportError as exc:  # --backend onnx without onnxruntime installed
        print(f"game_eye: error: --backend {args.backend} needs {exc.name or exc}; "
              f"install it or use --backend auto|eager", file=sys.stderr)
        sys.exit(2)


def run_once(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m game_eye", description="Find close buttons on screenshots.",
                                epilog="Persistent mode: python -m game_eye serve --help")
    _add_model_args(p)
    p.add_argument("--json", default=None, metavar="OUT", help="output JSON file; '-' or absent: stdout")
    p.add_argument("--pickle-dir", default=None, metavar="DIR",
                   help="also write <image stem>.pickle (DetectionResultContainer) per image")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    args = p.parse_args(argv)
    problem = _output_path_problem(args)
    if problem:
        print(f"game_eye: error: {problem}", file=sys.stderr)
        return 2

    eye = _load(args)
    entries = [eye.detect_file(path) for path in args.images]

    if args.pickle_dir:
        from .engine import entry_to_container

        out_dir, used = Path(args.pickle_dir), set()
        for e in entries:
            if "error" in e:
                continue
            stem, n = Path(e["image"]).stem, 1
            while stem in used:  # two images with the same stem from different folders
                n += 1
                stem = f"{Path(e['image']).stem}-{n}"
            used.add(stem)
            atomic_write_bytes(out_dir / f"{stem}.pickle", pickle.dumps(entry_to_container(e), protocol=4))

    text = json.dumps({"images": entries}) + "\n"
    if args.json in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write_bytes(Path(args.json), text.encode())
    return 1 if any("error" in e for e in entries) else 0


def serve(argv: list[str]) -> int:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    p = argparse.ArgumentParser(prog="python -m game_eye serve",
                                description="Keep both models loaded and answer POST /detect over HTTP.")
    _add_model_args(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--path-root", default=None, metavar="DIR",
                   help="the folder that POST /detect?path=FILE may read regular files from "
                        "(default: ?path= is refused; send the image as the body)")
    args = p.parse_args(argv)
    path_root = None
    if args.path_root is not None:
        path_root = Path(os.path.realpath(args.path_root))
        if not path_root.is_dir():
            print(f"game_eye: error: --path-root {args.path_root}: not a folder", file=sys.stderr)
            return 2
    eye = _load(args)
    info = eye.info()
    lock = threading.Lock()  # one inference at a time: the cores are the bottleneck anyway

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = READ_TIMEOUT_S

        def _send(self, status: int, doc) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *a):  # quiet by default; errors still go to stderr
            pass

        def do_GET(self):
            if urlparse(self.path).path == "/health":
                self._send(200, {"status": "ok", **info})
            else:
                self._send(404, {"error": "not found; use POST /detect or GET /health"})

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
            if url.path != "/detect":
                self._send(404, {"error": "not found; use POST /detect or GET /health"})
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
            with lock:  # only decoding and inference wait for the models
                entry = eye.detect_bytes(data, name=name, regions=regions)
            self._send(400 if "error" in entry else 200, entry)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print(f"serving on http://{host}:{port} (models loaded in {eye.load_ms:.0f} ms)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        return serve(argv[1:])
    return run_once(argv)


if __name__ == "__main__":
    sys.exit(main())
