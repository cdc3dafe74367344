"""GameEye latency per screenshot: the old setup (a), the plain eager models (b), GameEye as deployed (c).

    .venv/bin/python benchmarks/game_eye_latency.py                        # untrained default-config models
    .venv/bin/python benchmarks/game_eye_latency.py --ssd-weights S.pth --resnet-weights R.pth
    .venv/bin/python benchmarks/game_eye_latency.py --images 40 --warm-reps 3 --cold-runs 5 --proposals 10

All on the held-out screenshots ``projects/eval_screens/images/*.jpg``, in one run, interleaved
(the machine may be busy: only ratios measured side by side mean much):

  * warm: one process, both GameEye instances loaded; per screenshot, alternately, (b) then (c)
    ``detect_file`` (reading + decoding + preprocessing included); p50 / p95.
  * cold: process start -> the JSON file written, via subprocess, alternately (b) and (c).
  * (a) old setup (``benchmarks/old_setup.py``): SSD300-VGG16 on the top-left and top-right
    400x400 crops + ResNet34 at 224x224 per candidate crop, eager, a new process per screenshot;
    its per-screenshot latency IS its cold start (a few screenshots only: it is slow). Its two
    models are untrained, whatever weights (b) and (c) load: their latency does not depend on them.
  * (c'') as deployed with the verifier's mirror averaging switched the other way (on for a file
    without ``mirror_average``, off for one with it): what scoring the mirror images costs.
  * (c''') as deployed with extra crop margins switched the other way (the product's
    ``model.extra_crop_margins`` for a file without them, none for one with them): what the further contexts cost.
  * stage breakdown of (b) and (c): decode, resize, detector, verifier on K crops.

Latency does not depend on training except through the number of proposals: ``--proposals N``
(default GameEye's top_k, 5: the worst case) sets both thresholds to 0 and top_k to N so every
screenshot verifies exactly N crops. ``--proposals 0`` keeps the weight files' thresholds.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, cpu_note, default_weights, eval_images, median, pct, table  # noqa: E402

from game_eye.engine import DEFAULT_TOP_K  # noqa: E402

# the product verifier's further contexts (model.extra_crop_margins), for a file trained without them
EXTRA_MARGINS = tuple(yaml.safe_load((REPO / "conf" / "model" / "resnet34.yaml").read_text())["extra_crop_margins"])


def force_proposals(eye, n: int) -> None:
    """Thresholds 0 and top_k n: every screenshot gets n proposals, all verified and reported."""
    eye.det_threshold, eye._det_score_thresh, eye.cls_threshold, eye.top_k = 0.0, -1e-6, 0.0, n
    if eye._detector is not None:
        eye._detector.score_thresh = -1e-6


def wait_json(cmd: list[str], out: Path, timeout: float = 300) -> tuple[float, dict]:
    """Seconds from process start until ``out`` exists (the JSON is written atomically)."""
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not out.exists():
        if proc.poll() is not None and not out.exists():
            raise RuntimeError(f"{cmd[:4]}... exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            raise TimeoutError(cmd)
        time.sleep(0.002)
    dt = time.perf_counter() - t0
    proc.wait()
    return dt, json.loads(out.read_text())


def stage_breakdown(eye, files: list[str], reps: int) -> dict[str, list[float]]:
    from PIL import Image

    from game_eye.decode import read_image

    h, w = eye.det_size
    rows: dict[str, list[float]] = {"decode": [], "resize": [], "detector": [], "verifier": []}
    for _ in range(reps):
        for f in files:
            t = time.perf_counter()
            img = read_image(f)
            rows["decode"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            img.resize((w, h), Image.BILINEAR)
            rows["resize"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            boxes, _ = eye.propose(img)  # resize + detector + postprocess
            rows["detector"].append((time.perf_counter() - t) * 1000 - rows["resize"][-1])
            t = time.perf_counter()
            eye.verify(img, boxes.tolist())
            rows["verifier"].append((time.perf_counter() - t) * 1000)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ssd-weights")
    p.add_argument("--resnet-weights")
    p.add_argument("--proposals", type=int, default=DEFAULT_TOP_K,
                   help="force N proposals per screenshot (0: the files' thresholds)")
    p.add_argument("--images", type=int, default=20, help="screenshots for the warm measurement")
    p.add_argument("--warm-reps", type=int, default=1, help="passes over the screenshots (warm)")
    p.add_argument("--cold-runs", type=int, default=3, help="subprocess runs per setup (cold start)")
    p.add_argument("--old-runs", type=int, default=2, help="screenshots for the old setup (a), one process each")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every setup, (a) included (default: all cores; torch's default for (a))")
    a = p.parse_args()
    if bool(a.ssd_weights) != bool(a.resnet_weights):
        p.error("give both --ssd-weights and --resnet-weights, or neither")

    import torch

    from game_eye.engine import GameEye
    from game_eye.models import build_classifier, build_detector
    from game_eye.weights import save_weights

    print(f"# GameEye latency  ({cpu_note()})", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="ge_bench_"))
    ssd, res = (a.ssd_weights, a.resnet_weights) if a.ssd_weights else default_weights(tmp, 0.5)
    n = a.proposals
    files = eval_images(a.images)

    t = time.perf_counter()
    eye_c = GameEye(ssd, res, num_threads=a.threads)  # as deployed: backend auto
    export_ms = (time.perf_counter() - t) * 1000
    eye_b = GameEye(ssd, res, num_threads=a.threads, backend="eager")
    eye_f = GameEye(ssd, res, num_threads=a.threads, precision="fp32")   # deployed path, float verifier
    eye_m = GameEye(ssd, res, num_threads=a.threads)
    eye_m.mirror_average = not eye_c.mirror_average
    eye_x = GameEye(ssd, res, num_threads=a.threads)
    eye_x.extra_margins = () if eye_c.extra_margins else EXTRA_MARGINS
    if n:
        for e in (eye_b, eye_c, eye_f, eye_m, eye_x):
            force_proposals(e, n)
    print(f"deployed backend: {eye_c.backend}, verifier {eye_c.precision}; first load incl. ONNX export "
          f"(once per weight file): {export_ms:.0f} ms; proposals per screenshot: {n or 'from the files thresholds'}; "
          f"{len(files)} screenshots x {a.warm_reps} passes", flush=True)

    # ---- warm, interleaved
    for e in (eye_b, eye_c, eye_f, eye_m, eye_x):
        e.detect_file(files[0])
    warm = {"b": [], "c": [], "f": [], "m": [], "x": []}
    mismatches, score_gap = 0, 0.0
    for _ in range(a.warm_reps):
        for f in files:
            eb, ec, ef, em = eye_b.detect_file(f), eye_c.detect_file(f), eye_f.detect_file(f), eye_m.detect_file(f)
            ex = eye_x.detect_file(f)
            for k, e in (("b", eb), ("c", ec), ("f", ef), ("m", em), ("x", ex)):
                warm[k].append(e["elapsed_ms"])
            same = len(eb["detections"]) == len(ef["detections"]) and all(
                max(abs(u - v) for u, v in zip(x["box"], y["box"])) <= 1 and abs(x["score"] - y["score"]) <= 1e-3
                for x, y in zip(eb["detections"], ef["detections"]))
            mismatches += not same
            gaps = [abs(x["score"] - y["score"]) for x, y in zip(ef["detections"], ec["detections"])]
            score_gap = max([score_gap, *gaps])
    print(f"onnx fp32 vs (b) eager: detections differ (>1 px or >1e-3) on {mismatches} of {len(warm['c'])} "
          f"screenshots; int8 vs fp32 verifier: largest final-score gap {score_gap:.4f}", flush=True)

    stages = {k: stage_breakdown(e, files[:10], 1) for k, e in (("b", eye_b), ("c", eye_c), ("f", eye_f))}

    # ---- (c) by number of proposals verified (a trained detector proposes few on most screens)
    sweep = []
    for k in (0, 1, 3, 5, 8, 10):
        force_proposals(eye_c, max(k, 1))
        if k == 0:
            eye_c.det_threshold, eye_c._det_score_thresh = 1.1, 1.1  # nothing passes: detector only
        ms = [eye_c.detect_file(f)["elapsed_ms"] for f in files]
        sweep.append([str(k), median(ms), pct(ms, 95)])
    if n:
        force_proposals(eye_c, n)

    # ---- cold start, interleaved: (b) eager CLI, (c) deployed CLI, (a) old setup
    out = tmp / "out.json"
    extra = (["--top-k", str(n)] if n else []) + (["--threads", str(a.threads)] if a.threads else [])
    base = [sys.executable, "-m", "game_eye", "--ssd-weights", ssd, "--resnet-weights", res, "--json", str(out), *extra]
    old_w = tmp / "ssd300.pth"
    torch.manual_seed(0)
    torch.save(build_detector("ssd300_vgg16", 2, (300, 300)).state_dict(), old_w)
    old_res = save_weights(tmp / "resnet34.pth", dict(      # the old verifier, whatever arch (c) runs
        arch="resnet34", num_classes=2, classes=["close", "not_close"], image_size=224, model_kwargs={},
        state_dict=build_classifier("resnet34", 2).state_dict(), score_threshold=0.5))
    per_crop = max(1, -(-(n or DEFAULT_TOP_K) // 2))  # both corners together verify at least as many crops as (c)
    old = [sys.executable, str(REPO / "benchmarks" / "old_setup.py"), "--ssd300", str(old_w), "--resnet", str(old_res),
           "--json", str(out), "--per-crop", str(per_crop)] + (["--threads", str(a.threads)] if a.threads else [])
    cold = {"a": [], "b": [], "c": []}
    old_compute = []
    for i in range(max(a.cold_runs, a.old_runs)):
        f = files[i % len(files)]
        if i < a.cold_runs:
            cold["b"].append(wait_json(base + ["--backend", "eager", f], out)[0] * 1000)
            cold["c"].append(wait_json(base + [f], out)[0] * 1000)
        if i < a.old_runs:
            dt, doc = wait_json(old + [f], out)
            cold["a"].append(dt * 1000)
            old_compute.append(doc["images"][0]["elapsed_ms"])
        print(f"  cold run {i + 1} done", flush=True)

    # ---- tables
    names = {"a": "(a) old: SSD300-VGG16 2 crops + ResNet34@224 looped, process/shot",
             "b": "(b) own models, plain eager (--backend eager)",
             "c": f"(c) GameEye as deployed (--backend auto -> {eye_c.backend}, verifier {eye_c.precision})",
             "f": "(c') as deployed but --precision fp32",
             "m": f"(c'') as deployed, mirror averaging {'on' if eye_m.mirror_average else 'off'}",
             "x": f"(c''') as deployed, extra crop margins {'on' if eye_x.extra_margins else 'off'}"}
    rows = []
    for k in "abcfmx":
        w = cold["a"] if k == "a" else warm[k]  # (a) starts a process per screenshot: that is its latency
        rows.append([names[k], median(w), pct(w, 95), median(cold[k]) if cold.get(k) else float("nan"), len(w)])
    print()
    print(table(["setup", "per-shot p50 ms", "p95 ms", "cold start ms", "n"], rows,
                "Latency per screenshot incl. reading + preprocessing (warm for b, c; (a) is one process per shot)"))
    print(f"(a) in-process compute only (excluding imports and model load): p50 {median(old_compute):.0f} ms")
    c50, b50, a50 = median(warm["c"]), median(warm["b"]), median(cold["a"])
    print()
    print(table(["ratio", "p50", "cold start"], [
        ["(a) / (c)", f"{a50 / c50:.1f}x", f"{median(cold['a']) / median(cold['c']):.1f}x"],
        ["(b) / (c)", f"{b50 / c50:.1f}x", f"{median(cold['b']) / median(cold['c']):.1f}x"],
        ["(c') / (c): int8 verifier", f"{median(warm['f']) / c50:.2f}x", ""],
        [f"(c'') / (c): mirror averaging {'on' if eye_m.mirror_average else 'off'}",
         f"{median(warm['m']) / c50:.2f}x", ""],
        [f"(c''') / (c): extra crop margins {'on' if eye_x.extra_margins else 'off'}",
         f"{median(warm['x']) / c50:.2f}x", ""],
        ["(a) / (c) warm-vs-warm: (a) compute only", f"{median(old_compute) / c50:.1f}x", ""]], "Speed-up"))
    print()
    rows = [[st, median(stages["b"][st]), median(stages["f"][st]), median(stages["c"][st]), pct(stages["c"][st], 95)]
            for st in stages["b"]]
    print(table(["stage", "(b) eager p50 ms", "(c') fp32 p50 ms", "(c) deployed p50 ms", "(c) p95 ms"], rows,
                f"Stage breakdown (10 screenshots; verifier on {n or 'the'} crops)"))
    print()
    print(table(["proposals verified", "(c) p50 ms", "(c) p95 ms"], sweep,
                "GameEye as deployed, by the number of proposals the verifier checks (top_k caps it)"))
    print(f"\ntargets (issue 7): warm p50 <= 30 ms: {c50:.1f} ms; cold start <= 2000 ms: "
          f"{median(cold['c']):.0f} ms; >= 25x faster than (a): {a50 / c50:.1f}x")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
