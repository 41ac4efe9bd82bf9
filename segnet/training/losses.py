"""The training loss: cross-entropy ignoring void, optional median-frequency class weights,
deep-supervision heads combined by segnet.models.deep_supervision_loss."""

from __future__ import annotations

import torch
import torch.nn as nn

from segnet.data.classes import NUM_CLASSES, VOID_ID


def make_criterion(class_weights: torch.Tensor | None = None) -> nn.CrossEntropyLoss:
    return nn.CrossEntropyLoss(weight=class_weights, ignore_index=VOID_ID)


def class_weights_for(kind: str, label_paths, num_classes: int = NUM_CLASSES, cache_dir=None):
    """``none`` -> None; ``median_frequency`` -> weights from the train label maps."""
    if kind == "none":
        return None
    from segnet.data.class_weights import median_frequency_weights

    return median_frequency_weights(label_paths, num_classes=num_classes, cache_dir=cache_dir)


def training_loss(output, target, criterion, final_weight: float = 0.5, final_only: bool = False) -> torch.Tensor:
    """Plain logits -> criterion; ``(final, [aux...])`` -> weighted deep-supervision loss.

    ``final_only`` gives the aux heads weight 0 but keeps them in the graph, so DDP still sees
    a gradient (of zero) for every parameter.
    """
    from segnet.models import deep_supervision_loss

    if isinstance(output, torch.Tensor):
        return criterion(output.float(), target)
    final, aux = output
    output = (final.float(), [a.float() for a in aux])
    return deep_supervision_loss(output, target, criterion, final_weight=1.0 if final_only else final_weight)
