"""Field recording (opt-in): what GameEye was sent and what it answered, kept for labelling.

    python -m game_eye serve ... --record DIR [--record-when all|uncertain|tapped] [--record-max-mb 2048]
    python -m game_eye ... --record DIR shot.png          # the one-shot CLI records the same way

    from game_eye.record import Recorder
    rec = Recorder("field/", when="uncertain", max_mb=2048)
    frame = rec.offer(png_bytes, entry, candidates, info)  # the frame id when kept, else None
    rec.set_outcome(frame, {"closed": False})               # what the bot saw after its tap

Per kept frame, in DIR: ``<frame>.<png|jpg|...>``, the screenshot exactly as received, and
``<frame>.json``::

    {"frame", "time", "image", "width", "height", "detections": [...],     # the answer sent
     "candidates": [{"label", "box", "detector_score", "p", "threshold", "passed"}],
     "labels": [the classes GameEye reports],
     "weights": {"ssd": {"sha256", "model_name", "version", "run_id", "path"}, "resnet": {...}},
     "kept_because": [...], "outcome": null}

``when``: ``all``; ``tapped`` (a ``close`` was answered); ``uncertain``: a candidate's verifier
probability lies within ``band`` of its threshold, or the two best candidates' final scores lie
within ``margin`` of each other (the frames a labeller learns most from).

Bounds: the folder never holds more than ``max_mb`` (oldest frames deleted first), and a frame is
not written when the disk would keep less than ``min_free_mb`` free. Every file is written
atomically (a temp name, then rename; the sidecar last, so a frame without its sidecar is never
presented). Writing happens on a background thread: a reply never waits for the disk; when the
writer falls behind (``queue_size`` frames waiting), new frames are dropped and counted.
"""
from __future__ import annotations

import json
import math
import queue
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Optional

from .atomic import atomic_write_bytes

RECORD_WHEN = ("all", "uncertain", "tapped")
SIDECAR = ".json"
_IMAGE_SUFFIXES = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"GIF8": ".gif", b"BM": ".bmp", b"RIFF": ".webp"}


def image_suffix(data: bytes) -> str:
    """The file suffix of encoded image bytes, from their signature (``.img`` when unknown)."""
    return next((suffix for magic, suffix in _IMAGE_SUFFIXES.items() if data.startswith(magic)), ".img")


def why_kept(when: str, entry: dict[str, Any], candidates: list[dict[str, Any]], band: float,
             margin: float) -> list[str]:
    """The reasons to keep this frame under ``when`` (empty: do not keep it)."""
    if "error" in entry:
        return []
    if when == "all":
        return ["all"]
    tapped = any(d["label"] == "close" for d in entry.get("detections", []))
    if when == "tapped":
        return ["tapped"] if tapped else []
    reasons = []
    if any(abs(c["p"] - c["threshold"]) <= band for c in candidates):
        reasons.append("near_threshold")
    finals = sorted((math.sqrt(max(c["detector_score"], 0.0) * max(c["p"], 0.0)) for c in candidates), reverse=True)
    if len(finals) >= 2 and finals[0] - finals[1] <= margin:
        reasons.append("close_runner_up")
    return reasons


def weights_provenance(info: dict[str, Any]) -> dict[str, Any]:
    """What of GameEye's ``info()`` a frame keeps: which weights answered."""
    keys = ("sha256", "model_name", "version", "run_id", "path")
    return {k: {f: (info.get(k) or {}).get(f) for f in keys} for k in ("ssd", "resnet")}


class Recorder:
    """Keeps frames in ``folder`` under the bounds above; thread-safe; ``close()`` flushes."""

    def __init__(self, folder, when: str = "uncertain", max_mb: float = 1024, band: float = 0.1,
                 margin: float = 0.05, min_free_mb: float = 1024, queue_size: int = 64, background: bool = True):
        if when not in RECORD_WHEN:
            raise ValueError(f"unknown record-when {when!r}; valid: {list(RECORD_WHEN)}")
        if max_mb <= 0:
            raise ValueError(f"record-max-mb must be above 0, got {max_mb}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.when, self.band, self.margin = when, float(band), float(margin)
        self.max_bytes, self.min_free = int(max_mb * 2**20), int(min_free_mb * 2**20)
        self.kept = self.dropped_busy = self.dropped_disk = self.dropped_too_big = self.evicted = 0
        self._lock = threading.Lock()
        self._frames = self._scan()   # frame id -> bytes on disk, oldest first
        self._total = sum(self._frames.values())
        self._queue: Optional[queue.Queue] = queue.Queue(maxsize=queue_size) if background else None
        if self._queue is not None:
            self._thread = threading.Thread(target=self._drain, daemon=True, name="game-eye-record")
            self._thread.start()

    # ------------------------------------------------------------------ public
    def offer(self, data: bytes, entry: dict[str, Any], candidates: list[dict[str, Any]],
              info: dict[str, Any]) -> Optional[str]:
        """Keep this frame if ``when`` says so; its frame id, or None (not kept, or dropped)."""
        reasons = why_kept(self.when, entry, candidates, self.band, self.margin)
        if not reasons:
            return None
        now_ns = time.time_ns()
        now = time.gmtime(now_ns // 10**9)
        # sorts in time order (a restart evicts oldest first by name); the suffix keeps ids unique
        frame = f"{time.strftime('%Y%m%dT%H%M%S', now)}{now_ns // 1000 % 10**6:06d}-{secrets.token_hex(2)}"
        doc = {"frame": frame, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", now),
               "image": entry.get("image"), "width": entry.get("width"), "height": entry.get("height"),
               "detections": entry.get("detections", []), "candidates": candidates,
               "labels": list(info.get("labels") or []), "weights": weights_provenance(info),
               "record_when": self.when, "kept_because": reasons,
               "outcome": None}
        job = (frame, bytes(data), doc)
        if self._queue is None:
            return frame if self._write(*job) else None
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._lock:
                self.dropped_busy += 1
            return None
        return frame

    def set_outcome(self, frame: str, outcome: dict[str, Any]) -> bool:
        """Store what happened after the tap (e.g. ``{"closed": true}``) in the frame's sidecar;
        False when the frame is not (or no longer) here."""
        self.flush()
        path = self._sidecar(frame)
        with self._lock:
            if frame not in self._frames or not path.is_file():
                return False
            doc = json.loads(path.read_text())
            doc["outcome"] = {**outcome, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            side = json.dumps(doc, indent=1).encode()
            grown = len(side) - path.stat().st_size
            atomic_write_bytes(path, side)
            self._frames[frame] += grown
            self._total += grown
        return True

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"folder": str(self.folder), "when": self.when, "frames": len(self._frames),
                    "mb": round(self._total / 2**20, 2), "max_mb": round(self.max_bytes / 2**20, 2),
                    "kept": self.kept, "evicted": self.evicted, "dropped_busy": self.dropped_busy,
                    "dropped_disk": self.dropped_disk, "dropped_too_big": self.dropped_too_big}

    def flush(self) -> None:
        if self._queue is not None:
            self._queue.join()

    def close(self) -> None:
        self.flush()

    # ------------------------------------------------------------------ disk
    def _sidecar(self, frame: str) -> Path:
        return self.folder / f"{frame}{SIDECAR}"

    def _scan(self) -> dict[str, int]:
        """Frames already in the folder (a restart keeps counting them against the bound)."""
        frames = {}
        for side in sorted(self.folder.glob(f"*{SIDECAR}")):
            frame = side.name[: -len(SIDECAR)]
            images = [p for p in self.folder.glob(f"{frame}.*") if p != side and not p.name.startswith(".")]
            frames[frame] = side.stat().st_size + sum(p.stat().st_size for p in images)
        return frames

    def _drain(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self._write(*job)
            except Exception as exc:  # a recording problem must never stop GameEye answering
                print(f"game_eye: record: frame {job[0]} not kept: {type(exc).__name__}: {exc}", flush=True)
            finally:
                self._queue.task_done()

    def _write(self, frame: str, data: bytes, doc: dict[str, Any]) -> bool:
        side = json.dumps(doc, indent=1).encode()
        size = len(data) + len(side)
        with self._lock:
            if size > self.max_bytes:
                self.dropped_too_big += 1
                return False
            if shutil.disk_usage(self.folder).free - size < self.min_free:
                self.dropped_disk += 1
                return False
            self._evict_until(self.max_bytes - size)
            atomic_write_bytes(self.folder / f"{frame}{image_suffix(data)}", data)
            atomic_write_bytes(self._sidecar(frame), side)  # last: a frame is whole once its sidecar exists
            self._frames[frame] = size
            self._total += size
            self.kept += 1
        return True

    def _evict_until(self, limit: int) -> None:
        while self._frames and self._total > limit:
            oldest = next(iter(self._frames))
            self._sidecar(oldest).unlink(missing_ok=True)  # first: a half-deleted frame is not a frame
            for p in self.folder.glob(f"{oldest}.*"):
                p.unlink(missing_ok=True)
            self._total -= self._frames.pop(oldest)
            self.evicted += 1
