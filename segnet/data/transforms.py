"""albumentations pipelines for CamVid: training crops and full-frame evaluation.

The paper only scales images to [0, 1], so the defaults are mean 0, std 1 (max_pixel_value 255).
Masks come out as LongTensor [H, W] with void = 11 kept as the ignore index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2

from segnet.errors import SegnetError


class RandomCrop(A.RandomCrop):
    """albumentations' RandomCrop, but a crop larger than the image is a SegnetError naming the sizes."""

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = params["shape"][:2]
        if self.height > height or self.width > width:
            raise SegnetError(
                f"crop_size {self.height}x{self.width} is larger than the (scaled) image {height}x{width}; "
                "use a smaller crop_size or a larger scale"
            )
        return super().get_params_dependent_on_data(params, data)


class MaskToLong(A.DualTransform):
    """Last step: the mask tensor from ToTensorV2 becomes int64 (what CrossEntropyLoss wants)."""

    def __init__(self, p: float = 1.0):
        super().__init__(p=p)

    def apply(self, img, **params):
        return img

    def apply_to_mask(self, mask, **params):
        # Through numpy: torch's intra-op threads make a 224x224 .long() take milliseconds on a busy CPU.
        array = mask.numpy() if torch.is_tensor(mask) else np.asarray(mask)
        return torch.from_numpy(array.astype(np.int64))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ()


def _finish(mean: Sequence[float], std: Sequence[float]) -> list[A.BasicTransform]:
    return [
        A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0),
        ToTensorV2(),
        MaskToLong(),
    ]


def train_transform(
    crop_size: int | tuple[int, int] = 224,
    scale: float = 1.0,
    hflip: bool = True,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
) -> A.Compose:
    """Optional down-scale by ``scale`` (image area/bilinear, mask nearest), random crop, h-flip.

    ``crop_size`` is an int (square) or (height, width); a crop larger than the scaled image raises
    SegnetError when the first frame is transformed (no padding: padded void pixels would only
    waste compute).
    """
    if not 0 < scale <= 1.0:
        raise SegnetError(f"scale must be in (0, 1] (a down-scale factor), got {scale}")
    height, width = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
    if height <= 0 or width <= 0:
        raise SegnetError(f"crop_size must be positive, got {crop_size}")
    steps: list[A.BasicTransform] = []
    if scale != 1.0:
        steps.append(
            A.RandomScale(
                scale_limit=(scale - 1.0, scale - 1.0),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                area_for_downscale="image",
                p=1.0,
            )
        )
    steps.append(RandomCrop(height=height, width=width, p=1.0))
    if hflip:
        steps.append(A.HorizontalFlip(p=0.5))
    return A.Compose(steps + _finish(mean, std))


def eval_transform(
    mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0)
) -> A.Compose:
    """Full frame, normalised; low-resolution models are handled by input_scale at inference."""
    return A.Compose(_finish(mean, std))
