"""The bot's route, screenshot on the bot -> detections back on the bot, through a real OpenSSH sshd
on 127.0.0.1 that this script starts, and the compute floor of GameEye itself.

    .venv/bin/python benchmarks/bot_route.py --ssd-weights S.pth --resnet-weights R.pth [--shots 50]
    .venv/bin/python benchmarks/bot_route.py            # untrained default-config models (latency only)

Screenshots: the held-out ``eval_screens`` re-encoded as PNG (what a phone's screencap gives), one
720x1280 and one 1080x2340 group. Per screenshot, interleaved, side by side in one run:

  (a) the old route: ``scp`` the PNG, ``ssh`` exec ``python -m game_eye ... --json OUT`` (a new
      process), ``scp`` the JSON back; OpenSSH binaries, one connection each, as the diary's scripts;
  (b) the old route with a warm server: ``scp`` the PNG, ``ssh`` exec ``curl -X POST
      'http://127.0.0.1:PORT/detect?path=...'`` against ``game_eye serve --path-root``;
  (c) ``game_eye.client``: one SSH connection, the PNG bytes through a direct-tcpip channel to the
      same ``game_eye serve``; and the same to a second ``serve --record --record-when all`` (the
      cost of field recording per reply).

Then compute alone, in-process, warm (decode included), interleaved per screenshot: eager PyTorch,
ONNX fp32, as deployed (ONNX, int8 verifier, libspng decode) and as deployed with Pillow's decoder; each one's click
success and false taps on eval_screens (PNG) at the weight files' own thresholds; and the
deployed path's stages: decode, resize, detector, NMS and the rest of the post-processing, crops,
verifier.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVAL_IMAGES, REPO, cpu_note, default_weights, median, pct, table  # noqa: E402

SIZES = {"720x1280": (720, 1280), "1080x2340": (1080, 2340)}


def png_screens(out: Path) -> dict[str, list[Path]]:
    """eval_screens as PNG files, grouped by size (all of them: the quality numbers use every one)."""
    from PIL import Image

    groups: dict[str, list[Path]] = {k: [] for k in SIZES}
    for f in sorted(EVAL_IMAGES.glob("*.jpg")):
        with Image.open(f) as im:
            im = im.convert("RGB")
            for k, size in SIZES.items():
                if im.size == size:
                    path = out / f"{f.stem}.png"
                    im.save(path)  # Pillow's default zlib level, as a screencap's PNG
                    groups[k].append(path)
    return groups


def truths() -> dict[str, list[list[float]]]:
    doc = json.loads((EVAL_IMAGES.parent / "annotations.json").read_text())
    names = {im["id"]: Path(im["file_name"]).stem for im in doc["images"]}
    out: dict[str, list[list[float]]] = {n: [] for n in names.values()}
    for a in doc["annotations"]:
        x, y, w, h = a["bbox"]
        out[names[a["image_id"]]].append([x, y, x + w, y + h])
    return out


class OpenSsh:
    """The old route's tools: the OpenSSH ``ssh`` and ``scp`` binaries, host key checked."""

    def __init__(self, server):
        self.target = f"{server.user}@{server.host}"
        opts = ["-i", str(server.client_key_file), "-o", f"UserKnownHostsFile={server.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                "-o", "LogLevel=ERROR"]
        self.ssh = ["ssh", "-p", str(server.port), *opts, self.target]
        self.scp = ["scp", "-q", "-P", str(server.port), *opts]

    def put(self, local: Path, remote: str) -> None:
        subprocess.run([*self.scp, str(local), f"{self.target}:{remote}"], check=True)

    def get(self, remote: str, local: Path) -> None:
        subprocess.run([*self.scp, f"{self.target}:{remote}", str(local)], check=True)

    def run(self, command: str) -> str:
        return subprocess.run([*self.ssh, command], check=True, capture_output=True, text=True).stdout


def route_a(tools: OpenSsh, shot: Path, remote_dir: Path, ssd: str, res: str) -> dict:
    tools.put(shot, f"{remote_dir}/shot.png")
    tools.run(f"cd {REPO} && {sys.executable} -m game_eye --ssd-weights {ssd} --resnet-weights {res} "
              f"--json {remote_dir}/out.json {remote_dir}/shot.png")
    local = remote_dir / "back.json"
    tools.get(f"{remote_dir}/out.json", local)
    return json.loads(local.read_text())["images"][0]


def route_b(tools: OpenSsh, shot: Path, remote_dir: Path, port: int) -> dict:
    tools.put(shot, f"{remote_dir}/shot.png")
    return json.loads(tools.run(f"curl -s -X POST 'http://127.0.0.1:{port}/detect?path=shot.png'"))


def timed(fn, *args) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - t) * 1000, out


def stages(eye, shots: list[Path]) -> dict[str, list[float]]:
    """The deployed path's stages, one screenshot at a time (the calls GameEye.detect makes, timed apart)."""
    import numpy as np
    from PIL import Image

    from game_eye import decode
    from game_eye.crops import verifier_crop

    h, w = eye.det_size
    names = ("decode (libspng)", "decode (Pillow)", "resize", "detector", "detector post-processing (NMS)",
             "crops", "verifier")
    rows: dict[str, list[float]] = {k: [] for k in names}
    spng = decode.pyspng
    for shot in shots:
        data = shot.read_bytes()
        decode.pyspng = None
        rows["decode (Pillow)"].append(timed(decode.decode_image, data)[0])
        decode.pyspng = spng
        ms, img = timed(decode.decode_image, data)
        rows["decode (libspng)"].append(ms)
        ms, small = timed(lambda: np.asarray(img.resize((w, h), Image.BILINEAR), dtype=np.uint8))
        rows["resize"].append(ms)
        ms, raw = timed(eye._onnx_det.forward, small)
        rows["detector"].append(ms)
        rows["detector post-processing (NMS)"].append(timed(eye._onnx_det.postprocess, *raw,
                                                            eye._det_score_thresh)[0])
        boxes = [b for bx, _, _ in eye._proposals(img, None, None, eye.labels) for b in bx.tolist()]
        if not boxes:
            continue
        ms, crops = timed(lambda: np.stack([np.asarray(verifier_crop(img, b, eye.cls_size, eye.crop_margin))
                                            for b in boxes]))
        rows["crops"].append(ms)
        rows["verifier"].append(timed(eye._onnx_cls.probabilities, crops)[0])
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ssd-weights")
    p.add_argument("--resnet-weights")
    p.add_argument("--shots", type=int, default=50, help="screenshots per size for the routes (>= 50 for p95)")
    p.add_argument("--quality-screens", type=int, default=None,
                   help="eval_screens per size for compute and quality (default: all of them)")
    a = p.parse_args()
    if bool(a.ssd_weights) != bool(a.resnet_weights):
        p.error("give both --ssd-weights and --resnet-weights, or neither")

    print(f"# The bot's route  ({cpu_note()})", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bot_route_"))
    try:
        return _measure(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)   # weights, ONNX exports and 170 screenshots: ~160 MB


def _measure(a: argparse.Namespace, tmp: Path) -> int:
    from gaa_mlops.evaluation.metrics import evaluate_screens
    from game_eye import decode
    from game_eye.client import GameEyeClient
    from game_eye.engine import GameEye
    from tests.sshd import SshServer, free_port

    ssd, res = (a.ssd_weights, a.resnet_weights) if a.ssd_weights else default_weights(tmp, 0.5)
    ssd, res = str(Path(ssd).resolve()), str(Path(res).resolve())
    groups = {size: shots[: a.quality_screens] for size, shots in png_screens(tmp).items()}
    GameEye(ssd, res)  # the ONNX export (once per weight file) is not what any route pays per shot

    server = SshServer.start(tmp / "sshd")
    remote_dir = tmp / "remote"
    remote_dir.mkdir()
    port = free_port()
    command = (f"cd {REPO} && exec {sys.executable} -m game_eye serve --ssd-weights {ssd} --resnet-weights {res} "
               f"--port {{port}} --path-root {remote_dir}")
    login = dict(user=server.user, key_file=str(server.client_key_file), known_hosts=str(server.known_hosts),
                 port=server.port, start_timeout=180)
    client = GameEyeClient(server.host, serve_port=port, server_command=command, server_log=str(tmp / "serve.log"),
                           **login)
    recording = GameEyeClient(server.host, serve_port=free_port(), server_log=str(tmp / "serve-rec.log"),
                              server_command=command.replace(f"--path-root {remote_dir}",
                                                             f"--record {tmp / 'field'} --record-when all "
                                                             "--record-max-mb 200 --record-min-free-mb 0"), **login)
    tools = OpenSsh(server)
    try:
        client.health()  # starts the servers: their start-up is not per-shot latency either
        recording.health()
        routes = {}
        for size, shots in groups.items():
            shots = (shots * (a.shots // max(len(shots), 1) + 1))[: a.shots]
            got = {"a": [], "b": [], "c": [], "r": []}
            same = 0
            for i, shot in enumerate(shots):
                ms_a, ea = timed(route_a, tools, shot, remote_dir, ssd, res)
                ms_b, eb = timed(route_b, tools, shot, remote_dir, port)
                ms_c, ec = timed(client.detect, shot.read_bytes())
                got["r"].append(timed(recording.detect, shot.read_bytes())[0])
                got["a"].append(ms_a)
                got["b"].append(ms_b)
                got["c"].append(ms_c)
                same += ea["detections"] == eb["detections"] == ec["detections"]
                if (i + 1) % 10 == 0:
                    print(f"  {size}: {i + 1}/{len(shots)} shots through (a), (b), (c)", flush=True)
            routes[size] = (got, same, len(shots))
        record_stats = recording.health()["record"]
    finally:
        _stop(client)
        _stop(recording)
        server.stop()

    eyes = {"eager PyTorch": GameEye(ssd, res, backend="eager"),
            "ONNX fp32": GameEye(ssd, res, precision="fp32"),
            "deployed (ONNX, int8 verifier, libspng)": GameEye(ssd, res)}
    deployed = eyes["deployed (ONNX, int8 verifier, libspng)"]
    gt = truths()
    all_shots = [s for shots in groups.values() for s in shots]
    variants = [*eyes.items(), ("deployed with Pillow's decoder", deployed)]
    spng = decode.pyspng
    compute = {name: {k: [] for k in SIZES} for name, _ in variants}
    dets: dict[str, list] = {name: [] for name, _ in variants}
    for name, eye in variants:
        eye.detect_bytes(all_shots[0].read_bytes())  # warm
    for size, shots in groups.items():
        for shot in shots:  # interleaved: the variants share whatever else the machine is doing
            data = shot.read_bytes()
            for name, eye in variants:
                decode.pyspng = None if name.endswith("Pillow's decoder") else spng
                ms, entry = timed(eye.detect_bytes, data)
                compute[name][size].append(ms)
                dets[name].append(entry["detections"])
            decode.pyspng = spng
        print(f"  compute: {size} done", flush=True)
    quality = {name: evaluate_screens([gt[s.stem] for s in all_shots], dets[name])[1] for name, _ in variants}
    stage_rows = {size: stages(deployed, shots[:20]) for size, shots in groups.items()}

    print()
    rows = []
    for size, (got, same, n) in routes.items():
        for k, name in (("a", "(a) scp + ssh exec CLI + scp back"), ("b", "(b) scp + ssh exec curl (warm serve)"),
                        ("c", "(c) game_eye.client"), ("r", "(c) to a serve --record (every frame kept)")):
            rows.append([f"{size} PNG", name, median(got[k]), pct(got[k], 95), n])
        rows.append([f"{size} PNG", "identical detections (a) = (b) = (c)", f"{same} of {n}", "", ""])
    print(table(["screenshot", "route (screenshot on the bot -> JSON on the bot)", "p50 ms", "p95 ms", "n"], rows,
                "Bot route over a real OpenSSH sshd on 127.0.0.1"))
    print()
    rows = []
    for size, (got, _, _) in routes.items():
        c50 = median(got["c"])
        rows.append([f"{size} PNG", f"{median(got['a']) / c50:.1f}x", f"{median(got['b']) / c50:.1f}x"])
    print(table(["screenshot", "(a) / (c)", "(b) / (c)"], rows, "Speed-up of the client (p50)"))
    rows = [[f"{size} PNG", f"{median(got['r']) - median(got['c']):+.1f} ms"] for size, (got, _, _) in routes.items()]
    print()
    print(table(["screenshot", "p50 with --record all minus without"], rows,
                f"Cost of field recording per reply (frames kept: {record_stats['kept']}, "
                f"dropped while busy: {record_stats['dropped_busy']})"))
    print()
    rows = [[name, median(per["720x1280"]), pct(per["720x1280"], 95), median(per["1080x2340"]),
             pct(per["1080x2340"], 95), f"{quality[name]['click_success']:.3f}",
             f"{quality[name]['false_tap_rate']:.3f}"] for name, per in compute.items()]
    print(table(["compute alone, warm, decode included", "720x1280 p50", "p95", "1080x2340 p50", "p95",
                 "click", "false taps"], rows,
                f"GameEye in-process on eval_screens as PNG ({len(all_shots)} screens; the files' thresholds)"))
    print()
    rows = [[st, median(stage_rows["720x1280"][st]), median(stage_rows["1080x2340"][st])]
            for st in stage_rows["720x1280"]]
    print(table(["stage (deployed path)", "720x1280 p50 ms", "1080x2340 p50 ms"], rows,
                "Stages, 20 screenshots per size (decode (Pillow) for comparison: the deployed path uses libspng)"))
    c720 = median(routes["720x1280"][0]["c"]) if "720x1280" in routes else float("nan")
    a720 = median(routes["720x1280"][0]["a"]) if "720x1280" in routes else float("nan")
    warm = median(compute["deployed (ONNX, int8 verifier, libspng)"]["720x1280"])
    print(f"\ntargets (issue 18), 720x1280 PNG: (c) p50 <= 45 ms: {c720:.1f} ms; >= 15x faster than (a): "
          f"{a720 / c720:.1f}x; warm compute p50 <= 15 ms: {warm:.1f} ms")
    return 0


def _stop(client) -> None:
    import signal

    try:
        os.kill(client.health()["pid"], signal.SIGTERM)
    except Exception:
        pass
    client.close()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
