"""``segnet.evaluate``, ``segnet.train`` / ``segnet.resume`` and ``segnet.export``, with typed results."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segnet.api.model import Model, load_model
from segnet.errors import SegnetError


def _model(model: Model | str | os.PathLike | None) -> Model:
    return model if isinstance(model, Model) else load_model(model)


@dataclass
class EvaluationResult:
    """Scores of a model on one split (void pixels ignored). IoU values are fractions in [0, 1];
    a class never seen nor predicted has IoU NaN."""

    miou: float
    per_class_iou: dict[str, float]
    pixel_accuracy: float
    mean_class_accuracy: float
    confusion: np.ndarray  # [num_classes, num_classes] pixel counts; rows: truth, columns: prediction
    class_names: list[str]
    split: str
    num_images: int
    report: dict[str, Any] = field(repr=False)  # everything, as metrics.json holds it

    def save(self, folder: str | os.PathLike) -> list[Path]:
        """Write metrics.json, per_class_iou.csv and confusion_matrix.png into ``folder`` (all or nothing)."""
        from segnet.inference.evaluate import write_report

        return write_report(self.report, folder)

    def table(self) -> str:
        """The per-class IoU table ``segnet evaluate`` prints."""
        from segnet.inference.evaluate import format_table

        return format_table(self.report)


def evaluate(model: Model | str | os.PathLike | None, data_root: str | os.PathLike | None = None,
             split: str = "test", batch_size: int = 2, bn: str = "running", protocol: str = "standard",
             progress: bool = False) -> EvaluationResult:
    """Per-class IoU, mIoU, accuracies and confusion matrix of ``model`` on a split of a dataset.

    ``model``: a Model, or anything ``load_model`` takes. ``data_root``: a folder in the SegNet
    layout (default: $SEGNET_DATA_ROOT or data/CamVid). ``split``: "test", "val", "train" or
    "trainval". ``bn="batch"`` normalises with each test batch's statistics (the official
    FC-DenseNet evaluation); "running" uses the stored ones. ``protocol="paper"`` takes BatchNorm
    mode and batch size from the paper's own evaluation of this architecture.
    """
    from segnet.inference.evaluate import evaluate as run_evaluation
    from segnet.paths import default_data_root

    model = _model(model)
    report = run_evaluation(model._ckpt, model.source, data_root or default_data_root(), split=split,
                            batch_size=batch_size, device=str(model.device), amp=model.amp, tta=model.tta,
                            bn=bn, protocol=protocol, progress=progress)
    return EvaluationResult(
        miou=report["miou"], per_class_iou=dict(report["per_class_iou"]), pixel_accuracy=report["pixel_accuracy"],
        mean_class_accuracy=report["mean_class_accuracy"], confusion=np.asarray(report["confusion_matrix"], dtype=np.int64),
        class_names=list(report["class_names"]), split=split, num_images=report["num_images"], report=report,
    )


@dataclass
class TrainingRun:
    """Where a training run lives and how it ended."""

    run_dir: Path
    best_checkpoint: Path  # best.pt: the weights with the best validation mIoU
    best_miou: float | None  # None when no validation ran
    stopped: str  # why training ended (epochs done, early stopping, time budget, ...)
    summary: dict[str, Any] = field(repr=False)

    def load_model(self, **kwargs) -> Model:
        """The best model of this run (keyword arguments as for ``segnet.load_model``)."""
        return load_model(self.best_checkpoint, **kwargs)


def _run(summary: dict[str, Any]) -> TrainingRun:
    best = summary.get("best_miou")
    best = float(best) if isinstance(best, (int, float)) and math.isfinite(best) else None
    return TrainingRun(Path(summary["run_dir"]), Path(summary["best"]), best, str(summary.get("stopped", "")), summary)


def train(config, command: str = "") -> TrainingRun:
    """Train as ``config`` says: a config from ``segnet.load_config(path, overrides)``, or a recipe path.

    Writes the run folder (``config.run_dir``, default runs/<name>-<time>): last.pt, best.pt,
    metrics.csv, curves. ``command`` is recorded in the checkpoints' meta.
    """
    from omegaconf import DictConfig

    from segnet.config import load_config
    from segnet.training.train import train as run_training

    if isinstance(config, (str, os.PathLike)):
        config = load_config(config)
    if not isinstance(config, DictConfig):
        raise SegnetError(f"train needs a config from segnet.load_config or a recipe path, got {type(config).__name__}")
    return _run(run_training(config, command=command))


def resume(run_dir: str | os.PathLike, overrides: list[str] | None = None, command: str = "") -> TrainingRun:
    """Continue a stopped run from its last.pt; ``overrides`` (key=value) may add epochs or time."""
    from segnet.training.train import resume as run_resume

    return _run(run_resume(run_dir, overrides, command=command))


def export(model: Model | str | os.PathLike | None, path: str | os.PathLike, format: str = "onnx") -> Path:
    """Write ``model`` as ONNX (dynamic batch, height, width; classes and preprocessing in its
    metadata). The file appears whole or not at all."""
    from segnet.inference.export import FORMATS, export_onnx

    if format not in FORMATS:
        raise SegnetError(f"unknown export format {format!r} (supported: {', '.join(FORMATS)})")
    model = _model(model)
    if "model" not in model._ckpt:  # an exported .onnx/.xml has a graph, not the weights export needs
        raise SegnetError(f"{model.source} is already an exported model; export from its .pt checkpoint")
    return export_onnx(model._ckpt, path, source=model.source)
