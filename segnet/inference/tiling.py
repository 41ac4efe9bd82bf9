"""Large frames in overlapping tiles (small ones are padded: segnet.inference.preprocess.pad_to).

 mmsegmentation's ``slide`` inference (``EncoderDecoder.slide_inference``): crops of
``tile`` pixels every ``stride`` pixels, the last crop of each row and column aligned with the
frame's edge, logits summed where crops overlap. The argmax of that sum is the argmax of
mmseg's mean (every pixel's count is positive), so no count map is kept. Unlike mmseg, the sum
is held for one row of tiles at a time: rows that no later tile reaches become labels at once,
so memory grows with tile height x frame width, not with the frame (a 48 MP photo fits in a few
GB). Measured agreement with whole-frame labels: docs/results/inference.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def window_starts(size: int, tile: int, stride: int) -> list[int]:
    """Crop origins along one axis, as mmseg: every ``stride``, the last one flush with the edge."""
    if size <= tile:
        return [0]
    count = -(-(size - tile) // stride) + 1
    return sorted({min(i * stride, size - tile) for i in range(count)})


def predict_tiled(image: np.ndarray, logits: Callable[[np.ndarray], torch.Tensor],
                  tile: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """HxW uint8 labels of an HxWx3 frame from ``logits(crop) -> [C, h, w]`` over overlapping crops."""
    height, width = image.shape[:2]
    th, tw = min(tile[0], height), min(tile[1], width)
    rows = window_starts(height, th, stride[0])
    cols = window_starts(width, tw, stride[1])
    labels = np.empty((height, width), dtype=np.uint8)
    band = None  # summed logits of rows [y, y + th): one buffer, shifted up as the rows advance
    for r, y in enumerate(rows):
        for x in cols:
            crop = logits(np.ascontiguousarray(image[y:y + th, x:x + tw]))
            if band is None:
                band = crop.new_zeros(crop.shape[0], th, width)
            band[:, :, x:x + tw] += crop
        done = (rows[r + 1] if r + 1 < len(rows) else height) - y  # rows no later crop covers
        labels[y:y + done] = band[:, :done].argmax(0).to(torch.uint8).cpu().numpy()
        for channel in band:  # the overlap carries to the next row of crops; one class at a time
            channel[:th - done] = channel[done:].clone()  # keeps the temporary copy small
        band[:, th - done:] = 0
    return labels
