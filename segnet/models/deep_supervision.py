"""Deep supervision: 1x1 heads on every block and the loss that weighs them.

Targets at a head's resolution, two ways:
- ``nearest`` (default): the label at the centre of the source pixels each output pixel
  covers (``F.interpolate(mode="nearest-exact")``): every value is a real label of the
  original, so void (11) can never be averaged into a class id and stays ignored.
- ``average``: the official FC-Log-DenseNet code's soft targets (anytime_fcn.py:146-183):
  one-hot maps (void = the zero vector) average-pooled to the head's size; a pixel counts
  when over half of it is labelled (``--eval_threshold`` 0.5). Every head, the final one
  included, then takes a probability target, as there.

Head weights, two ways:
- ``even`` (the Log-DenseNet paper's text): ``final_weight`` on the final output, the rest
  spread evenly over the auxiliary heads.
- ``sieve`` (its code: ``-f=5 --weights_at_block_ends``, samloss 6; tensorpack/utils/
  anytime_loss.py:12-37,148-225, anytime_network.py:240-242,436-447,653-667,1087-1092,
  online_learn.py:165-207):
  the final output weighs as much as all auxiliary heads together, which get the sieve's
  uneven weights (for 11 heads 2,1,4,1,2,1,3,1,2,1 : 18), and every step one head, drawn
  with probability proportional to its weight, gets sum(weights) / 2 more. As in the code
  the final weight is 1, so the loss is ~3x the even one's scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from segnet.errors import SegnetError


def final_logits(output) -> torch.Tensor:
    """The final logits of a network's output: deep-supervision networks return
    ``(final, [aux, ...])`` in training mode, the logits alone otherwise."""
    return output[0] if isinstance(output, (tuple, list)) else output


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


def soft_target(target: torch.Tensor, size: Sequence[int], num_classes: int) -> torch.Tensor:
    """[N, H, W] labels -> [N, C, h, w] class shares of each output pixel (void: zero vector)."""
    one_hot = F.one_hot(target.clamp(max=num_classes), num_classes + 1)[..., :num_classes]
    one_hot = one_hot.permute(0, 3, 1, 2).float()
    if tuple(target.shape[-2:]) == tuple(size):
        return one_hot
    # area = the mean over the source pixels each output pixel covers (2^k x 2^k blocks when
    # sizes divide, as the code's repeated 2x2 average pooling)
    return F.interpolate(one_hot, size=tuple(size), mode="area")


def sieve_weights(num_heads: int) -> list[float]:
    """The code's ``sieve_loss_weights(N)`` normalised so the final (last) head weighs 1."""
    weights = [0.0] * num_heads
    step = 1
    while step < num_heads:
        for i in range(0, num_heads, step):
            weights[i] += 1.0
        step *= 2
    weights[0] = sum(weights[1:])  # then reversed: position 0 is the final head
    return [w / weights[0] for w in reversed(weights)] if num_heads > 1 else [1.0]


HEAD_WEIGHTINGS = ("even", "sieve")
AUX_TARGETS = ("nearest", "average")


def head_weights(num_aux: int, weighting: str = "even", final_weight: float = 0.5,
                 generator: torch.Generator | None = None) -> list[float]:
    """Weights of ``[aux_1, ..., aux_n, final]`` for one step (``sieve`` draws its boost)."""
    if weighting == "even":
        if not 0.0 <= final_weight <= 1.0:
            raise SegnetError(f"deep supervision final_weight must be in [0, 1], got {final_weight}")
        return [(1.0 - final_weight) / num_aux] * num_aux + [final_weight] if num_aux else [1.0]
    if weighting != "sieve":
        raise SegnetError(f"deep supervision weighting must be one of {', '.join(HEAD_WEIGHTINGS)}, got '{weighting}'")
    weights = sieve_weights(num_aux + 1)
    boosted = int(torch.multinomial(torch.tensor(weights), 1, generator=generator))
    weights[boosted] += sum(weights) / 2.0  # the code's sum_rand_ratio = 2
    return weights


def deep_supervision_loss(
    output,
    target: torch.Tensor,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    final_weight: float = 0.5,
    weighting: str = "even",
    aux_targets: str = "nearest",
    final_only: bool = False,
) -> torch.Tensor:
    """Weighted sum of ``criterion`` over the final output and the auxiliary heads.

    ``output`` is a logits tensor or ``(final, [aux, ...])``. ``criterion`` takes long labels
    (``nearest``) or probability maps (``average``). ``final_only`` gives the aux heads weight
    0 but keeps them in the graph, so DDP still sees a gradient (of zero) for every parameter.
    """
    if aux_targets not in AUX_TARGETS:
        raise SegnetError(f"deep supervision targets must be one of {', '.join(AUX_TARGETS)}, got '{aux_targets}'")
    final, aux = (output, []) if isinstance(output, torch.Tensor) else output
    heads = [*aux, final]
    weights = [0.0] * len(aux) + [1.0] if final_only else head_weights(len(aux), weighting, final_weight)
    loss = final.new_zeros(())
    for logits, weight in zip(heads, weights):
        size = logits.shape[-2:]
        t = soft_target(target, size, logits.shape[1]) if aux_targets == "average" else resize_target(target, size)
        loss = loss + weight * criterion(logits, t)
    return loss
