"""The OLD GameEye setup, kept only as the latency baseline (a) for ``game_eye_latency.py``.

    .venv/bin/python benchmarks/old_setup.py --ssd300 SSD300.pth --resnet RESNET.pth --json OUT IMAGE

One process per screenshot, eager PyTorch: SSD300-VGG16 on the top-left and top-right 400x400
crops (each resized to 300x300 by the model's transform), then ResNet34 at 224x224 on each
candidate crop, one forward per crop (as the old code did). ``--per-crop N`` forces N candidates
per crop (thresholds 0), so the verifier's work matches the new setup's proposal count.
"""
import argparse
import json
import sys
import time
from pathlib import Path

T_START = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from game_eye.models import build_classifier, build_detector, classifier_input  # noqa: E402

CROP = 400


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ssd300", required=True, help="state_dict of build_detector('ssd300_vgg16', 2, (300, 300))")
    p.add_argument("--resnet", required=True, help="gaa-weights/1 file of a resnet34")
    p.add_argument("--json", required=True)
    p.add_argument("--per-crop", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument("image")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    det = build_detector("ssd300_vgg16", 2, (300, 300), score_thresh=0.0, detections_per_img=a.per_crop)
    det.load_state_dict(torch.load(a.ssd300, map_location="cpu", weights_only=True))
    det.eval()
    doc = torch.load(a.resnet, map_location="cpu", weights_only=True)
    cls = build_classifier("resnet34", doc["num_classes"])
    cls.load_state_dict(doc["state_dict"])
    cls.eval()
    t0 = time.perf_counter()
    img = Image.open(a.image).convert("RGB")
    W, H = img.size
    out = []
    with torch.inference_mode():
        for ox in (0, max(W - CROP, 0)):
            crop = img.crop((ox, 0, ox + CROP, CROP))
            x = torch.from_numpy(__import__("numpy").asarray(crop)).permute(2, 0, 1).float() / 255
            r = det([x])[0]
            for box, score in zip(r["boxes"][: a.per_crop].tolist(), r["scores"].tolist()):
                b = [box[0] + ox, box[1], box[2] + ox, box[3]]
                c = img.crop(tuple(round(v) for v in b)).resize((224, 224), Image.BILINEAR)
                p_close = torch.softmax(cls(classifier_input([c])), 1)[0, 0].item()
                out.append({"label": "close", "score": (score * p_close) ** 0.5, "box": b})
    out.sort(key=lambda d: d["score"], reverse=True)
    entry = {"image": a.image, "width": W, "height": H, "elapsed_ms": (time.perf_counter() - t0) * 1000,
             "process_ms": (time.perf_counter() - T_START) * 1000, "detections": out}
    Path(a.json).write_text(json.dumps({"images": [entry]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
