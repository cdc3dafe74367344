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
        [--host 127.0.0.1] [--port 8765] [--regions full|top_corners]

    curl -s --data-binary @shot.png http://127.0.0.1:8765/detect         # image bytes as the body
    curl -s -X POST 'http://127.0.0.1:8765/detect?path=/tmp/shot.png'     # a file already scp'd here
    curl -s http://127.0.0.1:8765/health                                  # models, versions, sha256

``POST /detect`` answers the same JSON entry as one element of ``images`` above (200), or
``{"image", "error"}`` with status 400 when the image cannot be decoded. Optional query
parameters: ``name`` (echoed as ``image``), ``regions`` (``full`` or ``top_corners``). The
server prints ``serving on http://HOST:PORT`` once ready (``--port 0`` picks a free port).
It listens on 127.0.0.1 only by default: there is no authentication.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
from pathlib import Path

REGION_CHOICES = ("full", "top_corners")
MAX_BODY = 64 << 20


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ssd-weights", required=True, help="detector weight file (gaa-weights/1)")
    p.add_argument("--resnet-weights", required=True, help="verifier weight file (gaa-weights/1)")
    p.add_argument("--regions", default="full", choices=REGION_CHOICES,
                   help="where to look: the whole screen (default) or the top-left/top-right 400x400 areas")
    p.add_argument("--threads", type=int, default=None, help="inference threads (default: all cores)")
    p.add_argument("--backend", default="auto", choices=("auto", "onnx", "eager"),
                   help="onnx: ONNX Runtime + numpy (fast; exports once per weight file, cached next to it); "
                        "eager: plain PyTorch; auto (default): onnx when onnxruntime is installed")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "int8"),
                   help="the verifier on the onnx backend: int8 (statically quantized; needs calibration crops "
                        "in its weight file, which training stores), fp32, or auto (default: int8 when possible)")
    p.add_argument("--top-k", type=int, default=None,
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
            _atomic_write(out_dir / f"{stem}.pickle", pickle.dumps(entry_to_container(e), protocol=4))

    text = json.dumps({"images": entries}) + "\n"
    if args.json in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _atomic_write(Path(args.json), text.encode())
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
    args = p.parse_args(argv)
    eye = _load(args)
    info = eye.info()
    lock = threading.Lock()  # one inference at a time: the cores are the bottleneck anyway

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

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

        def do_POST(self):
            url = urlparse(self.path)
            if url.path != "/detect":
                self._send(404, {"error": "not found; use POST /detect or GET /health"})
                return
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            regions = q.get("regions")
            if regions is not None and regions not in REGION_CHOICES:
                self._send(400, {"error": f"unknown regions {regions!r}; valid: {list(REGION_CHOICES)}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {"error": f"body larger than {MAX_BODY} bytes"})
                self.close_connection = True
                return
            data = self.rfile.read(length) if length else b""
            with lock:
                if data:
                    entry = eye.detect_bytes(data, name=q.get("name", q.get("path", "<body>")), regions=regions)
                elif "path" in q:
                    entry = eye.detect_file(q["path"], regions=regions)
                else:
                    entry = {"image": q.get("name", "<body>"), "error": "empty body and no ?path="}
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
