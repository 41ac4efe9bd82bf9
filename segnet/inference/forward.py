"""The forward pass as validation and evaluation run a torch module: logits at the frame's size."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from segnet.core.device import autocast
from segnet.inference.preprocess import scale_input
from segnet.models import final_logits


def flip_averaged(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Test-time augmentation "flip": the mean of the logits of ``x`` and of its mirror image."""
    return 0.5 * (run(x) + run(x.flip(-1)).flip(-1))


@torch.no_grad()
def forward_logits(
    model: torch.nn.Module,
    images: torch.Tensor,
    input_scale: float = 1.0,
    tta: str | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """float32 logits [N, C, H, W] at the size of normalised ``images``.

    input_scale: the network sees the images resized by this factor (models trained at low
    resolution), as a Predictor resizes them; logits are resized back bilinearly so that metrics
    use the full labels. tta="flip": averaged with the mirrored images.
    """
    if tta not in (None, "none", "flip"):
        raise ValueError(f"unknown tta '{tta}'")
    size = images.shape[-2:]
    x = scale_input(images, input_scale)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def run(batch: torch.Tensor) -> torch.Tensor:
        return final_logits(model(batch)).float()

    with autocast(images.device, amp_dtype):
        logits = flip_averaged(run, x) if tta == "flip" else run(x)
    if logits.shape[-2:] != size:
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    return logits


def use_batch_statistics(model: torch.nn.Module) -> None:
    """BatchNorm layers normalise with the current batch (the official FC-DenseNet test script's
    way); everything else (dropout) stays in eval mode."""
    model.eval()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.train()
            module.momentum = 0.0  # leave the stored running statistics untouched
