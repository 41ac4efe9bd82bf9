"""Pictures of predictions: palette colouring, overlays, legends, side-by-side frames, confusion matrix.

Colour maps keep the dataset's palette (CamVid's, so they compare with its label images).
Overlays use the dataset's colours too, except where one would vanish when blended over a photo
(``overlay_scheme``): CamVid's classes get bright colours (its Sky is grey, Pedestrian/Car/Fence
are dark), a black class is left untinted, a colour too close to another is replaced; the legend
says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from segnet.data.classes import CAMVID, DatasetClasses

# Overlay colours by class name (lower case): CamVid's classes, each bright and far from the others.
OVERLAY_COLORS = {
    "sky": (80, 180, 255), "building": (255, 110, 50), "pole": (255, 240, 0), "road": (170, 70, 255),
    "sidewalk": (255, 120, 210), "pavement": (255, 120, 210), "tree": (40, 210, 70), "signsymbol": (0, 240, 220),
    "fence": (190, 150, 90), "car": (30, 70, 255), "pedestrian": (255, 20, 60), "bicyclist": (160, 255, 60),
}
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_DARK = 60  # a colour whose brightest channel is below this only darkens a photo in an overlay
_NEAR = 60  # RGB distance under which two overlay colours are hard to tell apart at half opacity


def colorize(ids: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """HxW class ids -> HxWx3 uint8 RGB; ids beyond the palette get its last (void) colour."""
    palette = np.asarray(palette, dtype=np.uint8)
    return palette[np.minimum(ids, len(palette) - 1)]


def overlay(image: np.ndarray, color: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Blend the colour map over the RGB image: ``(1 - opacity) * image + opacity * color``, rounded.

    OpenCV blends the uint8 arrays directly: NumPy's float32 version held four frame-sized float
    temporaries (2.3 GB for a 48 MP photo, the peak of a whole `segnet predict`)."""
    return cv2.addWeighted(image, 1.0 - opacity, color, opacity, 0.0)


def overlay_scheme(classes: DatasetClasses) -> tuple[np.ndarray, list[str], set[int]]:
    """(overlay palette, legend names, ids left untinted) for ``classes``: each class in its own
    colour, except where that colour would not show over a photo:

    - CamVid's classes (its names and label-map colours, often grey or dark) get their bright
      OVERLAY_COLORS, so CamVid's overlays are as before;
    - the first near-black class (usually "background") is left untinted: black only darkens;
    - another near-black class, or one too close to an earlier class's colour, gets a spare distinct
      colour (its OVERLAY_COLORS entry when it has one).
    The legend says how the last two are drawn. Rows past the classes (void) keep the dataset's colour.
    """
    out = np.array(classes.palette, dtype=np.uint8, copy=True)
    names, untinted, shown = list(classes.names), set(), []
    camvid = (classes.names, classes.colors) == (CAMVID.names, CAMVID.colors)
    spare = _spare_colours()
    for i, (name, colour) in enumerate(zip(classes.names, classes.colors)):
        bright = OVERLAY_COLORS.get(name.lower())
        if camvid:
            out[i] = bright
        elif max(colour) < _DARK and not untinted:
            untinted.add(i)
            names[i] = f"{name}: untinted"
            continue
        elif max(colour) < _DARK or any(_distance(colour, c) < _NEAR for c in shown):
            out[i] = bright if bright and all(_distance(bright, c) >= _NEAR for c in shown) else \
                max(spare, key=lambda c: min((_distance(c, u) for u in shown), default=0.0))
            names[i] = f"{name} (recoloured)"
        shown.append(tuple(int(v) for v in out[i]))
    return out, names, untinted


def overlay_palette(class_names: Sequence[str], palette: np.ndarray) -> np.ndarray:
    """The overlay palette of classes named ``class_names`` coloured by ``palette`` (rows past the
    names: void); see overlay_scheme."""
    palette = np.asarray(palette, dtype=np.uint8)
    colours = tuple(tuple(int(v) for v in row) for row in palette[: len(class_names)])
    if len(set(colours)) < len(colours):  # colours that do not tell the classes apart: each an overlay colour
        colours = tuple((0, 0, 0) if not i else (1, 1, i) for i in range(len(colours)))
    classes = DatasetClasses(tuple(class_names), colours, len(class_names))
    out = overlay_scheme(classes)[0]
    out[len(class_names):] = palette[len(class_names):]
    return out


def _distance(a: Sequence[int], b: Sequence[int]) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


def _spare_colours() -> list[tuple[int, ...]]:
    """matplotlib's tab20, tab20b and tab20c: colours that show over photos; a recoloured class
    gets the one farthest from the colours already drawn."""
    from matplotlib import colormaps

    rows = [*colormaps["tab20"].colors, *colormaps["tab20b"].colors, *colormaps["tab20c"].colors]
    colours = [tuple(int(v * 255 + 0.5) for v in c) for c in rows]
    return [c for c in colours if max(c) >= _DARK]


def draw_legend(image: np.ndarray, class_names: Sequence[str], palette: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with the class names written on their colours along its bottom edge.

    Font size follows the image width; an image too small for a readable legend (under 200 px
    wide, or when the legend would cover over a third of it) is returned unchanged.
    """
    height, width = image.shape[:2]
    if width < 200 or not class_names:
        return image
    scale = min(1.0, max(0.3, width / 1100))
    thickness = 1 if scale < 0.6 else 2
    (_, text_h), baseline = cv2.getTextSize("Ag", _FONT, scale, thickness)
    pad = max(2, int(4 * scale))
    row_h = text_h + baseline + 2 * pad
    boxes, x, y = [], 0, 0
    for i, name in enumerate(class_names):
        box_w = cv2.getTextSize(name, _FONT, scale, thickness)[0][0] + 2 * pad
        if x and x + box_w > width:
            x, y = 0, y + row_h
        boxes.append((i, name, x, y, box_w))
        x += box_w + pad
    top = height - (y + row_h)
    if y + row_h > height / 3:
        return image
    out = np.ascontiguousarray(image).copy()
    for i, name, bx, by, box_w in boxes:
        colour = tuple(int(c) for c in palette[i])
        luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
        ink = (0, 0, 0) if luminance > 128 else (255, 255, 255)
        cv2.rectangle(out, (bx, top + by), (bx + box_w - 1, top + by + row_h - 1), colour, cv2.FILLED)
        cv2.putText(out, name, (bx + pad, top + by + pad + text_h), _FONT, scale, ink, thickness, cv2.LINE_AA)
    return out


class Painter:
    """Pictures of class ids, as ``segnet predict`` writes them and ``Model.overlay`` returns them:
    colour maps in the dataset's palette, overlays in bright overlay colours, either with an
    optional legend (``draw_legend``)."""

    def __init__(self, classes: DatasetClasses, opacity: float = 0.5):
        self.names = list(classes.names)
        self.palette = np.asarray(classes.palette, dtype=np.uint8)
        self.overlay_palette, self.overlay_names, self.untinted = overlay_scheme(classes)
        self.opacity = opacity

    def color(self, ids: np.ndarray, legend: bool = False) -> np.ndarray:
        """HxW ids -> HxWx3 uint8 in the dataset's palette."""
        color = colorize(ids, self.palette)
        return draw_legend(color, self.names, self.palette) if legend else color

    def overlay(self, image: np.ndarray, ids: np.ndarray, legend: bool = False) -> np.ndarray:
        """The ids in overlay colours blended over the RGB image (``opacity``: the colours' weight)."""
        out = overlay(image, colorize(ids, self.overlay_palette), self.opacity)
        for i in self.untinted:  # the photo itself shows through
            np.copyto(out, image, where=(ids == i)[..., None])
        return draw_legend(out, self.overlay_names, self.overlay_palette) if legend else out


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two frames of the same height next to each other (input | overlay)."""
    return np.concatenate([left, right], axis=1)


def confusion_matrix_figure(confusion: np.ndarray, class_names: Sequence[str], path: str | Path,
                            title: str = "") -> None:
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
