"""The one way a frame becomes a network input, for inference, validation, export and benchmarks.

RGB uint8 -> [0, 1] -> (x - mean) / std (the model card's normalisation) -> resized by the
network scale (antialiased, as training's resize) -> padded to a size the network takes.

Small frames (a 1x1 image, a 40x30 video): FC-DenseNets pool ``n`` times and need at least
``2**n`` pixels per side; smp encoders need a multiple of their output stride (the network's
``input_rule``). ``pad_to`` repeats the border pixels at the bottom and right, and the caller crops
the logits back, so labels keep the frame's own size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from segnet.checkpoints.model_card import ModelCard


def normalize(images_u8: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 [N, 3, H, W] (any device) -> float32 ``(x / 255 - mean) / std``."""
    mean_t = torch.tensor(list(mean), dtype=torch.float32, device=images_u8.device).view(1, -1, 1, 1)
    std_t = torch.tensor(list(std), dtype=torch.float32, device=images_u8.device).view(1, -1, 1, 1)
    return images_u8.to(torch.float32, copy=True).div_(255.0).sub_(mean_t).div_(std_t)


def frames_to_tensor(frames: list[np.ndarray], normalization: dict, device: torch.device | str = "cpu") -> torch.Tensor:
    """Same-size HxWx3 uint8 RGB frames -> normalised float32 [N, 3, H, W] on ``device``."""
    batch = torch.from_numpy(np.stack(frames)).to(device).permute(0, 3, 1, 2)
    return normalize(batch, normalization.get("mean", (0.0, 0.0, 0.0)), normalization.get("std", (1.0, 1.0, 1.0)))


def network_scale(card: ModelCard, height: int, width: int, rescale: str = "frame") -> float:
    """The factor a height x width frame is resized by before the network.

    "frame" (needs the card's frame_size): the frame keeps its aspect ratio and gets as many pixels
    as a training frame had, so the street keeps about the scale the network learnt whatever the
    camera's resolution (a 1920x1080 dashcam frame reaches a network trained on 240x180 frames at
    277x155, not 960x540: docs/results/inference.md, "Frames of other cameras"). A frame of the
    training frames' size gets exactly input_scale. "factor": input_scale for every frame, right
    for crops or tiles at the training resolution (aerial or microscope images).
    """
    if rescale == "factor" or card.frame_size is None:
        return card.input_scale
    frame_h, frame_w = card.frame_size
    if scaled_size((height, width), card.input_scale) == (frame_h, frame_w):
        return card.input_scale  # the training frames' size: the very factor training used
    return math.sqrt(frame_h * frame_w / (height * width))


def scaled_size(size: Sequence[int], factor: float) -> tuple[int, int]:
    """(height, width) resized by ``factor``, rounded down, at least 1: the rule of training's
    resize, of inference and of a checkpoint's frame_size."""
    return tuple(max(1, math.floor(side * factor)) for side in size)


def scale_input(batch: torch.Tensor, factor: float) -> torch.Tensor:
    """The batch resized by ``factor`` (antialiased bilinear, as in training), at least 1x1."""
    if factor == 1.0:
        return batch
    return F.interpolate(batch, size=scaled_size(batch.shape[-2:], factor), mode="bilinear",
                         align_corners=False, antialias=True)


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


def network_input(batch: torch.Tensor, factor: float, input_rule: tuple[int, int]) -> torch.Tensor:
    """A normalised batch resized by ``factor`` and padded to the network's ``input_rule``
    (multiple, minimum side); the logits are cropped to ``scaled_size(batch size, factor)``."""
    return pad_to(scale_input(batch, factor), *input_rule)
