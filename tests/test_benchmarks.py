"""The benchmark scripts stay runnable: each has a docstring showing how to run it and a --help;
the table/percentile helpers behave; the dataset benchmark runs on tiny sizes and prints its
numbers. (The others take minutes at any size that means something: not a test.)"""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ["game_eye_latency.py", "training_throughput.py", "learning_speed.py", "dataset_build.py", "old_setup.py",
           "bot_route.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_help_and_docstring(script):
    path = REPO / "benchmarks" / script
    assert f"benchmarks/{script}" in path.read_text().split('"""')[1]  # the docstring shows how to run it
    r = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout


def test_dataset_benchmark_runs_and_prints_its_table():
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "dataset_build.py"), "--screens", "4", "--crops", "4",
                        "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()
            if line.split()[:1] in (["ssd"], ["resnet34"])}
    assert set(rows) == {"ssd", "resnet34"}
    for cells in rows.values():   # model, workers, images, cold build s, images/s, cache hit ms, MB on disk
        images, cold_s, per_s = int(cells[2]), float(cells[3].replace(",", "")), float(cells[4].replace(",", ""))
        assert images > 0 and cold_s > 0 and per_s > 0


def test_latency_benchmark_runs_every_setup_on_untrained_default_models():
    """Smallest run: the old setup (a), eager (b), deployed (c), fp32 (c'), mirror switched (c'') and
    extra crop margins switched (c''')."""
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "game_eye_latency.py"), "--images", "2",
                        "--cold-runs", "1", "--old-runs", "1"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    p50 = {line.split()[0]: float(line.split()[-4].replace(",", "")) for line in r.stdout.splitlines()
           if line.split()[:1] in (["(a)"], ["(b)"], ["(c)"], ["(c')"], ["(c'')"], ["(c''')"])
           and line.split()[-1].isdigit()}
    assert set(p50) == {"(a)", "(b)", "(c)", "(c')", "(c'')", "(c''')"}
    assert p50["(a)"] > p50["(c)"] > 0
    assert "mirror averaging on" in r.stdout     # the untrained default verifier file has no mirror key
    assert "extra crop margins on" in r.stdout   # nor extra margins


def test_bot_route_benchmark_runs_all_three_routes_through_a_real_sshd():
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bot_route.py"), "--shots", "2",
                        "--quality-screens", "2"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    for size in ("720x1280", "1080x2340"):
        route = {c: next(float(line.split()[-3].replace(",", "")) for line in lines
                         if line.startswith(f"{size} PNG") and f"({c})" in line) for c in "abc"}
        assert 0 < route["c"] < route["a"]  # the client beats a process per screenshot
        assert any(line.startswith(f"{size} PNG") and "2 of 2" in line for line in lines)  # same detections
    assert any(line.startswith("deployed (ONNX, int8 verifier, libspng)") for line in lines)
    assert any(line.startswith("detector") for line in lines)


def test_helpers():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _common import eval_images, pct, table

    assert pct([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and pct([5.0], 95) == 5.0
    out = table(["setup", "ms"], [["a", 1234.56], ["b", 7]], "T").splitlines()
    assert out[0] == "T" and "1,234.6" in out[3] and out[4].endswith("7")
    shots = eval_images(4)
    assert len(shots) == 4 and all(s.endswith(".jpg") for s in shots)
