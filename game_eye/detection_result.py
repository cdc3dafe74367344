"""Detection results as the old GAA client reads them (pickled) and as JSON.

``DetectionResultContainer`` keeps its results sorted by score, highest first, so the bot's
rule "tap the first ``close``" is ``container.best("close")``. Both classes are plain
module-level classes with no torch inside, so a pickle loads with only this module importable::

    import pickle
    from game_eye.detection_result import DetectionResultContainer
    with open("shot.pickle", "rb") as fh:     # only pickles you wrote yourself: pickle is not safe
        container = pickle.load(fh)
    close = container.best("close")           # None when nothing was detected
    if close is not None:
        x1, y1, x2, y2 = close.box
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Optional, Sequence


class DetectionResult:
    """One detection: ``label`` (e.g. "close"), ``score`` in [0, 1], ``box`` [x1, y1, x2, y2] in
    pixels of the original screenshot."""

    __slots__ = ("label", "score", "box")

    def __init__(self, label: str, score: float, box: Sequence[float]):
        if len(box) != 4:
            raise ValueError(f"box must be [x1, y1, x2, y2], got {box!r}")
        self.label = str(label)
        self.score = float(score)
        self.box = [float(v) for v in box]

    # __slots__ classes need explicit state for pickle protocol < 2 and for clarity
    def __getstate__(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score, "box": list(self.box)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.label = state["label"]
        self.score = state["score"]
        self.box = list(state["box"])

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return ((x1 + x2) / 2, (y1 + y2) / 2)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score, "box": list(self.box)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DetectionResult":
        return cls(d["label"], d["score"], d["box"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DetectionResult):
            return NotImplemented
        return (self.label, self.score, self.box) == (other.label, other.score, other.box)

    def __repr__(self) -> str:
        return f"DetectionResult(label={self.label!r}, score={self.score:.4f}, box={self.box!r})"


class DetectionResultContainer:
    """Detections of one screenshot, always sorted by score, highest first (stable for ties)."""

    def __init__(self, results: Optional[Iterable[DetectionResult]] = None, image: str = "",
                 width: int = 0, height: int = 0):
        self.image = image
        self.width = int(width)
        self.height = int(height)
        self.results: list[DetectionResult] = []
        for r in results or ():
            self.add(r)

    def add(self, result: DetectionResult) -> None:
        """Insert keeping the order: after every result with a score >= this one's."""
        i = len(self.results)
        while i > 0 and self.results[i - 1].score < result.score:
            i -= 1
        self.results.insert(i, result)

    def best(self, label: Optional[str] = None) -> Optional[DetectionResult]:
        """Highest-scoring result with ``label`` (any label when None), or None."""
        for r in self.results:
            if label is None or r.label == label:
                return r
        return None

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[DetectionResult]:
        return iter(self.results)

    def __getitem__(self, i: int) -> DetectionResult:
        return self.results[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DetectionResultContainer):
            return NotImplemented
        return (self.image, self.width, self.height, self.results) == (
            other.image, other.width, other.height, other.results)

    def __repr__(self) -> str:
        return f"DetectionResultContainer(image={self.image!r}, {len(self)} results)"

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "width": self.width, "height": self.height,
                "detections": [r.to_dict() for r in self.results]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DetectionResultContainer":
        """Accepts a GameEye JSON image entry (``image``, ``width``, ``height``, ``detections``)."""
        return cls((DetectionResult.from_dict(x) for x in d.get("detections", [])),
                   image=d.get("image", ""), width=d.get("width", 0), height=d.get("height", 0))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "DetectionResultContainer":
        return cls.from_dict(json.loads(text))
