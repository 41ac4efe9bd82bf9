"""Frames of any size: padding small ones to what the network takes, tiling large ones.

Small frames (a 1x1 image, a 40x30 video): FC-DenseNets pool ``n`` times and need at least
``2**n`` pixels per side (fewer gives an empty map and a PyTorch error); smp encoders need a
multiple of their output stride. ``pad_to`` pads the bottom and right edges by repeating the
border pixels, and the caller crops the logits back, so labels keep the frame's own size.

Large frames: mmsegmentation's ``slide`` inference (``EncoderDecoder.slide_inference``): crops of
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
import torch.nn.functional as F


def size_rule(model: torch.nn.Module) -> tuple[int, int]:
    """(multiple, minimum side) the model's input needs."""
    from segnet.models.fc_densenet import FCDenseNet
    from segnet.models.fc_log_densenet import FCLogDenseNet

    if isinstance(model, FCDenseNet):  # TransitionUp crops to the skip's size: any side >= 2**n
        return 1, 2 ** len(model.transitions_down)
    if isinstance(model, FCLogDenseNet):
        return 1, 2 ** max(model.level)
    stride = int(getattr(getattr(model, "encoder", None), "output_stride", 32) or 32)
    return stride, stride


def pad_to(x: torch.Tensor, multiple: int, min_size: int) -> torch.Tensor:
    """``x`` [N, C, H, W] padded at the bottom and right (border pixels repeated) to sides that
    are multiples of ``multiple`` and at least ``min_size``; unchanged when they already are."""
    h, w = x.shape[-2:]
    th, tw = (max(min_size, -(-side // multiple) * multiple) for side in (h, w))
    if (th, tw) == (h, w):
        return x
    # replicate padding needs as many pixels as it adds on each side: repeat the edge in steps
    while (h, w) != (th, tw):
        dh, dw = min(th - h, h), min(tw - w, w)
        x = F.pad(x, (0, dw, 0, dh), mode="replicate")
        h, w = h + dh, w + dw
    return x


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
