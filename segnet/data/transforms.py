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


def paint_sky(image: np.ndarray, sky: np.ndarray, zenith: Sequence[float], horizon: Sequence[float],
              rng: np.random.Generator) -> np.ndarray:
    """A copy of ``image`` whose ``sky`` pixels (boolean HxW mask) are a clear sky: a vertical
    gradient from the ``zenith`` RGB colour on the top row to ``horizon`` on the bottom row, plus
    noise of sigma 3 grey levels so that it is not a flat fill no camera records."""
    t = np.linspace(0.0, 1.0, image.shape[0], dtype=np.float32)[:, None, None]
    rows = np.asarray(zenith, np.float32) * (1 - t) + np.asarray(horizon, np.float32) * t  # [H, 1, 3]
    noise = rng.normal(0, 3, image.shape).astype(np.float32)
    painted = np.clip(np.broadcast_to(rows, image.shape) + noise, 0, 255).astype(image.dtype)
    out = image.copy()
    out[sky] = painted[sky]
    return out


class RepaintSky(A.DualTransform):
    """Label-aware: the pixels labelled ``sky_id`` become a random clear-sky gradient.

    CamVid's skies are overcast grey, and no colour jitter turns them blue: a model trained on them
    reads a blue sky as Building (segnet.bench.street). Each repaint draws a zenith colour from
    blue hues, a paler horizon colour, and a little noise (``paint_sky``); the label map is untouched.
    """

    def __init__(self, sky_id: int, p: float = 0.3):
        super().__init__(p=p)
        self.sky_id = sky_id

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        rng = self.py_random
        zenith = np.array([rng.uniform(20, 110), rng.uniform(80, 170), rng.uniform(170, 255)], np.float32)
        horizon = zenith + (255 - zenith) * rng.uniform(0.3, 0.8)
        return {"sky": data["mask"] == self.sky_id, "zenith": zenith, "horizon": horizon,
                "noise_seed": rng.randint(0, 2**31 - 1)}  # fmt: skip

    def apply(self, img, sky=None, zenith=None, horizon=None, noise_seed=0, **params):
        if sky is None or not sky.any():
            return img
        return paint_sky(img, sky, zenith, horizon, np.random.default_rng(noise_seed))

    def apply_to_mask(self, mask, **params):
        return mask

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("sky_id",)


def _finish(mean: Sequence[float], std: Sequence[float]) -> list[A.BasicTransform]:
    return [
        A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0),
        ToTensorV2(),
        MaskToLong(),
    ]


def photometric_steps() -> list[A.BasicTransform]:
    """Light, colour and focus changes of other cameras and other weather (the deployment recipe).

    CamVid's skies are overcast grey: colour shifts and jitter let a sunny blue sky still read as
    sky; blur stands in for motion and cheaper lenses. Label maps are untouched."""
    return [
        A.ColorJitter(brightness=(0.6, 1.4), contrast=(0.6, 1.4), saturation=(0.5, 1.5), hue=(-0.08, 0.08), p=0.8),
        A.RGBShift(r_shift_limit=(-30, 30), g_shift_limit=(-30, 30), b_shift_limit=(-30, 30), p=0.3),
        A.ToGray(p=0.05),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=0.25),
    ]


def train_transform(
    crop_size: int | tuple[int, int] = 224,
    scale: float = 1.0,
    hflip: bool = True,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    scale_jitter: Sequence[float] | None = None,
    photometric: bool = False,
    void_id: int = 11,
    sky_repaint: float = 0.0,
    sky_id: int | None = None,
) -> A.Compose:
    """Optional down-scale by ``scale`` (image area/bilinear, mask nearest), random crop, h-flip.

    ``crop_size`` is an int (square) or (height, width); a crop larger than the scaled image raises
    SegnetError when the first frame is transformed (no padding: padded void pixels would only
    waste compute).

    ``scale_jitter`` ``(lo, hi)``: each frame is scaled by ``scale * U(lo, hi)`` instead; frames
    that end up smaller than the crop are padded with black pixels labelled ``void_id`` (ignored by
    the loss). ``photometric``: ``photometric_steps()`` after the geometry. ``sky_repaint``: the
    probability of ``RepaintSky(sky_id)`` (before the colour changes, so they apply to it too).
    """
    if not 0 < scale <= 1.0:
        raise SegnetError(f"scale must be in (0, 1] (a down-scale factor), got {scale}")
    height, width = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
    if height <= 0 or width <= 0:
        raise SegnetError(f"crop_size must be positive, got {crop_size}")
    low, high = (1.0, 1.0) if scale_jitter is None else (float(scale_jitter[0]), float(scale_jitter[1]))
    if not 0 < low <= high:
        raise SegnetError(f"scale_jitter must be two factors 0 < low <= high, got {list(scale_jitter)}")
    steps: list[A.BasicTransform] = []
    if scale * low != 1.0 or scale * high != 1.0:
        steps.append(
            A.RandomScale(
                scale_limit=(scale * low - 1.0, scale * high - 1.0),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                area_for_downscale="image",
                p=1.0,
            )
        )
    if scale_jitter is not None:
        steps.append(A.PadIfNeeded(height, width, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=void_id))
    steps.append(RandomCrop(height=height, width=width, p=1.0))
    if hflip:
        steps.append(A.HorizontalFlip(p=0.5))
    if sky_repaint > 0:
        if sky_id is None:
            raise SegnetError("sky_repaint needs a class named Sky in the dataset's classes")
        steps.append(RepaintSky(sky_id, p=sky_repaint))
    if photometric:
        steps += photometric_steps()
    return A.Compose(steps + _finish(mean, std))


def eval_transform(
    mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0)
) -> A.Compose:
    """Full frame, normalised; low-resolution models are handled by input_scale at inference."""
    return A.Compose(_finish(mean, std))
