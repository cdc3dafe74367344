"""Evaluation artifacts people look at: the PR curve, the operating curve over verifier thresholds, click
success by design and a gallery of the worst failures."""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
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


def operating_curve_figure(curve: dict, deployed_threshold: float, operating: dict, deployed_label: str = "deployed",
                           max_ticks: int = 16):
    """Click success, false-tap, wrong-tap and miss rates against the verifier threshold (x axis:
    -log10(1 - t), so 0.99 / 0.999 / 0.9999 are evenly spaced), the deployed (or chosen) point in red."""
    def x_of(t):
        return -np.log10(np.clip(1.0 - np.asarray(t, dtype=float), 1e-7, None))

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = x_of(curve["thresholds"])
    for key, style in (("click_success", "o-"), ("false_tap_rate", "s-"), ("wrong_tap_rate", "^--"),
                       ("miss_rate", "v--")):
        ax.plot(xs, curve[key], style, label=key.replace("_", " "), ms=4)
    if np.isfinite(deployed_threshold):
        xd = float(x_of(deployed_threshold))
        ax.axvline(xd, color="red", lw=1, alpha=0.6)
        ax.scatter([xd, xd], [operating.get("click_success", np.nan), operating.get("false_tap_rate", np.nan)],
                   c="red", zorder=3, label=f"{deployed_label} (t={deployed_threshold:.4g})")
    step = max(1, -(-len(xs) // max_ticks))          # a fine grid keeps every step-th label
    ax.set_xticks(xs[::step])
    ax.set_xticklabels([f"{t:.6g}" for t in curve["thresholds"][::step]], rotation=60, fontsize=7)
    ax.set_xlabel("verifier threshold (p of close)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left")
    ax.set_title("what the bot would do at other verifier thresholds")
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


BREAKDOWN_BARS = {   # key -> (the count a bar is labelled with, is a value above the whole set's worse?, x label)
    "click_success": ("n_hit", False, "click success on screens with a close button (dashed: all of them)"),
    "false_tap_rate": ("n_false_tap", True, "false-tap rate on screens without a close button (dashed: all of them)"),
}


def breakdown_figure(breakdown: dict, overall: float, key: str = "click_success"):
    """``key`` (click success, or the false-tap rate of ``false_tap_breakdown``) per value of each design
    attribute, one panel per attribute, bars labelled count / screens (red: worse than the whole set);
    the dashed line is the whole set's."""
    count_key, higher_is_worse, xlabel = BREAKDOWN_BARS[key]
    attrs = list(breakdown)
    heights = [len(breakdown[a]) for a in attrs]
    fig, axes = plt.subplots(len(attrs), 1, figsize=(7, 0.9 + 0.32 * sum(heights) + 0.5 * len(attrs)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, attr in zip(axes[:, 0], attrs):
        cells = breakdown[attr]
        names = list(cells)
        values = [cells[v][key] for v in names]
        worse = [(v > overall) if higher_is_worse else (v < overall) for v in values]
        ax.barh(range(len(names)), values, color=["tab:red" if w else "tab:green" for w in worse])
        for i, v in enumerate(names):
            ax.text(values[i] + 0.01, i, f"{cells[v][count_key]}/{cells[v]['n']}", va="center", fontsize=7)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.15)
        if np.isfinite(overall):
            ax.axvline(overall, color="black", ls="--", lw=1)
        ax.set_title(attr, fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel(xlabel)
    fig.tight_layout()
    return fig
