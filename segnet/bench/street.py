"""Would a model still read a street that does not look like CamVid? A stand-in check.

CamVid's skies are overcast grey and its camera is one camera in one city; the footage users run
the bundled model on has blue skies, low sun, other white balance and blur. Without other
labelled footage, ``street_check`` changes CamVid frames the way such footage differs and scores
the model on each change against the unchanged labels (``CHANGES``):

- ``blue_sky``: every Sky pixel (from the label) becomes a clear-sky gradient, deep blue at the top
  to pale blue at the horizon, with a little noise;
- ``sunny``: brighter, more contrast and saturation, warmer white balance;
- ``dusk``: darker, lower contrast, bluer;
- ``blur``: a 7-pixel motion blur;
- ``hd_camera``: the frame at twice the resolution (960x720), as a higher-resolution or narrower-angle
  camera sees the street: every object twice as many pixels across (the labels are compared after
  the prediction is resized back);
- ``dashcam_1080p``: a 16:9 camera at 1920x1080: the middle 270 rows of the frame (a 16:9 crop)
  at four times the resolution, scored against the same crop of the labels;
- ``webcam``: a 320x240 camera (two thirds of CamVid's 480x360);
- ``jpeg``: heavy JPEG compression (quality 15), as streamed or dashcam footage;
- ``night_noise``: darker with sensor noise (sigma 10 grey levels).

Every change is ``change(image, label, sky_id, rng)`` -> the changed HxWx3 uint8 RGB frame, or
(frame, label) for a change that crops the frame. Per change, ``street_check`` reports mIoU over
the frames, Sky recall (share of Sky pixels labelled Sky) and the share of Sky pixels labelled
Building (the failure seen on other footage).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

from segnet.core.metrics import SegmentationMetrics
from segnet.data.camvid import find_pairs, read_pair
from segnet.data.classes import DatasetClasses
from segnet.data.transforms import paint_sky

CLEAR_SKY = ((40, 110, 200), (170, 205, 235))  # RGB at the zenith and at the horizon


def blue_sky(image: np.ndarray, label: np.ndarray, sky: int, rng: np.random.Generator) -> np.ndarray:
    return paint_sky(image, label == sky, *CLEAR_SKY, rng)


def sunny(image: np.ndarray, *_) -> np.ndarray:
    x = image.astype(np.float32)
    x = (x - 128) * 1.25 + 128 + 25
    x *= np.array([1.08, 1.0, 0.9], np.float32)  # warm white balance (RGB)
    grey = x.mean(axis=2, keepdims=True)
    return np.clip(grey + (x - grey) * 1.4, 0, 255).astype(np.uint8)


def dusk(image: np.ndarray, *_) -> np.ndarray:
    x = image.astype(np.float32)
    x = (x - 128) * 0.8 + 128 - 45
    return np.clip(x * np.array([0.85, 0.9, 1.1], np.float32), 0, 255).astype(np.uint8)


def blur(image: np.ndarray, *_) -> np.ndarray:
    kernel = np.zeros((7, 7), np.float32)
    kernel[3, :] = 1 / 7
    return cv2.filter2D(image, -1, kernel)


def hd_camera(image: np.ndarray, *_) -> np.ndarray:
    return cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


def dashcam_1080p(image: np.ndarray, label: np.ndarray, *_) -> tuple[np.ndarray, np.ndarray]:
    rows = image.shape[1] * 9 // 16
    top = (image.shape[0] - rows) // 2
    crop, crop_label = image[top:top + rows], label[top:top + rows]
    return cv2.resize(crop, (1920, 1080), interpolation=cv2.INTER_CUBIC), crop_label


def webcam(image: np.ndarray, *_) -> np.ndarray:
    return cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA)


def jpeg(image: np.ndarray, *_) -> np.ndarray:
    _, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 15])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()


def night_noise(image: np.ndarray, label: np.ndarray, sky: int, rng: np.random.Generator) -> np.ndarray:
    x = image.astype(np.float32) * 0.55 + rng.normal(0, 10, image.shape)
    return np.clip(x, 0, 255).astype(np.uint8)


CHANGES: dict[str, Callable] = {
    "none": lambda image, *_: image, "blue_sky": blue_sky, "sunny": sunny, "dusk": dusk, "blur": blur,
    "hd_camera": hd_camera, "dashcam_1080p": dashcam_1080p, "webcam": webcam, "jpeg": jpeg,
    "night_noise": night_noise,
}


class Segmenter(Protocol):
    """What the check needs of a model: a ``segnet.Model`` is one (this layer cannot import it)."""

    classes: DatasetClasses

    def predict(self, image: np.ndarray) -> np.ndarray: ...

    def overlay(self, image: np.ndarray, labels: np.ndarray, legend: bool = False) -> np.ndarray: ...


def spread_pairs(root: Path, split: str, frames: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``frames`` (image, label) pairs of ``split``, evenly spaced through it (one sequence's
    neighbouring frames are nearly the same picture)."""
    pairs = find_pairs(root, split)
    return [read_pair(*pair) for pair in pairs[:: max(1, len(pairs) // frames)][:frames]]


def street_check(model: Segmenter, root: Path, frames: int, seed: int = 0, split: str = "test",
                 overlays: Path | None = None) -> dict[str, dict[str, float]]:
    """change name -> {miou, sky_recall, sky_as_building}, in percent. ``overlays``: write the
    overlays (with legend) of the first two frames of each change there, to look at as a user would."""
    names = model.classes.names
    sky, building = names.index("Sky"), names.index("Building")
    pairs = spread_pairs(root, split, frames)
    results = {}
    for name, change in CHANGES.items():
        rng = np.random.default_rng(seed)
        metrics = SegmentationMetrics(len(names), ignore_index=len(names))
        sky_total = sky_as_sky = sky_as_building = 0
        for index, (image, label) in enumerate(pairs):
            changed = change(image, label, sky, rng)
            if isinstance(changed, tuple):  # a change that crops the frame crops its labels too
                changed, label = changed
            predicted = model.predict(changed)
            if overlays is not None and index < 2:
                overlays.mkdir(parents=True, exist_ok=True)
                picture = model.overlay(changed, predicted, legend=True)
                cv2.imwrite(str(overlays / f"{name}_{index}.jpg"), picture[..., ::-1])
            if predicted.shape != label.shape:  # other resolutions: score at the labels' size
                predicted = cv2.resize(predicted, label.shape[::-1], interpolation=cv2.INTER_NEAREST)
            metrics.update(torch.from_numpy(predicted.astype(np.int64))[None],
                           torch.from_numpy(label.astype(np.int64))[None])
            is_sky = label == sky
            sky_total += int(is_sky.sum())
            sky_as_sky += int((predicted[is_sky] == sky).sum())
            sky_as_building += int((predicted[is_sky] == building).sum())
        results[name] = {
            "miou": float(metrics.compute()["miou"]) * 100,
            "sky_recall": 100 * sky_as_sky / max(sky_total, 1),
            "sky_as_building": 100 * sky_as_building / max(sky_total, 1),
        }
    return results


def format_table(results: dict[str, dict[str, float]]) -> list[str]:
    """The lines ``tools/street_check.py`` prints: one per change."""
    lines = [f"{'change':<14} {'mIoU':>6} {'Sky recall':>11} {'Sky->Building':>14}"]
    for name, r in results.items():
        lines.append(f"{name:<14} {r['miou']:>6.1f} {r['sky_recall']:>10.1f}% {r['sky_as_building']:>13.1f}%")
    return lines
