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
``--record DIR [--record-when all|uncertain|tapped] [--record-max-mb MB]`` keeps the screenshots and
what GameEye answered, for labelling (``game_eye.record``; ``serve`` takes the same options).
``--backend`` (default ``auto``: ONNX Runtime when installed, else eager PyTorch): the first run
with a new weight file exports it to ONNX (a few seconds, needs torch) and caches the graph next to
the file (or in ``~/.cache/game_eye`` when that folder is read-only); later runs import no torch.

Persistent server (both models stay loaded; no per-screenshot process start; see
``game_eye.serve``)::

    python -m game_eye serve --ssd-weights ssd.pth --resnet-weights resnet.pth [--port 8765] ...
    curl -s --data-binary @shot.png http://127.0.0.1:8765/detect

From another machine (the bot's), through the SSH login: ``python -m game_eye.client`` (see
``game_eye.client``).

Exit codes: 0 all images answered, 1 some image unreadable, 2 bad weights or arguments (one line
on stderr naming the file or option, before any model is loaded).
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Optional

from .atomic import atomic_write_bytes
from .cli_args import add_model_args, add_record_args, load_or_exit, recorder_or_exit


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


def run_once(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m game_eye", description="Find close buttons on screenshots.",
                                epilog="Persistent mode: python -m game_eye serve --help")
    add_model_args(p)
    p.add_argument("--json", default=None, metavar="OUT", help="output JSON file; '-' or absent: stdout")
    p.add_argument("--pickle-dir", default=None, metavar="DIR",
                   help="also write <image stem>.pickle (DetectionResultContainer) per image")
    add_record_args(p)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    args = p.parse_args(argv)
    problem = _output_path_problem(args)
    if problem:
        print(f"game_eye: error: {problem}", file=sys.stderr)
        return 2
    recorder = recorder_or_exit(args, background=False)

    eye = load_or_exit(args)
    info = eye.info() if recorder is not None else None  # hashes both weight files: once
    entries = []
    for path in args.images:
        candidates: list = []
        entries.append(eye.detect_file(path, candidates=candidates))
        if recorder is not None and "error" not in entries[-1]:
            recorder.offer(Path(path).read_bytes(), entries[-1], candidates, info)

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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from .serve import main as serve

        return serve(argv[1:])
    return run_once(argv)


if __name__ == "__main__":
    sys.exit(main())
