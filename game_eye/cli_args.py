"""The model options shared by ``python -m game_eye`` and ``python -m game_eye serve``, and the
GameEye they build (see ``game_eye.__main__`` for the commands)."""
from __future__ import annotations

import argparse
import sys

REGION_CHOICES = ("full", "top_corners")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ssd-weights", required=True, help="detector weight file (gaa-weights/1)")
    p.add_argument("--resnet-weights", required=True, help="verifier weight file (gaa-weights/1)")
    p.add_argument("--regions", default="full", choices=REGION_CHOICES,
                   help="where to look: the whole screen (default) or the top-left/top-right 400x400 areas")
    p.add_argument("--threads", type=positive_int, default=None, help="inference threads (default: all cores)")
    p.add_argument("--backend", default="auto", choices=("auto", "onnx", "eager"),
                   help="onnx: ONNX Runtime + numpy (fast; exports once per weight file, cached next to it); "
                        "eager: plain PyTorch; auto (default): onnx when onnxruntime is installed")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "int8"),
                   help="the verifier on the onnx backend: int8 (statically quantized; needs calibration crops "
                        "in its weight file, which training stores), fp32, or auto (default: int8 when possible)")
    p.add_argument("--top-k", type=positive_int, default=None,
                   help="most proposals verified per screenshot and class (default: GameEye's)")
    p.add_argument("--labels", default=None, metavar="A,B",
                   help="report only these classes, e.g. close (default: every class of the detector; "
                        "the JSON labels each detection, so old clients keep reading the first close)")


def build_engine(args):
    """The GameEye the options describe; raises WeightFileError (naming the file) or ImportError."""
    from .engine import GameEye  # onnxruntime or torch: imported only once arguments are valid

    extra = {} if args.top_k is None else {"top_k": args.top_k}
    if args.labels:
        extra["labels"] = [c.strip() for c in args.labels.split(",") if c.strip()]
    return GameEye(args.ssd_weights, args.resnet_weights, regions=args.regions, num_threads=args.threads,
                   backend=args.backend, precision=args.precision, **extra)


def load_or_exit(args):
    """``build_engine``, or exit 2 with one line naming the bad file or option."""
    from .weights import WeightFileError

    try:
        return build_engine(args)
    except WeightFileError as exc:
        print(f"game_eye: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ImportError as exc:  # --backend onnx without onnxruntime installed
        print(f"game_eye: error: --backend {args.backend} needs {exc.name or exc}; "
              f"install it or use --backend auto|eager", file=sys.stderr)
        sys.exit(2)


def add_record_args(p: argparse.ArgumentParser) -> None:
    """Field recording (``game_eye.record``): off unless --record is given."""
    from .record import RECORD_WHEN

    p.add_argument("--record", default=None, metavar="DIR",
                   help="keep the screenshots sent and what GameEye answered in DIR, for labelling (off by default)")
    p.add_argument("--record-when", default="uncertain", choices=RECORD_WHEN,
                   help="which frames: all, tapped (a close was answered), uncertain (default: a verifier score "
                        "near its threshold, or two candidates close in score)")
    p.add_argument("--record-max-mb", type=float, default=1024, metavar="MB",
                   help="the most DIR may hold; the oldest frames go first (default 1024)")
    p.add_argument("--record-band", type=float, default=0.1, metavar="P",
                   help="uncertain: a verifier probability within P of its threshold (default 0.1)")
    p.add_argument("--record-min-free-mb", type=float, default=1024, metavar="MB",
                   help="never write a frame that would leave less free space on the disk (default 1024)")


def recorder_or_exit(args, background: bool = True):
    """The Recorder the --record options describe (None without --record), or exit 2 naming the option."""
    if not args.record:
        return None
    from .record import Recorder

    try:
        return Recorder(args.record, when=args.record_when, max_mb=args.record_max_mb, band=args.record_band,
                        min_free_mb=args.record_min_free_mb, background=background)
    except (OSError, ValueError) as exc:
        print(f"game_eye: error: --record {args.record}: {exc}", file=sys.stderr)
        sys.exit(2)
