"""Pictures of predictions: palette colouring, overlays, side-by-side frames, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def colorize(ids: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """HxW class ids -> HxWx3 uint8 RGB; ids beyond the palette get its last (void) colour."""
    palette = np.asarray(palette, dtype=np.uint8)
    return palette[np.minimum(ids, len(palette) - 1)]


def overlay(image: np.ndarray, color: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Blend the colour map over the RGB image: ``(1 - opacity) * image + opacity * color``."""
    blended = image.astype(np.float32) * (1.0 - opacity) + color.astype(np.float32) * opacity
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two frames of the same height next to each other (input | overlay)."""
    return np.concatenate([left, right], axis=1)


def confusion_matrix_figure(confusion: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = "") -> None:
    """Row-normalised confusion matrix (rows: truth, columns: prediction) saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    normalised = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.65 * n), dpi=110)
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), labels=class_names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), labels=class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(n):
        for j in range(n):
            value = normalised[i, j]
            if value >= 0.005:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
