"""Per-frame scores of an evaluation, for the HTML report (segnet.jobs.report).

``segnet.jobs.evaluate.evaluate`` fills a ``FrameScores`` as it goes: each frame's own confusion
matrix (a few hundred integers) and, when asked, the pictures of the worst frames so far. The
pictures are kept from inside the loop because a frame predicted again alone is not always the
frame that was scored: with batch statistics (``bn="batch"``, the paper protocol) its
prediction depends on the other frames of its batch.
"""

from __future__ import annotations

import math

import numpy as np

from segnet.data.classes import DatasetClasses
from segnet.jobs.report import frame_miou


class FrameScores:
    """Each frame's confusion matrix on its labelled pixels, and the ``keep_worst`` frames with the
    lowest mIoU (``frame_miou``) as (name, RGB, truth ids, predicted ids).

    ``keep_worst=0`` keeps no pictures, so scoring a split stays small in memory; at most
    ``keep_worst`` frames are held at any time.
    """

    def __init__(self, classes: DatasetClasses, keep_worst: int = 0):
        if keep_worst < 0:
            raise ValueError(f"keep_worst must be >= 0, got {keep_worst}")
        self.class_names = list(classes.names)
        self.palette = np.asarray(classes.palette, np.uint8)
        self.keep_worst = keep_worst
        self.confusions: list[tuple[str, np.ndarray]] = []  # (frame name, [C, C] counts; rows truth)
        self._worst: list[tuple[float, str, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, name: str, rgb: np.ndarray, truth: np.ndarray, prediction: np.ndarray) -> float:
        """Score one frame (``truth`` ids >= the class count are void, not scored); returns its mIoU."""
        count = len(self.class_names)
        labelled = truth < count
        flat = count * truth[labelled].astype(np.int64) + prediction[labelled].astype(np.int64)
        confusion = np.bincount(flat, minlength=count * count).reshape(count, count)
        self.confusions.append((name, confusion))
        miou = frame_miou(confusion)
        if self.keep_worst and not math.isnan(miou):
            ids = np.uint8 if count < 256 else np.int32
            self._worst.append((miou, name, np.array(rgb, np.uint8), np.array(truth, ids), np.array(prediction, ids)))
            if len(self._worst) > self.keep_worst:  # drop the best of those kept (ties: the later name)
                self._worst.remove(max(self._worst, key=lambda frame: frame[:2]))
        return miou

    def mious(self) -> list[tuple[str, float]]:
        """(frame name, mIoU) of every frame scored, in the order scored (NaN: no labelled pixel)."""
        return [(name, frame_miou(confusion)) for name, confusion in self.confusions]

    def worst(self) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """The kept frames, worst first: (name, HxWx3 RGB, HxW truth ids, HxW predicted ids)."""
        return [frame[1:] for frame in sorted(self._worst, key=lambda frame: frame[:2])]
