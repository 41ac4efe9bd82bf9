"""One forward path for validation, evaluation, prediction and benchmarks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segnet.core.device import autocast


def final_logits(output) -> torch.Tensor:
    """Models with deep supervision return (final, [aux...]) in training mode."""
    return output[0] if isinstance(output, (tuple, list)) else output


@torch.no_grad()
def forward_logits(
    model: torch.nn.Module,
    images: torch.Tensor,
    input_scale: float = 1.0,
    tta: str | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """float32 logits [N, C, H, W] at the size of ``images``.

    input_scale: the network sees the images resized by this factor (models trained at
    low resolution); logits are resized back bilinearly so metrics use the full labels.
    tta="flip": average with the logits of the horizontally flipped images.
    """
    size = images.shape[-2:]
    x = images
    if input_scale != 1.0:
        x = F.interpolate(x, scale_factor=input_scale, mode="bilinear", align_corners=False, antialias=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(images.device, amp_dtype):
        logits = final_logits(model(x)).float()
        if tta == "flip":
            logits = 0.5 * (logits + final_logits(model(x.flip(-1))).float().flip(-1))
        elif tta not in (None, "none"):
            raise ValueError(f"unknown tta '{tta}'")
    if logits.shape[-2:] != size:
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    return logits


# BatchNorm at test time: the running averages (PyTorch's eval mode) or the statistics of each
# test batch, which is how the official FC-DenseNet test script evaluated (SimJeg issue #8).
BN_MODES = ("running", "batch")


def use_batch_statistics(model: torch.nn.Module) -> None:
    """BatchNorm layers normalise with the current batch; everything else (dropout) stays in eval."""
    model.eval()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.train()
            module.momentum = 0.0  # leave the stored running statistics untouched
