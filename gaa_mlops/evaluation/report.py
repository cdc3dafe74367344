"""Evaluation artifacts people look at: the PR curve and a gallery of the worst failures."""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from PIL import Image  # noqa: E402


def pr_curve_figure(curve: dict, operating: dict):
    """Tap precision and recall (click success) against the final-score threshold."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if len(curve["thresholds"]):
        ax1.plot(curve["recall"], curve["precision"], ".-")
        ax2.plot(curve["thresholds"], curve["recall"], label="click success")
        ax2.plot(curve["thresholds"], curve["false_tap_rate"], label="false-tap rate")
    ax1.scatter([operating.get("click_success", 0)], [operating.get("tap_precision", 0)], c="red",
                zorder=3, label="deployed thresholds")
    ax1.set_xlabel("recall (click success)")
    ax1.set_ylabel("tap precision")
    ax1.set_xlim(0, 1.02)
    ax1.set_ylim(0, 1.02)
    ax1.legend(loc="lower left")
    ax1.grid(alpha=0.3)
    ax2.set_xlabel("final-score threshold")
    ax2.set_ylim(0, 1.02)
    if len(curve["thresholds"]):
        ax2.legend()
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def failure_gallery(rows: Sequence[dict], limit: int = 12):
    """The worst failures (false taps and wrong taps with the highest score first, then misses):
    true boxes in green, the tapped box in red."""
    order = {"false_tap": 0, "wrong_tap": 0, "miss": 1}
    bad = sorted((r for r in rows if r["outcome"] in order),
                 key=lambda r: (order[r["outcome"]], -(r["score"] or 0.0)))[:limit]
    cols = 4
    nrows = max(1, -(-len(bad) // cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 5.6 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, r in zip(axes.flat, bad):
        with Image.open(r["path"]) as im:
            ax.imshow(im.convert("RGB"))
        for b in r["truth"]:
            ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="lime", lw=2))
        if r["tap_box"]:
            b = r["tap_box"]
            ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="red", lw=2))
        ax.set_title(f"{r['outcome']} {r['score'] or 0:.2f}\n{r['image']}", fontsize=8)
    if not bad:
        axes.flat[0].text(0.5, 0.5, "no failures", ha="center", va="center", fontsize=14)
    fig.tight_layout()
    return fig
