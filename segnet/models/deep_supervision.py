"""Deep supervision: 1x1 heads on every block and the loss that weighs them.

Targets are brought to a head's resolution by nearest sampling at the centres of the
source pixels each output pixel covers (``F.interpolate(mode="nearest-exact")``): every
value in the downsampled target is a real label of the original, so void (11) can never
be averaged into a class id, and a void pixel stays void (and stays ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from segnet.errors import SegnetError


def with_aux(logits: torch.Tensor, heads: nn.ModuleList, features: Sequence[torch.Tensor]):
    """The training-mode output contract: ``(final_logits, [aux_logits, ...])``."""
    return logits, [head(f) for head, f in zip(heads, features)]


def resize_target(target: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest label at each output pixel's centre; [N, H, W] long -> [N, h, w] long."""
    if tuple(target.shape[-2:]) == tuple(size):
        return target
    # interpolate needs floats with a channel dim; label ids <= 255 are exact in float32.
    resized = F.interpolate(target[:, None].float(), size=tuple(size), mode="nearest-exact")
    return resized[:, 0].to(target.dtype)


def deep_supervision_loss(
    output,
    target: torch.Tensor,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    final_weight: float = 0.5,
) -> torch.Tensor:
    """``final_weight`` * loss(final) + the rest of the weight spread evenly over the heads.

    ``output`` is a logits tensor (then just ``criterion``) or ``(final, [aux, ...])``.
    """
    if isinstance(output, torch.Tensor):
        return criterion(output, target)
    final, aux = output
    if not aux:
        return criterion(final, target)
    if not 0.0 <= final_weight <= 1.0:
        raise SegnetError(f"deep supervision final_weight must be in [0, 1], got {final_weight}")
    loss = final_weight * criterion(final, target)
    aux_weight = (1.0 - final_weight) / len(aux)
    for logits in aux:
        loss = loss + aux_weight * criterion(logits, resize_target(target, logits.shape[-2:]))
    return loss
