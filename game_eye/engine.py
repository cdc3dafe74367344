"""GameEye's two-stage pipeline: SSD proposals over the screenshot, batched ResNet verification.

    from game_eye.engine import GameEye
    eye = GameEye("ssd/best_weight.pth", "resnet/best_weight.pth")      # regions="full"
    entry = eye.detect_file("shot.png")   # {"image", "width", "height", "elapsed_ms", "detections"}
    dets = eye.detect(PIL.Image.open("shot.png"))   # [{"label", "score", "box"}], best first
    boxes, scores = eye.propose(img)       # detector stage alone (original pixels), for evaluation
    probs = eye.verify(img, boxes)         # verifier stage alone: p(close) per box
    GameEye(ssd, resnet, labels=["close"])  # report only close (default: every detector class)

Pipeline per screenshot, for each class the detector knows (``close``, ``watch_ad``, ...):
  1. RGB; resize to the detector's ``image_size`` [H, W] (bilinear); one SSD forward.
  2. Proposals of the class: detector score >= its threshold (the detector file's
     ``class_thresholds``, else ``score_threshold``), NMS (numpy, same as torchvision.ops.nms);
     boxes scaled back to original pixels and clipped.
  3. Region filter (box centre inside a region): ``full`` (default), ``top_corners`` (the old
     system's top-left and top-right 400x400 areas) or an explicit list of [x1, y1, x2, y2];
     then the top-K per class (default :data:`DEFAULT_TOP_K`) proposals by detector score.
  4. Verification: ``verifier_crop`` of every proposal from the ORIGINAL image (context: the
     verifier file's ``crop_margin``, default 0.3), one batched classifier forward, softmax;
     p = the verifier's probability of the proposal's class. A verifier file with
     ``mirror_average: true`` scores each crop with its mirror image in the same batch too, and one
     with ``extra_crop_margins`` each proposal at those contexts too; p averages all these views in
     log space (``game_eye.crops.average_views``).
  5. Final score sqrt(detector_score * p); keep p >= the classifier file's threshold for that
     class; every class together, sorted by final score, highest first; each detection labelled
     with its class; boxes clipped, in original pixels, 1 decimal. A close-only pair of weight
     files gives close detections only.

Backends (``backend=``, CLI ``--backend``): ``onnx`` runs both networks in ONNX Runtime and the
rest in numpy (see ``game_eye.fast``: same detections as eager within float noise, no torch import
once the export is cached); ``eager`` is the plain PyTorch path; ``auto`` (default) picks ``onnx``
when onnxruntime is installed, else ``eager``. ``precision=`` (CLI ``--precision``) of the verifier
on the onnx backend: ``auto`` (default) runs it in int8 when its weight file carries calibration
crops (``game_eye.quantize``), ``fp32`` / ``int8`` force one.

Imports only torch, torchvision, numpy, pillow and (for speed) onnxruntime; torch and
torchvision only on the eager path or to export a weight file not yet cached.
"""
from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
from PIL import Image

from .archs import CLASSIFIER_ARCHS, DETECTOR_ARCHS
from .crops import average_views, crop_margin_of, extra_margins_of, mirror_average_of, verifier_crop, with_mirrors
from .decode import decode_image, read_image
from .detection_result import DetectionResultContainer
from .ops import nms as np_nms
from .weights import WeightFileError, file_sha256

TOP_CORNER_SIZE = 400
# Proposals verified per class and screenshot: each costs about 2 ms of int8 verifier. With gaa-ssd v3
# every held-out button is among the top 5 (8 added nothing but ~15% latency); a weaker SSD may
# rank one 6th-8th (v2: 3 of 120), which evaluation.top_k / --top-k measure.
DEFAULT_TOP_K = 5
BACKENDS = ("auto", "onnx", "eager")
PRECISIONS = ("auto", "fp32", "int8")        # of the verifier on the onnx backend
RegionSpec = Union[str, Sequence[Sequence[float]], None]


def final_score(detector_score: float, p: float) -> float:
    """The score a detection is ranked by: sqrt(detector score x verifier probability)."""
    return math.sqrt(max(detector_score, 0.0) * max(p, 0.0))


def _eager_model(path: Union[str, os.PathLike], archs: Sequence[str], flag: str) -> tuple[dict, Any]:
    from .models import load_model  # torch + torchvision: imported only when the eager path runs

    return load_model(path, archs, flag)


def resolve_regions(regions: RegionSpec, width: int, height: int) -> Optional[list[tuple[float, float, float, float]]]:
    """Regions in original pixels, or None for the full screen."""
    if regions is None or (isinstance(regions, str) and regions == "full"):
        return None
    if isinstance(regions, str):
        if regions == "top_corners":
            s = TOP_CORNER_SIZE
            return [(0.0, 0.0, float(min(s, width)), float(min(s, height))),
                    (float(max(width - s, 0)), 0.0, float(width), float(min(s, height)))]
        raise ValueError(f"unknown regions {regions!r}; valid: 'full', 'top_corners' or a list of [x1, y1, x2, y2]")
    out = []
    for r in regions:
        if len(r) != 4:
            raise ValueError(f"a region must be [x1, y1, x2, y2], got {r!r}")
        out.append(tuple(float(v) for v in r))
    return out


def _centre_in(box: Sequence[float], regions: Sequence[Sequence[float]]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(r[0] <= cx <= r[2] and r[1] <= cy <= r[3] for r in regions)


class GameEye:
    """Both models loaded once; ``detect``/``detect_file``/``detect_bytes`` per screenshot.

    Classes: every detection carries its detector class (``close``, ``watch_ad``, ...), verified
    with the verifier's probability of that same class. ``labels`` restricts the classes reported
    (default: all of the detector's; ``label="close"`` alone means ``labels=["close"]``, the old
    close-only output). ``label`` is also the primary class of the stage APIs ``propose``/``verify``
    (default ``close`` when the detector has it). Thresholds per class come from the weight files'
    ``class_thresholds``, else their ``score_threshold``.

    Raises ``WeightFileError`` (its message names the file) when a weight file is missing,
    truncated, not gaa-weights/1, of the wrong family (a classifier given as the detector or the
    reverse), lacks a requested class, or the verifier cannot verify a detector class.
    ``resnet_weights=None`` loads the detector stage alone (``propose`` works; ``detect``/``verify``
    raise): the dataset builder mines its proposals.
    """

    def __init__(self, ssd_weights: Union[str, os.PathLike], resnet_weights: Optional[Union[str, os.PathLike]],
                 regions: RegionSpec = "full", top_k: int = DEFAULT_TOP_K, nms_iou: float = 0.45,
                 label: Optional[str] = None, num_threads: Optional[int] = None, backend: str = "auto",
                 labels: Union[str, Sequence[str], None] = None, precision: str = "auto"):
        t0 = time.perf_counter()
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; valid: {list(BACKENDS)}")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; valid: {list(PRECISIONS)}")
        requested = backend
        if backend == "auto":
            from .fast import onnxruntime_available

            backend = "onnx" if onnxruntime_available() else "eager"
        self.num_threads = int(num_threads or os.cpu_count() or 1)
        self.ssd_path = str(ssd_weights)
        self.resnet_path = None if resnet_weights is None else str(resnet_weights)
        self._detector = self._classifier = None
        self._onnx_det = self._onnx_cls = None
        if backend == "onnx":
            from .fast import load_onnx_models

            try:
                self._onnx_det, self._onnx_cls = load_onnx_models(ssd_weights, resnet_weights, self.num_threads,
                                                                  DETECTOR_ARCHS, CLASSIFIER_ARCHS, precision)
                self.det_doc = self._onnx_det.meta
                self.cls_doc = None if self._onnx_cls is None else self._onnx_cls.meta
            except WeightFileError:
                raise
            except Exception as exc:  # export or ONNX Runtime failed: auto falls back, onnx says why
                if requested == "onnx":
                    raise
                import warnings

                warnings.warn(f"game_eye: ONNX backend unavailable ({_reason(exc)}); using eager PyTorch")
                backend = "eager"
        self.backend = backend
        self.precision = "fp32"
        if self._onnx_cls is not None:
            self.precision = self._onnx_cls.meta.get("precision", "fp32")
        elif backend == "eager" and precision == "int8":
            raise ValueError("precision int8 needs the onnx backend (ONNX Runtime)")
        if backend == "eager":
            import torch

            torch.set_num_threads(self.num_threads)
            self.det_doc, self._detector = _eager_model(ssd_weights, DETECTOR_ARCHS, "--ssd-weights")
            self.cls_doc = None
            if resnet_weights is not None:
                self.cls_doc, self._classifier = _eager_model(resnet_weights, CLASSIFIER_ARCHS, "--resnet-weights")
        self._setup_classes(label, labels)
        h, w = self.det_doc["image_size"]
        self.det_size = (int(h), int(w))
        if self.cls_doc is not None:
            cs = self.cls_doc["image_size"]
            self.cls_size = int(cs[0] if isinstance(cs, (list, tuple)) else cs)
            self.crop_margin = crop_margin_of(self.cls_doc, self.resnet_path)
            self.mirror_average = mirror_average_of(self.cls_doc, self.resnet_path)
            self.extra_margins = extra_margins_of(self.cls_doc, self.resnet_path)
        self.regions = regions
        resolve_regions(regions, 1, 1)  # fail early on a bad spec
        self.top_k = int(top_k)
        self.nms_iou = float(nms_iou)
        # The SSD's own postprocess keeps scores > score_thresh; ours is >= the calibrated one.
        self._det_score_thresh = self.det_threshold - 1e-6
        if self._detector is not None:
            self._detector.score_thresh = self._det_score_thresh
        self.load_ms = (time.perf_counter() - t0) * 1000

    def _setup_classes(self, label: Optional[str], labels: Union[str, Sequence[str], None]) -> None:
        det_classes = list(self.det_doc["classes"])
        cls_classes = None if self.cls_doc is None else list(self.cls_doc["classes"])
        det_targets = [c for c in det_classes if c != "background"]
        if labels is None:
            wanted = [label] if label is not None else det_targets
        else:
            wanted = [labels] if isinstance(labels, str) else list(labels)
        for c in wanted:
            if c not in det_classes:
                raise WeightFileError(f"weight file {self.ssd_path} has no class {c!r} (classes {det_classes})")
            if cls_classes is not None and c not in cls_classes:
                raise WeightFileError(f"weight file {self.resnet_path} has no class {c!r} (classes {cls_classes}) "
                                      f"to verify the detector's {c!r} proposals ({self.ssd_path})")
        if not wanted:
            raise WeightFileError(f"weight file {self.ssd_path} has no target class (classes {det_classes})")
        self.labels = wanted
        self.label = label if label is not None else ("close" if "close" in wanted else wanted[0])
        if self.label not in wanted:
            raise ValueError(f"label {self.label!r} is not among the reported labels {wanted}")
        self.det_label_index = det_classes.index(self.label)
        self.det_index = {c: det_classes.index(c) for c in wanted}

        def thresholds(doc: dict) -> dict[str, float]:
            per = dict(doc.get("class_thresholds") or {})
            return {c: float(per.get(c, doc["score_threshold"])) for c in wanted}

        self.det_thresholds = thresholds(self.det_doc)
        self.det_threshold = min(self.det_thresholds.values())   # the SSD's own pre-filter
        if cls_classes is not None:
            self.cls_label_index = cls_classes.index(self.label)
            self.cls_index = {c: cls_classes.index(c) for c in wanted}
            self.cls_thresholds = thresholds(self.cls_doc)
            self.cls_threshold = self.cls_thresholds[self.label]

    # ------------------------------------------------------------------ eager models (lazy on onnx)
    @property
    def detector(self):
        """The eager torch detector (built on first use when the backend is onnx)."""
        if self._detector is None:
            _, self._detector = _eager_model(self.ssd_path, DETECTOR_ARCHS, "--ssd-weights")
            self._detector.score_thresh = self._det_score_thresh
        return self._detector

    @property
    def classifier(self):
        """The eager torch classifier (built on first use when the backend is onnx)."""
        if self._classifier is None:
            self._require_verifier()
            _, self._classifier = _eager_model(self.resnet_path, CLASSIFIER_ARCHS, "--resnet-weights")
        return self._classifier

    # ------------------------------------------------------------------ info
    def info(self) -> dict[str, Any]:
        def one(path: Optional[str], doc: Optional[dict]) -> Optional[dict[str, Any]]:
            if doc is None:
                return None
            return {"path": path, "arch": doc["arch"], "classes": list(doc["classes"]),
                    "image_size": doc["image_size"], "score_threshold": float(doc["score_threshold"]),
                    **({"crop_margin": self.crop_margin, "mirror_average": self.mirror_average,
                        "extra_crop_margins": list(self.extra_margins)}
                       if doc is self.cls_doc else {}),
                    "model_name": doc.get("model_name"), "version": doc.get("version"),
                    "run_id": doc.get("run_id"), "sha256": file_sha256(path)}
        return {"ssd": one(self.ssd_path, self.det_doc), "resnet": one(self.resnet_path, self.cls_doc),
                "regions": self.regions if isinstance(self.regions, (str, type(None))) else list(self.regions),
                "labels": list(self.labels), "top_k": self.top_k, "backend": self.backend,
                "precision": self.precision,
                "load_ms": round(self.load_ms, 1)}

    # ------------------------------------------------------------------ stages
    def _detector_forward(self, small: Image.Image):
        """Eager SSD on an image already at the detector's size: boxes (in that frame), scores, labels.

        Same computation as ``SSD.forward`` in eval mode minus the transform's resize, which is a
        no-op on an image already at ``fixed_size``."""
        import torch
        from torchvision.models.detection.image_list import ImageList

        m = self.detector
        with torch.inference_mode():
            tr = m.transform
            mean = torch.tensor(tr.image_mean).view(1, 3, 1, 1)
            std = torch.tensor(tr.image_std).view(1, 3, 1, 1)
            x = torch.from_numpy(np.array(small, dtype=np.uint8)).permute(2, 0, 1).unsqueeze(0).float()
            x = x.div_(255.0).sub_(mean).div_(std)
            feats = m.backbone(x)
            feats = list(feats.values()) if isinstance(feats, dict) else [feats]
            head = m.head(feats)
            size = [(x.shape[-2], x.shape[-1])]
            anchors = m.anchor_generator(ImageList(x, size), feats)
            det = m.postprocess_detections(head, anchors, size)[0]
        return det["boxes"], det["scores"], det["labels"]

    def _require_verifier(self) -> None:
        if self.cls_doc is None:
            raise RuntimeError("this GameEye was loaded without verifier weights: only propose() works")

    def _probs(self, image: Image.Image, boxes: list[list[float]]) -> np.ndarray:
        """Verifier softmax [N, classes] for crops around ``boxes``, one batched forward."""
        self._require_verifier()
        crops = [verifier_crop(image, b, self.cls_size, margin)
                 for margin in (self.crop_margin, *self.extra_margins) for b in boxes]
        if self.mirror_average and crops:
            crops = with_mirrors(crops)
        if self.backend == "onnx":
            arr = np.stack([np.asarray(c.convert("RGB"), dtype=np.uint8) for c in crops])
            probs = np.asarray(self._onnx_cls.probabilities(arr))
        else:
            import torch

            from .models import classifier_input

            with torch.inference_mode():
                logits = self.classifier(classifier_input(crops))
                probs = torch.softmax(logits.float(), dim=1).numpy()
        return average_views(probs, len(boxes)) if len(crops) > len(boxes) else probs

    def _verify(self, image: Image.Image, boxes: list[list[float]], label: Optional[str] = None) -> list[float]:
        return self._probs(image, boxes)[:, self.cls_index[label or self.label]].tolist()

    def _raw_detections(self, img: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detector forward on the resized screenshot: boxes (detector frame), scores, label indices."""
        h, w = self.det_size
        small = img.resize((w, h), Image.BILINEAR)
        if self.backend == "onnx":
            return self._onnx_det.detect(np.asarray(small, dtype=np.uint8), self._det_score_thresh)
        boxes, scores, labels = self._detector_forward(small)
        return boxes.numpy(), scores.numpy(), labels.numpy()

    def _proposals(self, img: Image.Image, regions: RegionSpec, top_k: Optional[int],
                   labels: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """Per class in ``labels``: (boxes float32 [N, 4] original pixels, scores [N], label) with
        score >= that class's threshold, after NMS, the region filter and top-K, best first."""

        W, H = img.size
        h, w = self.det_size
        raw_boxes, raw_scores, raw_labels = self._raw_detections(img)
        regs = resolve_regions(self.regions if regions is None else regions, W, H)
        k = self.top_k if top_k is None else int(top_k)
        out = []
        for c in labels:
            keep = (raw_labels == self.det_index[c]) & (raw_scores >= np.float32(self.det_thresholds[c]))
            boxes, scores = raw_boxes[keep], raw_scores[keep]
            if len(boxes):
                keep = np_nms(boxes, scores, self.nms_iou)  # indices by decreasing score
                boxes, scores = boxes[keep], scores[keep]
                boxes = boxes * np.array([W / w, H / h, W / w, H / h], dtype=np.float32)
                boxes[:, 0::2] = boxes[:, 0::2].clip(0, W)
                boxes[:, 1::2] = boxes[:, 1::2].clip(0, H)
            if regs is not None and len(boxes):  # before top-K: proposals elsewhere must not crowd them out
                inside = np.array([_centre_in(b, regs) for b in boxes.tolist()], dtype=bool)
                boxes, scores = boxes[inside], scores[inside]
            if k > 0:  # per class: one class's proposals never crowd out another's
                boxes, scores = boxes[:k], scores[:k]
            out.append((boxes.reshape(-1, 4), scores.reshape(-1), c))
        return out

    # ------------------------------------------------------------------ public
    def propose(self, image: Image.Image, regions: RegionSpec = None, top_k: Optional[int] = None,
                label: Optional[str] = None):
        """Detector stage alone: proposals of ``label`` (default: the primary label) with score >= its
        detector threshold, after NMS, region filter and top-K (``top_k`` overrides the instance's;
        0 or negative: all). Returns (boxes float[N, 4] in original pixels, clipped; scores float[N])
        as torch tensors, best first."""
        import torch

        img = image if image.mode == "RGB" else image.convert("RGB")
        ((boxes, scores, _),) = self._proposals(img, regions, top_k, [label or self.label])
        return torch.from_numpy(boxes.copy()), torch.from_numpy(scores.copy())

    def verify(self, image: Image.Image, boxes: Sequence[Sequence[float]], label: Optional[str] = None) -> list[float]:
        """Verifier stage alone: p(``label``) (default: the primary label) for each box (original
        pixels), one batched forward."""
        self._require_verifier()
        if len(boxes) == 0:
            return []
        img = image if image.mode == "RGB" else image.convert("RGB")
        return self._verify(img, [list(map(float, b)) for b in boxes], label)

    def detect(self, image: Image.Image, regions: RegionSpec = None) -> list[dict[str, Any]]:
        """Detections for one PIL image: [{"label", "score", "box": [x1, y1, x2, y2]}], best first,
        every class in ``labels`` (the bot taps the first ``close`` on an ad, the first
        ``watch_ad`` on a game screen).

        ``regions`` overrides the instance's region setting for this call."""
        return self.detect_with_candidates(image, regions)[0]

    def detect_with_candidates(self, image: Image.Image, regions: RegionSpec = None
                               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``detect``, and every proposal the verifier saw: [{"label", "box", "detector_score", "p",
        "threshold", "passed"}] in the order verified (field recording keeps them)."""
        self._require_verifier()
        img = image if image.mode == "RGB" else image.convert("RGB")
        props = [(b, s, c) for boxes, scores, c in self._proposals(img, regions, None, self.labels)
                 for b, s in zip(boxes.tolist(), scores.tolist())]
        if not props:
            return [], []
        probs = self._probs(img, [p[0] for p in props])
        out, seen = [], []
        for (box, s, c), row in zip(props, probs):
            p = float(row[self.cls_index[c]])
            passed = p >= self.cls_thresholds[c]
            seen.append({"label": c, "box": [round(v, 1) for v in box], "detector_score": round(float(s), 6),
                         "p": round(p, 6), "threshold": self.cls_thresholds[c], "passed": passed})
            if not passed:
                continue
            score = final_score(s, p)
            out.append({"label": c, "score": min(max(round(score, 6), 0.0), 1.0),
                        "box": [round(v, 1) for v in box]})
        out.sort(key=lambda d: d["score"], reverse=True)
        return out, seen

    def detect_bytes(self, data: bytes, name: str = "<bytes>", regions: RegionSpec = None,
                     candidates: Optional[list] = None) -> dict[str, Any]:
        """One JSON entry for encoded image bytes (PNG, JPEG, ...); ``error`` when undecodable.
        ``candidates``: a list that receives every verified proposal (see ``detect_with_candidates``)."""
        t0 = time.perf_counter()
        try:
            img = decode_image(bytes(data))
        except Exception as exc:
            return {"image": name, "error": _reason(exc)}
        return self._entry(name, img, t0, regions, candidates)

    def detect_file(self, path: Union[str, os.PathLike], regions: RegionSpec = None,
                    candidates: Optional[list] = None) -> dict[str, Any]:
        """One JSON entry for an image file: ``{"image", "width", "height", "elapsed_ms", "detections"}``
        or ``{"image", "error"}`` when the file cannot be read or decoded. Never raises for a bad image."""
        t0 = time.perf_counter()
        try:
            if Path(path).is_dir():
                raise IsADirectoryError(f"{path} is a directory")
            img = read_image(path)
        except Exception as exc:
            return {"image": str(path), "error": _reason(exc)}
        return self._entry(str(path), img, t0, regions, candidates)

    def _entry(self, name: str, img: Image.Image, t0: float, regions: RegionSpec,
               candidates: Optional[list]) -> dict[str, Any]:
        try:
            dets, seen = self.detect_with_candidates(img, regions)
            if candidates is not None:
                candidates.extend(seen)
        except Exception as exc:  # e.g. a degenerate 1x1 image; keep the batch going
            return {"image": name, "error": f"inference failed: {_reason(exc)}"}
        return {"image": name, "width": int(img.width), "height": int(img.height),
                "elapsed_ms": round((time.perf_counter() - t0) * 1000, 2), "detections": dets}


_OBJECT_REPR = re.compile(r" ?<[^<>]* at 0x[0-9a-fA-F]+>")


def _reason(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    msg = _OBJECT_REPR.sub("", msg)  # PIL names the BytesIO it could not read: an address, no help to anyone
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def entry_to_container(entry: dict[str, Any]) -> DetectionResultContainer:
    """The old client's pickle payload for one JSON entry."""
    return DetectionResultContainer.from_dict(entry)
