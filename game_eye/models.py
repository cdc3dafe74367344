"""Model builders for both stages, shared by training (gaa_mlops) and the runtime (GameEye).

Everything here rebuilds a model from plain values stored in a weight file, so GameEye needs
no config and no MLflow. Nothing is ever downloaded: every builder passes ``weights=None`` and
``weights_backbone=None``.

Detector archs:
  * ``ssd_tiny``: torchvision ``SSD`` with a small plain-conv backbone (stride 8/16/32 feature
    maps) and pixel-square anchors sized for close buttons on a downscaled portrait screenshot;
    ``class_prior`` (model_kwargs) initialises its class scores to that probability.
    It learns far more per CPU minute than the MobileNet/VGG backbones (benchmarks/learning_speed.py).
  * ``ssdlite320_mobilenet_v3_large`` and ``ssd300_vgg16``: torchvision's builders, from scratch.
Classifier archs: ``resnet34`` (and ``resnet18`` for tiny tests), from scratch.
"""
from __future__ import annotations

import math
import os
from collections import OrderedDict
from typing import Any, Sequence, Union

import torch
from torch import nn
from torchvision.models import resnet18, resnet34
from torchvision.models.detection import ssd300_vgg16, ssdlite320_mobilenet_v3_large
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.ssd import SSD, SSDHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from .archs import CLASSIFIER_ARCHS, DETECTOR_ARCHS  # noqa: F401  (re-exported: public names)
from .weights import WeightFileError, load_weights

# ImageNet statistics: a conventional normalisation, not a pretrained-weights dependency.
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyBackbone(nn.Module):
    """Five stride-2 stages of two 3x3 conv-BN-ReLU each; returns the stride 8, 16 and 32 maps."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 128, 128)):
        super().__init__()
        stages, cin = [], 3
        for cout in channels:
            stages.append(nn.Sequential(_conv_bn_relu(cin, cout, 2), _conv_bn_relu(cout, cout, 1)))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.out_channels = list(channels[2:])

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        feats = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= 2:
                feats[str(i - 2)] = x
        return feats


class PixelBoxGenerator(nn.Module):
    """SSD default boxes given in pixels, square in pixels whatever the input's aspect ratio.

    torchvision's DefaultBoxGenerator scales boxes by the image's width and height separately,
    so on a portrait input its "square" boxes are tall rectangles; close buttons are square.
    """

    def __init__(self, sizes: Sequence[Sequence[float]], aspect_ratios: Sequence[float] = (1.0,)):
        super().__init__()
        self.sizes = [list(map(float, s)) for s in sizes]
        self.aspect_ratios = [list(map(float, aspect_ratios)) for _ in sizes]

    def num_anchors_per_location(self) -> list[int]:
        return [len(s) * len(a) for s, a in zip(self.sizes, self.aspect_ratios)]

    def _level_boxes(self, level: int, grid: Sequence[int], image_size: Sequence[int], dtype) -> torch.Tensor:
        gh, gw = int(grid[0]), int(grid[1])
        sy, sx = image_size[0] / gh, image_size[1] / gw
        wh = torch.tensor(
            [[s * a**0.5, s / a**0.5] for s in self.sizes[level] for a in self.aspect_ratios[level]], dtype=dtype
        )
        cy, cx = torch.meshgrid(
            (torch.arange(gh, dtype=dtype) + 0.5) * sy, (torch.arange(gw, dtype=dtype) + 0.5) * sx, indexing="ij"
        )
        centers = torch.stack([cx, cy], dim=-1).reshape(-1, 1, 2)
        half = (wh / 2).reshape(1, -1, 2)
        return torch.cat([centers - half, centers + half], dim=-1).reshape(-1, 4)

    def forward(self, image_list: ImageList, feature_maps: list[torch.Tensor]) -> list[torch.Tensor]:
        image_size = image_list.tensors.shape[-2:]
        dtype, device = feature_maps[0].dtype, feature_maps[0].device
        boxes = torch.cat(
            [self._level_boxes(i, f.shape[-2:], image_size, dtype) for i, f in enumerate(feature_maps)]
        ).to(device)
        return [boxes for _ in image_list.image_sizes]


class SizedTransform(GeneralizedRCNNTransform):
    """torchvision's detection transform that takes an image no larger than ``fixed_size`` as it is.

    Datasets are built at the model's size, so the resize would only cost time (~5% of a training
    step for a bilinear resize to the same size); and a training band of a screen
    (``DetectionDataset(window=...)``) must keep its scale, not be stretched to the whole screen."""

    def resize(self, image: torch.Tensor, target=None):
        if self.fixed_size is not None and image.shape[-2] <= self.fixed_size[1] and \
                image.shape[-1] <= self.fixed_size[0]:
            return image, target
        return super().resize(image, target)


def _sized(transform: GeneralizedRCNNTransform) -> SizedTransform:
    return SizedTransform(transform.min_size, transform.max_size, transform.image_mean, transform.image_std,
                          size_divisible=transform.size_divisible, fixed_size=transform.fixed_size)


def _init_class_prior(head: SSDHead, num_classes: int, prior: float) -> None:
    """Start every anchor at p(each target class) = ``prior`` instead of 1/num_classes (RetinaNet's
    prior initialisation): the untrained detector already says "background" almost everywhere, so
    the first steps are not spent unlearning a uniform guess."""
    if not 0 < prior * (num_classes - 1) < 1:
        raise ValueError(f"class_prior {prior} must lie in (0, 1/(num_classes - 1))")
    bias = torch.full((num_classes,), math.log(prior))
    bias[0] = math.log(1 - prior * (num_classes - 1))
    for conv in head.classification_head.module_list:
        with torch.no_grad():
            conv.bias.copy_(bias.repeat(conv.bias.numel() // num_classes))


def build_detector(arch: str, num_classes: int, image_size: Sequence[int], **kwargs: Any) -> nn.Module:
    """Build an untrained detector; ``num_classes`` counts background. ``image_size`` is [H, W]."""
    h, w = int(image_size[0]), int(image_size[1])
    common = dict(
        score_thresh=float(kwargs.get("score_thresh", 0.01)),
        nms_thresh=float(kwargs.get("nms_thresh", 0.45)),
        detections_per_img=int(kwargs.get("detections_per_img", 20)),
        topk_candidates=int(kwargs.get("topk_candidates", 100)),
    )
    if arch == "ssd_tiny":
        channels = kwargs.get("channels", (16, 32, 64, 128, 128))
        sizes = kwargs.get("anchor_sizes", ((12, 18), (26, 38), (54, 80)))
        backbone = TinyBackbone(channels)
        anchors = PixelBoxGenerator(sizes, kwargs.get("aspect_ratios", (1.0,)))
        head = SSDHead(backbone.out_channels, anchors.num_anchors_per_location(), num_classes)
        if kwargs.get("class_prior"):
            _init_class_prior(head, num_classes, float(kwargs["class_prior"]))
        model = SSD(backbone, anchors, (h, w), num_classes, IMAGE_MEAN, IMAGE_STD, head=head, **common)
        model.transform.fixed_size = (w, h)  # see the note below
        model.transform = _sized(model.transform)
        return model
    if arch == "ssdlite320_mobilenet_v3_large":
        model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes, **common)
    elif arch == "ssd300_vgg16":
        model = ssd300_vgg16(weights=None, weights_backbone=None, num_classes=num_classes, **common)
    else:
        raise ValueError(f"unknown detector arch {arch!r}; valid: {list(DETECTOR_ARCHS)}")
    # torchvision's GeneralizedRCNNTransform reads ``fixed_size`` as (W, H) (it resizes to
    # [fixed_size[1], fixed_size[0]]); (h, w) would squash a portrait [576, 320] input to 320x576.
    model.transform.fixed_size = (w, h)
    model.transform = _sized(model.transform)
    return model


def build_classifier(arch: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build an untrained crop verifier. ``zero_init_residual`` (model_kwargs): every residual block
    starts as the identity (torchvision's option; trains faster from scratch)."""
    builders = {"resnet34": resnet34, "resnet18": resnet18}
    if arch not in builders:
        raise ValueError(f"unknown classifier arch {arch!r}; valid: {list(CLASSIFIER_ARCHS)}")
    return builders[arch](weights=None, num_classes=num_classes,
                          zero_init_residual=bool(kwargs.get("zero_init_residual", False)))


def build_from_weights(doc: dict[str, Any]) -> nn.Module:
    """Rebuild the model described by a loaded weight file and load its state_dict (eval mode)."""
    kwargs = dict(doc.get("model_kwargs") or {})
    if doc["arch"] in DETECTOR_ARCHS:
        model = build_detector(doc["arch"], doc["num_classes"], doc["image_size"], **kwargs)
    else:
        model = build_classifier(doc["arch"], doc["num_classes"], **kwargs)
    model.load_state_dict(doc["state_dict"])
    return model.eval()


def load_model(path: Union[str, os.PathLike], archs: Sequence[str], flag: str) -> tuple[dict[str, Any], nn.Module]:
    """(weight document, model in eval mode) of a weight file whose arch is one of ``archs``;
    ``flag`` (``--ssd-weights``) names the file in the error when it does not rebuild."""
    doc = load_weights(path, expect_arch=tuple(archs))
    try:
        model = build_from_weights(doc)
    except Exception as exc:  # state_dict shape mismatch, bad model_kwargs, ...
        raise WeightFileError(f"weight file {path} ({flag}) does not rebuild as {doc['arch']!r}: "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
    return doc, model.eval()


def classifier_input(crops: Sequence[Any]) -> torch.Tensor:
    """Batch of RGB PIL crops (all the same size) -> float NCHW tensor normalised with
    IMAGE_MEAN/IMAGE_STD: the verifier's input convention, in training and in GameEye."""
    import numpy as np

    arr = np.stack([np.asarray(c.convert("RGB"), dtype=np.uint8) for c in crops])
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)
    return normalize_classifier_batch(x)


def normalize_classifier_batch(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] NCHW batch -> the classifier's normalised input (training applies the same)."""
    mean = torch.tensor(IMAGE_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()
