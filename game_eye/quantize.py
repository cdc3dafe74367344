"""int8 static quantization of the exported verifier graph (ONNX Runtime, QDQ, per-channel weights).

The verifier (ResNet34 on every proposal) is most of GameEye's time per screenshot on a CPU. Static
int8 needs activation ranges from real inputs: training stores a few of its validation crops in the
weight file (``calibration_crops``: uint8 [N, S, S, 3]), so the server quantizes from the weight
file alone, with no dataset at hand. A file without them stays float32.

    from game_eye.quantize import quantize_verifier
    quantize_verifier(fp32_onnx, int8_onnx, crops_uint8_nhwc)
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

CALIBRATION_KEY = "calibration_crops"


class _Crops:
    """onnxruntime's CalibrationDataReader over uint8 NHWC crops, a few at a time."""

    def __init__(self, input_name: str, crops: np.ndarray, batch: int = 8):
        self.batches = iter([{input_name: crops[i:i + batch]} for i in range(0, len(crops), batch)])

    def get_next(self):
        return next(self.batches, None)


def quantize_verifier(fp32_path: Path, out_path: Path, crops: np.ndarray) -> None:
    """Write the int8 (QDQ) twin of the float verifier graph ``fp32_path`` to ``out_path``,
    calibrated (min/max) on ``crops`` (uint8 [N, S, S, 3])."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    crops = np.ascontiguousarray(crops, dtype=np.uint8)
    if crops.ndim != 4 or crops.shape[-1] != 3 or len(crops) == 0:
        raise ValueError(f"calibration crops must be uint8 [N, S, S, 3] with N > 0, got {crops.shape}")
    input_name = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        quant_pre_process(str(fp32_path), str(prepped), skip_symbolic_shape=True)
        quantize_static(str(prepped), str(out_path), _Crops(input_name, crops),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
