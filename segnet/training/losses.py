"""The training loss: cross-entropy ignoring void, optional class weights (two median-frequency
definitions, segnet.data.class_weights), optional label smoothing, deep-supervision heads
combined by segnet.models.deep_supervision_loss (even or sieve weights, nearest or averaged
targets)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from segnet.data.classes import NUM_CLASSES, VOID_ID


class CrossEntropy(nn.Module):
    """Cross-entropy on long labels (void ignored) or on probability maps (void = zero vector).

    Long labels: ``F.cross_entropy`` (a weighted mean over the non-void pixels, normalised by
    their summed weights). Probability maps (the averaged deep-supervision targets): the
    official FC-Log-DenseNet code's loss, sum_c w_c y_c (-log p_c) over the pixels whose
    shares add up to more than 0.5, divided by their number (anytime_fcn.py:157-164,237-250).
    ``label_smoothing`` mixes eps / C into the target of every labelled pixel in both cases.
    """

    def __init__(self, weight: torch.Tensor | None = None, label_smoothing: float = 0.0,
                 ignore_index: int = VOID_ID) -> None:
        super().__init__()
        self.ignore_index = ignore_index  # the void id: num_classes (segnet.data.classes)
        self.register_buffer("weight", weight, persistent=False)
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if not target.is_floating_point():
            return F.cross_entropy(logits, target, weight=self.weight, ignore_index=self.ignore_index,
                                   label_smoothing=self.label_smoothing)
        mass = target.sum(1)
        labelled = (mass > 0.5).float()
        if self.label_smoothing:
            target = (1 - self.label_smoothing) * target + self.label_smoothing / target.shape[1] * mass[:, None]
        per_class = -target * F.log_softmax(logits, 1)
        if self.weight is not None:
            per_class = per_class * self.weight[None, :, None, None]
        return (per_class.sum(1) * labelled).sum() / labelled.sum().clamp(min=1.0)


def make_criterion(class_weights: torch.Tensor | None = None, label_smoothing: float = 0.0,
                   ignore_index: int = VOID_ID) -> CrossEntropy:
    return CrossEntropy(class_weights, label_smoothing, ignore_index)


def class_weights_for(kind: str, label_paths, num_classes: int = NUM_CLASSES, cache_dir=None):
    """``none`` -> None; ``median_frequency`` / ``median_frequency_global`` -> weights from the
    train label maps (segnet.data.class_weights says how each is defined)."""
    if kind == "none":
        return None
    from segnet.data.class_weights import median_frequency_weights

    return median_frequency_weights(label_paths, num_classes=num_classes, cache_dir=cache_dir, definition=kind)


def training_loss(output, target, criterion, final_weight: float = 0.5, final_only: bool = False,
                  weighting: str = "even", aux_targets: str = "nearest") -> torch.Tensor:
    """Plain logits or ``(final, [aux...])`` -> the (deep-supervision) loss in float32."""
    from segnet.models import deep_supervision_loss

    if isinstance(output, torch.Tensor):
        output = output.float()
    else:
        output = (output[0].float(), [a.float() for a in output[1]])
    return deep_supervision_loss(output, target, criterion, final_weight, weighting, aux_targets, final_only)
