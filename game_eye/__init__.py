"""GameEye: the close-button finder on the pytorch server (imports only torch, torchvision, numpy, pillow
and, for speed, onnxruntime; a cached ONNX export runs without torch).

Run ``python -m game_eye --help`` (one shot) or ``python -m game_eye serve --help`` (persistent).
In Python: ``from game_eye import GameEye`` (loaded lazily: importing ``game_eye`` alone is cheap).
"""


def __getattr__(name):
    if name == "GameEye":
        from .engine import GameEye

        return GameEye
    raise AttributeError(f"module 'game_eye' has no attribute {name!r}")
