"""Figures logged with ``mlflow.log_figure``: loss curves, confusion matrix, val boxes."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402


def log_figure(fig, artifact_file: str) -> None:
    """Log a figure to the active run and free it (pyplot keeps every open figure alive)."""
    try:
        mlflow.log_figure(fig, artifact_file)
    finally:
        plt.close(fig)


def loss_curves(history: list[dict], metric: str | None = None):
    """Train and val loss per epoch, plus the selection metric on a second axis."""
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss")
    ax.plot(epochs, [h["val_loss"] for h in history], "s-", label="val loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if metric:
        ax2 = ax.twinx()
        ax2.plot(epochs, [h[metric] for h in history], "g^--", label=metric)
        ax2.set_ylabel(metric)
        ax2.set_ylim(0, 1.02)
        ax2.legend(loc="upper right")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def confusion_matrix(probs: torch.Tensor, labels: torch.Tensor, classes: list[str]):
    n = len(classes)
    pred = probs.argmax(1)
    cm = torch.zeros(n, n, dtype=torch.long)
    for t, p in zip(labels.tolist(), pred.tolist()):
        cm[t, p] += 1
    fig, ax = plt.subplots(figsize=(1.6 * n + 2, 1.6 * n + 1.5))
    ax.imshow(cm, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(n), classes)
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    return fig


def detection_gallery(images: list[torch.Tensor], predictions: list[dict], truths: list[dict],
                      score_threshold: float, limit: int = 8):
    """Val images with true boxes (green) and predicted boxes above the threshold (red, with score)."""
    k = min(limit, len(images))
    cols = min(4, max(k, 1))
    rows = max(1, (k + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, pred, truth in zip(axes.flat, images[:k], predictions[:k], truths[:k]):
        ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
        for b in truth["boxes"].tolist():
            ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="lime", lw=1.5))
        for b, s in zip(pred["boxes"].tolist(), pred["scores"].tolist()):
            if s >= score_threshold:
                ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="red", lw=1))
                ax.text(b[0], b[1] - 2, f"{s:.2f}", color="red", fontsize=7)
    fig.tight_layout()
    return fig
