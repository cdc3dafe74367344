"""GameEye's fast CPU path: both networks in ONNX Runtime, the rest in numpy; no torch at run time.

    from game_eye.fast import load_onnx_models, onnxruntime_available
    det, cls = load_onnx_models("ssd/best_weight.pth", "resnet/best_weight.pth", threads=2)
    boxes, scores, labels = det.detect(small_rgb_uint8)     # as SSD.postprocess_detections
    probs = cls.probabilities(batch_uint8_nhwc)              # softmax over the classes

What runs where:
  * detector graph (exported from the eager model with ``torch.onnx.export(dynamo=False)``):
    uint8 NHWC pixels in; normalisation (the eager path's float32 operations, in its order) +
    backbone + head + anchor decoding (BoxCoder) + clip to the image + softmax; the anchors are
    constants of the fixed input size.
  * numpy: per-class score threshold / top-k / NMS exactly as ``SSD.postprocess_detections`` and
    ``torchvision.ops.nms`` do them.
  * classifier graph: uint8 NHWC crops in (dynamic batch), normalisation + the verifier; in int8
    (``precision``) when the weight file carries calibration crops (see ``game_eye.quantize``).

Cache: the exported graph and a JSON sidecar (the weight file's metadata, minus the state_dict)
live next to the weight file as ``<weights>.<sha256[:16]>-onnx<N>.onnx`` / ``.json``, keyed by
the weight file's sha256 (a redeployed file gets a new export), or under
``$GAME_EYE_CACHE`` / ``~/.cache/game_eye`` when that folder is not writable. With a cache hit,
GameEye needs neither torch nor torchvision: process start to first JSON is well under a second.
A miss exports once (torch needed then, a few seconds).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .archs import CLASSIFIER_ARCHS
from .atomic import atomic_target
from .ops import batched_nms, softmax
from .quantize import CALIBRATION_KEY
from .weights import WeightFileError, file_sha256

EXPORT_VERSION = 2
OPSET = 17


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except Exception:
        return False
    return True


# ---------------------------------------------------------------------------------------- sessions
def _session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # No busy-waiting between ops: on a shared 2-core box a spinning pool steals the cores it waits for.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxDetector:
    """SSD forward + ``postprocess_detections`` on an image already at the detector's size."""

    def __init__(self, onnx_path: Path, meta: dict[str, Any], threads: int):
        self.meta = meta
        self.session = _session(onnx_path, threads)
        self.input_name = self.session.get_inputs()[0].name
        post = meta["postprocess"]
        self.topk_candidates = int(post["topk_candidates"])
        self.detections_per_img = int(post["detections_per_img"])
        self.nms_thresh = float(post["nms_thresh"])

    def detect(self, small: np.ndarray, score_thresh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``small``: uint8 HxWx3 at the detector's size. Boxes (in that frame), scores, labels."""
        return self.postprocess(*self.forward(small), score_thresh)

    def forward(self, small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The graph alone: decoded boxes [A, 4] and class probabilities [A, C] of every anchor."""
        boxes, scores = self.session.run(None, {self.input_name: np.ascontiguousarray(small, dtype=np.uint8)[None]})
        return boxes[0], scores[0]

    def postprocess(self, boxes: np.ndarray, scores: np.ndarray, score_thresh: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-class threshold, top-k and NMS, as ``SSD.postprocess_detections``."""
        out_b, out_s, out_l = [], [], []
        for label in range(1, scores.shape[1]):
            s = scores[:, label]
            idx = np.nonzero(s > np.float32(score_thresh))[0]
            s = s[idx]
            k = min(self.topk_candidates, len(s))
            top = np.argsort(-s, kind="stable")[:k]
            out_b.append(boxes[idx[top]])
            out_s.append(s[top])
            out_l.append(np.full(k, label, dtype=np.int64))
        b, s, lab = np.concatenate(out_b), np.concatenate(out_s), np.concatenate(out_l)
        keep = batched_nms(b, s, lab, self.nms_thresh)[: self.detections_per_img]
        return b[keep], s[keep], lab[keep]


class OnnxClassifier:
    def __init__(self, onnx_path: Path, meta: dict[str, Any], threads: int):
        self.meta = meta
        self.session = _session(onnx_path, threads)
        self.input_name = self.session.get_inputs()[0].name

    def probabilities(self, crops_nhwc_uint8: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run(None, {self.input_name: np.ascontiguousarray(crops_nhwc_uint8, np.uint8)})
        return softmax(logits)


# ---------------------------------------------------------------------------------------- export
def _export_detector(model, doc: dict[str, Any], out: Path) -> dict[str, Any]:
    import torch
    from torchvision.models.detection.image_list import ImageList
    from torchvision.ops import boxes as box_ops

    h, w = (int(v) for v in doc["image_size"])

    class Core(torch.nn.Module):
        def __init__(self, m, anchors):
            super().__init__()
            self.backbone, self.head, self.box_coder = m.backbone, m.head, m.box_coder
            self.register_buffer("anchors", anchors)
            self.register_buffer("mean", torch.tensor(m.transform.image_mean).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(m.transform.image_std).view(1, 3, 1, 1))

        def forward(self, pixels):
            x = pixels.permute(0, 3, 1, 2).float().div(255.0).sub(self.mean).div(self.std)
            feats = self.backbone(x)
            feats = list(feats.values()) if isinstance(feats, dict) else [feats]
            head = self.head(feats)
            boxes = self.box_coder.decode_single(head["bbox_regression"][0], self.anchors)
            boxes = box_ops.clip_boxes_to_image(boxes, (h, w))
            return boxes.unsqueeze(0), torch.softmax(head["cls_logits"], dim=-1)

    x = torch.zeros(1, 3, h, w)
    with torch.no_grad():
        feats = model.backbone(x)
        feats = list(feats.values()) if isinstance(feats, dict) else [feats]
        anchors = model.anchor_generator(ImageList(x, [(h, w)]), feats)[0]
    core = Core(model, anchors.clone()).eval()
    _onnx_export(core, torch.zeros(1, h, w, 3, dtype=torch.uint8), out, dynamic_batch=False)
    return {"postprocess": {"topk_candidates": int(model.topk_candidates),
                            "detections_per_img": int(model.detections_per_img),
                            "nms_thresh": float(model.nms_thresh)}}


def _export_classifier(model, doc: dict[str, Any], out: Path) -> dict[str, Any]:
    import torch

    from .models import IMAGE_MEAN, IMAGE_STD

    class Verifier(torch.nn.Module):
        """uint8 NHWC crops -> logits; the normalisation of ``models.classifier_input``."""

        def __init__(self, net):
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1))

        def forward(self, pixels):
            x = pixels.permute(0, 3, 1, 2).float().div(255.0)
            return self.net((x - self.mean) / self.std)

    s = doc["image_size"]
    s = int(s[0] if isinstance(s, (list, tuple)) else s)
    _onnx_export(Verifier(model.eval()).eval(), torch.zeros(2, s, s, 3, dtype=torch.uint8), out, dynamic_batch=True)
    return {}


def _onnx_export(module, x, out: Path, dynamic_batch: bool) -> None:
    import warnings

    import torch

    axes = {"pixels": {0: "n"}} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(out), dynamo=False, opset_version=OPSET, input_names=["pixels"],
                          dynamic_axes=axes, do_constant_folding=True)


# ---------------------------------------------------------------------------------------- cache
def _meta_of(doc: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in doc.items() if k not in ("state_dict", CALIBRATION_KEY)}
    if doc.get(CALIBRATION_KEY) is not None:
        meta[CALIBRATION_KEY] = int(len(doc[CALIBRATION_KEY]))      # how many; the pixels stay in the file
    return json.loads(json.dumps(meta, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _cache_dirs(weights: Path) -> list[Path]:
    dirs = [weights.parent]
    if os.environ.get("GAME_EYE_CACHE"):
        dirs.insert(0, Path(os.environ["GAME_EYE_CACHE"]))
    dirs.append(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "game_eye")
    return dirs


def _atomic(path: Path, write) -> None:
    with atomic_target(path, mode=0o644) as tmp:
        write(tmp)


def _cached(weights: Path, key: str, archs: Sequence[str]) -> Optional[tuple[Path, dict[str, Any]]]:
    for d in _cache_dirs(weights):
        onnx_path, meta_path = d / f"{key}.onnx", d / f"{key}.json"
        if onnx_path.is_file() and meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            if meta.get("arch") not in archs:
                raise WeightFileError(f"weight file {weights} holds arch {meta.get('arch')!r}; "
                                      f"expected one of {list(archs)}")
            return onnx_path, meta
    return None


def cached_onnx(weights: str | os.PathLike, archs: Sequence[str], flag: str,
                export: Optional[bool] = True, precision: str = "fp32") -> tuple[Path, dict[str, Any]]:
    """(path of the exported .onnx, metadata of the weight file) for ``weights``, from the cache or
    by exporting now. ``precision``: ``fp32``; ``int8``, the statically quantized twin of a verifier
    (see ``game_eye.quantize``); ``auto``, int8 when the file carries calibration crops, else fp32.
    Raises ``WeightFileError`` naming the file for a bad weight file."""
    weights = Path(weights)
    if not weights.is_file():
        raise WeightFileError(f"weight file {weights} does not exist")
    key = f"{weights.name}.{file_sha256(weights)[:16]}-onnx{EXPORT_VERSION}"   # hashed once per load
    int8_key = f"{key}-int8"
    if precision in ("int8", "auto"):
        hit = _cached(weights, int8_key, archs)
        if hit is not None:
            return hit
    fp32 = _cached(weights, key, archs) or _export(weights, archs, flag, export, key)
    if precision == "fp32" or (precision == "auto" and not fp32[1].get(CALIBRATION_KEY)):
        return fp32
    return _quantize(weights, fp32, int8_key, export)


def _export(weights: Path, archs: Sequence[str], flag: str, export: Optional[bool],
            key: str) -> tuple[Path, dict[str, Any]]:
    if not export:
        raise FileNotFoundError(f"no exported graph cached for {weights}")

    from .models import load_model  # torch: only on a cache miss

    doc, model = load_model(weights, archs, flag)
    meta = _meta_of(doc)
    detector = doc["arch"] not in CLASSIFIER_ARCHS
    last_error: Optional[BaseException] = None
    for d in _cache_dirs(weights):
        try:
            d.mkdir(parents=True, exist_ok=True)
            onnx_path, meta_path = d / f"{key}.onnx", d / f"{key}.json"
            extra: dict[str, Any] = {}

            def write_onnx(tmp: Path) -> None:
                extra.update((_export_detector if detector else _export_classifier)(model, doc, tmp))

            _atomic(onnx_path, write_onnx)
            meta.update(extra, onnx_export_version=EXPORT_VERSION)
            _atomic(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
            for stale in d.glob(f"{weights.name}.*-onnx*.*"):  # exports of earlier versions of this file
                if not stale.name.startswith(key):            # (the int8 twin's name starts with key too)
                    stale.unlink(missing_ok=True)
            return onnx_path, meta
        except PermissionError as exc:  # read-only weights folder: try the next cache folder
            last_error = exc
    raise WeightFileError(f"cannot write the ONNX export of {weights} anywhere: {last_error}")


def _quantize(weights: Path, fp32: tuple[Path, dict[str, Any]], key: str,
              export: Optional[bool]) -> tuple[Path, dict[str, Any]]:
    """The int8 twin of the float verifier graph ``fp32`` (path, meta), written next to it."""
    fp32_path, meta = fp32
    if meta.get("arch") not in CLASSIFIER_ARCHS:
        raise WeightFileError(f"weight file {weights}: int8 is for the verifier, not arch {meta.get('arch')!r}")
    if not meta.get(CALIBRATION_KEY):
        raise WeightFileError(f"weight file {weights} has no {CALIBRATION_KEY}: it cannot be quantized "
                              "(use precision fp32, or retrain: training stores them)")
    if not export:
        raise FileNotFoundError(f"no int8 graph cached for {weights}")
    from .quantize import quantize_verifier
    from .weights import load_weights

    crops = load_weights(weights)[CALIBRATION_KEY]
    crops = crops.numpy() if hasattr(crops, "numpy") else np.asarray(crops)
    d = fp32_path.parent                    # next to the float export: the folder already proved writable
    onnx_path, meta_path = d / f"{key}.onnx", d / f"{key}.json"
    _atomic(onnx_path, lambda tmp: quantize_verifier(fp32_path, tmp, crops))
    meta = {**meta, "precision": "int8"}
    _atomic(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
    return onnx_path, meta


def _load_one(cls, weights, archs: Sequence[str], flag: str, threads: int, precision: str = "fp32"):
    path, meta = cached_onnx(weights, archs, flag, precision=precision)
    try:
        return cls(path, meta, threads)
    except WeightFileError:
        raise
    except Exception:  # a damaged cached graph: export again, once
        Path(path).unlink(missing_ok=True)
        path, meta = cached_onnx(weights, archs, flag, precision=precision)
        return cls(path, meta, threads)


def load_onnx_models(ssd_weights, resnet_weights, threads: int, detector_archs: Sequence[str],
                     classifier_archs: Sequence[str], precision: str = "fp32"
                     ) -> tuple[OnnxDetector, Optional[OnnxClassifier]]:
    """Both networks' sessions; the classifier is None when ``resnet_weights`` is None.
    ``precision`` (auto | fp32 | int8) applies to the verifier; the detector stays float32."""
    det = _load_one(OnnxDetector, ssd_weights, detector_archs, "--ssd-weights", threads)
    if resnet_weights is None:
        return det, None
    return det, _load_one(OnnxClassifier, resnet_weights, classifier_archs, "--resnet-weights", threads, precision)
