"""A legend strip for overlays: a colour swatch and the name of each class shown."""

from __future__ import annotations

import cv2
import numpy as np

from segnet.data.classes import DatasetClasses

_ROW, _SWATCH, _PAD, _FONT, _SCALE = 22, 14, 6, cv2.FONT_HERSHEY_SIMPLEX, 0.45


def legend_strip(classes: DatasetClasses, ids: list[int], width: int) -> np.ndarray:
    """An RGB uint8 strip ``width`` pixels wide listing ``ids``, wrapped onto as many rows as needed."""
    entries, x, row = [], _PAD, 0
    for i in ids:
        name = classes.names[i]
        text_w = cv2.getTextSize(name, _FONT, _SCALE, 1)[0][0]
        item_w = _SWATCH + 4 + text_w + 2 * _PAD
        if x > _PAD and x + item_w > width:  # wrap; an item wider than the strip gets a row of its own
            x, row = _PAD, row + 1
        entries.append((x, row, i, name))
        x += item_w
    strip = np.full(((row + 1) * _ROW + _PAD, width, 3), 255, dtype=np.uint8)
    for x, row, i, name in entries:
        top = _PAD + row * _ROW
        colour = tuple(int(c) for c in classes.palette[i])
        cv2.rectangle(strip, (x, top), (x + _SWATCH, top + _SWATCH), colour, thickness=-1)
        cv2.rectangle(strip, (x, top), (x + _SWATCH, top + _SWATCH), (0, 0, 0), thickness=1)
        cv2.putText(strip, name, (x + _SWATCH + 4, top + _SWATCH - 2), _FONT, _SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    return strip
