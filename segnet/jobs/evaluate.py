"""Per-class IoU, mIoU and accuracies of a checkpoint on a dataset split (CamVid, or any folder with a classes.yaml).

Outputs (all or nothing, see segnet.jobs.staging): ``metrics.json``, ``per_class_iou.csv``
and ``confusion_matrix.png`` (row-normalised); with per-frame scores (``FrameScores``), the
self-contained ``report.html`` too (segnet.jobs.report). Both protocols ignore void pixels and sum
intersections and unions over the whole split before dividing, as both papers' code did.

``protocol`` (``segnet evaluate --protocol``), the one switch between the two ways we report:
- ``standard``: PyTorch's eval mode, BatchNorm with its running averages, any batch size.
- ``paper``: what the model's paper evaluated with (``paper_protocol``). FC-DenseNet's test
  script normalised with the statistics of each test batch of 10 frames (SimJeg/FC-DenseNet
  test.py:29-30,45 ``batch_norm_use_averages=False``, deliberate: SimJeg issue #8); the
  FC-Log-DenseNet code evaluated one frame at a time with tensorpack's moving averages
  (EchoWho/AnytimeNeuralNetwork_public anytime_models/examples/fcdense-ann.py:99,279-283).
  Other models get the FC-DenseNet test script's protocol, the one our tables compare to.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from segnet.core.choices import BN_MODES, PROTOCOLS
from segnet.core.metrics import SegmentationMetrics
from segnet.data.camvid import find_pairs, read_pair
from segnet.data.classes import DatasetClasses, load_classes
from segnet.deploy.loading import load_predictor
from segnet.errors import SegnetError
from segnet.inference.forward import use_batch_statistics
from segnet.inference.predictor import Predictor
from segnet.jobs.frame_scores import FrameScores
from segnet.jobs.report import write_report_html
from segnet.jobs.staging import Staging
from segnet.jobs.visualize import confusion_matrix_figure


def paper_protocol(model_name: str) -> dict[str, Any]:
    """BatchNorm mode and batch size of the paper's own evaluation of ``model_name``."""
    if model_name.startswith("fc_log_densenet"):
        return {"bn": "running", "batch_size": 1,
                "source": "AnytimeNeuralNetwork_public fcdense-ann.py:99,279-283 (tensorpack moving averages)"}
    return {"bn": "batch", "batch_size": 10, "source": "SimJeg/FC-DenseNet test.py:29-30,45"}


def evaluate(ckpt: dict[str, Any], source: str, data_root: str | Path, split: str = "test",
             batch_size: int = 2, device: str = "auto", amp: str = "auto", tta: str | None = None,
             bn: str = "running", progress: bool = True, protocol: str = "standard",
             backend: str = "auto", running_predictor: Callable[[], Predictor] | None = None,
             rescale: str = "auto", frames: FrameScores | None = None) -> dict[str, Any]:
    """Metrics over the whole split (void pixels ignored); returns the metrics.json content.

    ``protocol="paper"`` replaces ``bn`` and ``batch_size`` by ``paper_protocol``'s.
    ``frames``: given, it scores every frame as predicted here (``FrameScores.add``), for report.html.
    ``running_predictor``: gives the predictor to use with running statistics (a Model's own, so
    that it is not built twice); batch statistics always get a torch predictor of their own.
    """
    if protocol not in PROTOCOLS:
        raise SegnetError(f"protocol must be one of {', '.join(PROTOCOLS)}, got '{protocol}'")
    paper = paper_protocol(str(ckpt.get("model_name", ""))) if protocol == "paper" else None
    if paper:
        bn, batch_size = paper["bn"], paper["batch_size"]
    if bn not in BN_MODES:
        raise SegnetError(f"bn must be one of {', '.join(BN_MODES)}, got '{bn}'")
    if batch_size < 1:
        raise SegnetError(f"batch_size must be >= 1, got {batch_size}")
    classes, trained = load_classes(data_root), DatasetClasses.from_checkpoint(ckpt, source)
    if trained.names != classes.names:
        raise SegnetError(f"{source}: model has {trained.num_classes} classes ({', '.join(trained.names)}), the data "
                          f"at {data_root} has {classes.num_classes} ({', '.join(classes.names)})")
    if bn == "running" and running_predictor is not None:
        predictor = running_predictor()
    else:  # batch statistics need the module tree as trained: no folded/buffered inference path
        predictor = load_predictor(ckpt, source, device=device, amp=amp, tta=tta, fused=(bn == "running"),
                                   backend=backend if bn == "running" else "torch", rescale=rescale)
    if bn == "batch":
        use_batch_statistics(predictor.model)
    pairs = find_pairs(data_root, split)
    metrics = SegmentationMetrics(classes.num_classes, classes.void_id, device=predictor.device)
    start = time.perf_counter()
    with tqdm(total=len(pairs), desc=f"evaluate {split}", unit="img", disable=not progress, dynamic_ncols=True) as bar:
        for first in range(0, len(pairs), batch_size):
            batch = pairs[first:first + batch_size]
            images, labels = zip(*(read_pair(*pair, classes) for pair in batch))
            names = [Path(image_path).stem for image_path, _ in batch]
            if len({i.shape for i in images}) > 1:  # frames of other sizes: one at a time
                for name, image, label in zip(names, images, labels):
                    _score(predictor, metrics, frames, [name], [image], [label])
            else:
                _score(predictor, metrics, frames, names, images, labels)
            bar.update(len(images))
    seconds = time.perf_counter() - start
    return {
        "checkpoint": str(source),
        "model_name": ckpt["model_name"],
        "split": split,
        "data_root": str(data_root),
        "num_images": len(pairs),
        **summarize(metrics, list(classes.names)),
        "settings": {"protocol": protocol, "protocol_source": paper["source"] if paper else "PyTorch eval mode",
                     "tta": tta or "none", "bn": bn, "batch_size": batch_size, "device": str(predictor.device),
                     "precision": predictor.precision, "backend": predictor.backend_name,
                     "input_scale": predictor.input_scale, "rescale": predictor.rescale},
        "seconds": seconds,
    }


def summarize(metrics: SegmentationMetrics, class_names: list[str]) -> dict[str, Any]:
    """mIoU, accuracies, per-class IoU/accuracy keyed by class name, confusion matrix."""
    result = metrics.compute()
    return {
        "miou": result["miou"],
        "pixel_accuracy": result["pixel_accuracy"],
        "mean_class_accuracy": result["mean_class_accuracy"],
        "per_class_iou": dict(zip(class_names, result["per_class_iou"])),
        "per_class_accuracy": dict(zip(class_names, _class_accuracy(result["confusion_matrix"]))),
        "confusion_matrix": result["confusion_matrix"],
        "class_names": class_names,
    }


def _score(predictor: Predictor, metrics: SegmentationMetrics, frames: FrameScores | None, names, images,
           labels) -> None:
    """One batch of same-sized frames into the split's metrics and, when kept, the per-frame scores."""
    predicted = predictor.logits(predictor.to_tensor(list(images))).argmax(dim=1)
    metrics.update(predicted, torch.from_numpy(np.stack(labels)).long().to(predictor.device))
    if frames is not None:
        for name, image, label, ids in zip(names, images, labels, predicted.cpu().numpy()):
            frames.add(name, image, label, ids)


def _class_accuracy(confusion: list[list[int]]) -> list[float]:
    return [row[i] / sum(row) if sum(row) else math.nan for i, row in enumerate(confusion)]


def write_report(result: dict[str, Any], out: str | Path, frames: FrameScores | None = None,
                 description: str = "") -> list[Path]:
    """metrics.json, per_class_iou.csv and confusion_matrix.png into ``out``, and report.html when
    ``frames`` (the per-frame scores of the same evaluation) is given: all or nothing.
    ``description``: the model and settings line shown at the top of the report."""
    names = ["metrics.json", "per_class_iou.csv", "confusion_matrix.png"]
    with Staging(out) as stage:
        write_metrics_files(result, stage)
        if frames is not None:
            write_report_html(stage.path("report.html"), frames.class_names, frames.palette,
                              result["confusion_matrix"], result["per_class_iou"], frames.mious(), frames.worst(),
                              report_metadata(result, description))
            names.append("report.html")
    return [Path(out) / n for n in names]


def report_metadata(result: dict[str, Any], description: str = "") -> dict[str, str]:
    """The facts at the top of report.html, from a metrics.json-shaped ``result``."""
    settings = result.get("settings", {})
    return {"title": f"{result['model_name']} on {dataset_name(result)} {result['split']}",
            "mIoU": _pct(result["miou"]), "model": description or result["model_name"],
            "checkpoint": str(result.get("checkpoint", "")),
            "split": f"{result['split']} ({result['num_images']} frames)",
            "protocol": f"{settings.get('protocol', 'standard')} "
                        f"({settings.get('protocol_source', 'PyTorch eval mode')})",
            "seconds": f"{result.get('seconds', math.nan):.1f}"}


def write_metrics_files(result: dict[str, Any], stage: Staging, title: str | None = None) -> None:
    """The three report files into a staging folder (NaN, a class never seen nor predicted, as null)."""
    clean = json.loads(json.dumps(result, default=str), parse_constant=lambda c: None)
    stage.path("metrics.json").write_text(json.dumps(clean, indent=2) + "\n")
    with open(stage.path("per_class_iou.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class_id", "class", "iou", "accuracy"])
        for i, name in enumerate(result["class_names"]):
            iou, acc = result["per_class_iou"][name], result["per_class_accuracy"][name]
            writer.writerow([i, name, "" if math.isnan(iou) else f"{iou:.6f}", "" if math.isnan(acc) else f"{acc:.6f}"])
    miou = f"mIoU {100 * result['miou']:.1f}"
    title = title or f"{result['model_name']} on {dataset_name(result)} {result['split']} ({miou})"
    confusion_matrix_figure(result["confusion_matrix"], result["class_names"], stage.path("confusion_matrix.png"),
                            title)


def dataset_name(result: dict[str, Any]) -> str:
    """The data root's folder name (``CamVid`` for data/CamVid), for titles and headers."""
    return Path(result.get("data_root") or "CamVid").name


def format_table(result: dict[str, Any]) -> str:
    """The IoU table printed by ``segnet evaluate`` (percentages)."""
    width = max(len(n) for n in [*result["class_names"], "mean class accuracy"]) + 2
    lines = [f"{'id':>3}  {'class':<{width}}{'IoU':>7}{'acc':>8}"]
    for i, name in enumerate(result["class_names"]):
        iou, acc = result["per_class_iou"][name], result["per_class_accuracy"][name]
        lines.append(f"{i:>3}  {name:<{width}}{_pct(iou):>7}{_pct(acc):>8}")
    lines.append("-" * len(lines[0]))
    lines.append(f"{'':>3}  {'mIoU':<{width}}{_pct(result['miou']):>7}")
    lines.append(f"{'':>3}  {'global accuracy':<{width}}{_pct(result['pixel_accuracy']):>7}")
    lines.append(f"{'':>3}  {'mean class accuracy':<{width}}{_pct(result['mean_class_accuracy']):>7}")
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f}"
