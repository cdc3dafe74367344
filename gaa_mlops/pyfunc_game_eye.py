"""The MLflow pyfunc over GameEye weight files: a "model from code" (MLflow copies this file into
each logged model and runs it when the model loads; ``game_eye`` travels in the model's code/).

    model = mlflow.pyfunc.load_model("models:/gaa-game-eye@champion")
    model.predict(pd.DataFrame({"image": [base64.b64encode(png_bytes).decode()]}))
    mlflow models serve -m models:/gaa-game-eye@champion --env-manager local    # POST /invocations

What a model answers depends on the artifacts it was logged with (``gaa_mlops.logged_models``):

- ``ssd`` and ``resnet`` (gaa-game-eye, the pair as the bot uses it): per screenshot, the JSON entry
  of GameEye's CLI contract (``image``, ``width``, ``height``, ``elapsed_ms``, ``detections``);
- ``weights``, a detector weight file (gaa-ssd): per screenshot, ``{"proposals": [...]}``, the
  SSD's boxes after its calibrated threshold, NMS and top-k, as GameEye passes them to the verifier;
- ``weights``, a verifier weight file (gaa-resnet34): per crop (the proposal with its context),
  ``{"probabilities": {class: p}}``. A crop comes cut already, so the file's ``extra_crop_margins``
  (further contexts GameEye cuts from the screenshot) do not apply here; its mirror image does.

Input: a DataFrame with a column ``image`` of base64-encoded PNG/JPEG strings (what ``/invocations``
takes as JSON), or of raw bytes; a list of either, or one string / bytes, also works.
"""
from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel

IMAGE_COLUMN = "image"


def images_of(model_input: Any) -> list[bytes]:
    """The encoded images in ``model_input`` (DataFrame column ``image``, list, str or bytes)."""
    if hasattr(model_input, "columns"):
        if IMAGE_COLUMN not in model_input.columns:
            raise ValueError(f"input has no column {IMAGE_COLUMN!r} (columns: {list(model_input.columns)})")
        values = list(model_input[IMAGE_COLUMN])
    elif isinstance(model_input, (str, bytes, bytearray)):
        values = [model_input]
    else:
        values = list(model_input)
    out = []
    for i, v in enumerate(values):
        if isinstance(v, (bytes, bytearray)):
            out.append(bytes(v))
            continue
        try:
            out.append(base64.b64decode(str(v), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"input row {i}: {IMAGE_COLUMN!r} is neither bytes nor base64 ({exc})") from exc
    return out


class GameEyeModel(PythonModel):
    """GameEye behind MLflow's pyfunc interface; see the module docstring for the three kinds."""

    def load_context(self, context) -> None:
        from game_eye.archs import CLASSIFIER_ARCHS
        from game_eye.engine import GameEye
        from game_eye.weights import load_weights

        arts = context.artifacts
        self.kind, self.eye, self.classifier = None, None, None
        if "ssd" in arts and "resnet" in arts:
            self.kind, self.eye = "pair", GameEye(arts["ssd"], arts["resnet"])
            return
        doc = load_weights(arts["weights"])
        if doc["arch"] in CLASSIFIER_ARCHS:
            from game_eye.models import build_from_weights

            self.kind, self.doc = "verifier", doc
            self.classifier = build_from_weights(doc).eval()
            size = doc["image_size"]
            self.crop_size = int(size[0] if isinstance(size, (list, tuple)) else size)
        else:
            self.kind, self.eye = "detector", GameEye(arts["weights"], None, backend="eager")

    def predict(self, context, model_input, params=None) -> list[dict[str, Any]]:
        images = images_of(model_input)
        if self.kind == "pair":
            return [self.eye.detect_bytes(data, name=f"image_{i}") for i, data in enumerate(images)]
        from PIL import Image

        decoded = [Image.open(io.BytesIO(data)).convert("RGB") for data in images]
        if self.kind == "detector":
            out = []
            for img in decoded:
                boxes, scores = self.eye.propose(img)
                out.append({"proposals": [{"label": self.eye.label, "score": round(float(s), 6),
                                           "box": [round(float(v), 1) for v in b]}
                                          for b, s in zip(boxes.tolist(), scores.tolist())]})
            return out
        return self._probabilities(decoded)

    def _probabilities(self, crops) -> list[dict[str, Any]]:
        import torch

        from game_eye.crops import average_views, mirror_average_of, with_mirrors
        from game_eye.models import classifier_input

        size = (self.crop_size, self.crop_size)
        batch = [c.resize(size) for c in crops]
        mirror = mirror_average_of(self.doc) and bool(batch)
        if mirror:     # scored as GameEye scores it, the threshold in its file was chosen so
            batch = with_mirrors(batch)
        with torch.inference_mode():
            logits = self.classifier(classifier_input(batch))
            probs = torch.softmax(logits.float(), dim=1).numpy()
        if mirror:
            probs = average_views(probs, len(crops))
        classes = list(self.doc["classes"])
        return [{"probabilities": {c: round(float(p), 6) for c, p in zip(classes, row)}} for row in probs]


mlflow.models.set_model(GameEyeModel())
