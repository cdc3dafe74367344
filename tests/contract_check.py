#!/usr/bin/env python3
"""Check a GameEye JSON output against the contract in docs/architecture.md (a copy of the shared checker).

`breaches(doc, n_images=None)` returns the list of breaches (empty when the output holds).
The tests carry this copy because a user's clone has no ../shared.
"""
import json
import sys


def breaches(doc, n_images=None):
    out = []
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        return ["top level must be an object with a list 'images'"]
    ims = doc["images"]
    if n_images is not None and len(ims) != n_images:
        out.append(f"{len(ims)} entries, expected {n_images}")
    for i, e in enumerate(ims):
        where = f"images[{i}]"
        if not isinstance(e.get("image"), str):
            out.append(f"{where}: 'image' must be a string")
        if e.get("error"):
            continue
        for k, t in (("width", int), ("height", int), ("elapsed_ms", (int, float)), ("detections", list)):
            if not isinstance(e.get(k), t) or isinstance(e.get(k), bool):
                out.append(f"{where}: '{k}' missing or not {t}")
        dets = e.get("detections") if isinstance(e.get("detections"), list) else []
        scores = []
        for j, d in enumerate(dets):
            w = f"{where}.detections[{j}]"
            if not isinstance(d.get("label"), str):
                out.append(f"{w}: 'label' must be a string")
            s = d.get("score")
            if not isinstance(s, (int, float)) or not 0 <= s <= 1:
                out.append(f"{w}: 'score' must be a number in [0, 1]")
            else:
                scores.append(s)
            b = d.get("box")
            if not (isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b)):
                out.append(f"{w}: 'box' must be [x1, y1, x2, y2]")
            elif isinstance(e.get("width"), int) and isinstance(e.get("height"), int):
                if not (0 <= b[0] <= b[2] <= e["width"] and 0 <= b[1] <= b[3] <= e["height"]):
                    out.append(f"{w}: box {b} not inside the {e['width']}x{e['height']} image")
        if scores != sorted(scores, reverse=True):
            out.append(f"{where}: detections not sorted by score, highest first")
    return out


if __name__ == "__main__":
    n = int(sys.argv[sys.argv.index("--images") + 1]) if "--images" in sys.argv else None
    b = breaches(json.load(open(sys.argv[1])), n)
    print("\n".join(b) if b else "ok")
    sys.exit(1 if b else 0)
