"""Segmentation metrics from one confusion matrix (torchmetrics), void ignored.

The headline mIoU is the dataset-level IoU averaged over classes (the papers' number),
not torchmetrics' per-image ``MeanIoU``.
"""

from __future__ import annotations

import torch
from torchmetrics.classification import MulticlassConfusionMatrix


class SegmentationMetrics:
    """Accumulates a confusion matrix over batches; ``compute`` gives IoU and accuracies."""

    def __init__(self, num_classes: int, ignore_index: int, device="cpu"):
        """``ignore_index``: the void id, whose pixels are not scored."""
        self.num_classes = num_classes
        self.confmat = MulticlassConfusionMatrix(
            num_classes=num_classes, ignore_index=ignore_index, validate_args=False
        ).to(device)

    def reset(self) -> None:
        self.confmat.reset()

    @torch.no_grad()
    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """``prediction``: logits [N, C, H, W] or class ids [N, H, W]; ``target``: [N, H, W]."""
        if prediction.dim() == 4:
            prediction = prediction.argmax(dim=1)
        self.confmat.update(prediction.reshape(-1), target.reshape(-1))

    def compute(self) -> dict:
        return metrics_from_confusion(self.confmat.compute())


def metrics_from_confusion(confusion: torch.Tensor) -> dict:
    """IoU per class, mIoU, global pixel accuracy and mean class accuracy.

    Rows are true classes, columns predictions. A class absent from both prediction and
    truth has no IoU (NaN) and is left out of the mean.
    """
    cm = confusion.double().cpu()
    tp = cm.diag()
    true_count, pred_count = cm.sum(1), cm.sum(0)
    union = true_count + pred_count - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    class_acc = torch.where(true_count > 0, tp / true_count.clamp(min=1), torch.full_like(tp, float("nan")))
    total = cm.sum()
    return {
        "miou": float(iou.nanmean()) if (~iou.isnan()).any() else float("nan"),
        "per_class_iou": iou.tolist(),
        "pixel_accuracy": float(tp.sum() / total) if total > 0 else float("nan"),
        "mean_class_accuracy": float(class_acc.nanmean()) if (~class_acc.isnan()).any() else float("nan"),
        "confusion_matrix": cm.long().tolist(),
    }
