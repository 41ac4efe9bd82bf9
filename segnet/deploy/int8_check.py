"""The accuracy check that makes OpenVINO INT8 the default CPU precision of a .pt.

INT8 may be the default only when it loses at most INT8_MAX_MIOU_LOSS mIoU points against
float32. ``int8_verdict`` runs the float32 IR and the INT8 IR (both as cached for the default
path, segnet.inference.runtimes) on INT8_CHECK_FRAMES frames of the VAL split of the model's
dataset, scores each as ``segnet evaluate`` does, and keeps the verdict beside the IR
(``<IR name>.check.json``) so that it is measured once. VAL, not test: the test split stays the
honest measure of whichever model runs; for the bundled FC-DenseNet56 the INT8 recipe itself was
chosen on val (segnet.deploy.quantize), so its verdict there is not an independent one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from segnet.checkpoints.exported import load_exported
from segnet.checkpoints.model_card import ModelCard
from segnet.core.atomic import atomic_write
from segnet.core.metrics import SegmentationMetrics
from segnet.core.paths import cache_dir
from segnet.data.camvid import read_pair
from segnet.data.classes import DatasetClasses, load_classes
from segnet.data.images import read_label
from segnet.deploy.export import model_data_root, spread_pairs
from segnet.deploy.ir_cache import cached_ir, ir_path
from segnet.errors import SegnetError
from segnet.inference.predictor import Predictor
from segnet.inference.runtimes import exported_runtime, plugin_float_precision

INT8_MAX_MIOU_LOSS = 0.5  # mIoU points INT8 may lose against float32 and still be the default
INT8_CHECK_SPLIT = "val"  # labelled, and never the test split the model's mIoU is reported on
INT8_CHECK_FRAMES = 10  # spread over the split: 20 forward passes, once per model


def int8_verdict(ckpt: dict[str, Any], source: str, calibration_frames: int | None = None) -> dict[str, Any]:
    """Whether the checkpoint's INT8 IR may be the default: its mIoU (points) and the float32 IR's
    on INT8_CHECK_FRAMES frames of the VAL split of the model's dataset, void ignored, accepted
    when INT8 loses <= INT8_MAX_MIOU_LOSS. Measured once, kept as ``<IR name>.check.json`` beside
    the IR (in the cache folder for a shipped IR). Without val frames or an INT8 IR: not accepted,
    ``error`` says why, nothing kept (a val split added later gets checked)."""
    ir, _ = ir_path(ckpt, "int8", calibration_frames)
    kept = [ir.with_suffix(".check.json"), cache_dir() / "openvino" / f"{ir.stem}.check.json"]
    for path in kept:
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except ValueError:  # damaged by hand: measure again
                pass
    try:  # before any conversion: without val frames the INT8 IR would never be used
        root, classes, pairs = _check_frames(ckpt, source)
    except DataMismatch:
        raise
    except SegnetError as exc:
        return {"accepted": False, "error": str(exc)}
    try:
        ir = cached_ir(ckpt, source, "int8", calibration_frames)
    except SegnetError as exc:
        return {"accepted": False, "error": f"no INT8 IR: {exc}"}
    fp32 = cached_ir(ckpt, source, "float32")
    fp32_miou, int8_miou = _split_miou(source, classes, pairs, [(fp32, "off"), (ir, "auto")])
    verdict = {"fp32_miou": round(fp32_miou, 4), "int8_miou": round(int8_miou, 4), "frames": len(pairs),
               "split": INT8_CHECK_SPLIT, "data_root": str(root), "max_loss": INT8_MAX_MIOU_LOSS,
               "accepted": bool(fp32_miou - int8_miou <= INT8_MAX_MIOU_LOSS)}
    with atomic_write(kept[-1], "w") as f:
        f.write(json.dumps(verdict, indent=2) + "\n")
    return verdict


def verdict_line(source: str, verdict: dict[str, Any]) -> str:
    """One line: the INT8 check's numbers and what runs because of them."""
    if "error" in verdict:
        return f"INT8 of {source} not verified ({verdict['error']}): {_float_fallback()}"
    loss = verdict["fp32_miou"] - verdict["int8_miou"]
    numbers = (f"{verdict['split']} mIoU float32 {verdict['fp32_miou']:.2f}, INT8 {verdict['int8_miou']:.2f} "
               f"on {verdict['frames']} frames (loss {loss:.2f}, allowed {verdict['max_loss']})")
    if verdict["accepted"]:
        return f"INT8 of {source} accepted: {numbers}"
    return f"INT8 of {source} rejected: {numbers}: {_float_fallback()}"


def _float_fallback() -> str:
    """What runs instead of INT8: the float32 IR, computed at the CPU plugin's precision (bf16 on
    AMX CPUs, not float32)."""
    return f"running the float32 IR on OpenVINO ({plugin_float_precision()} arithmetic on this CPU)"


class DataMismatch(SegnetError):
    """The model's dataset has labels its classes do not allow: an error to report once, before any
    conversion, not a reason to try another runtime (each would meet the same labels)."""


def _check_frames(ckpt: dict[str, Any], source: str) -> tuple[Path, Any, list]:
    """(data root, its classes, INT8_CHECK_FRAMES (image, label) paths of INT8_CHECK_SPLIT) of the
    model's dataset; its labels are read here, before the minutes a conversion takes."""
    root = model_data_root(ckpt)
    classes = load_classes(root)
    if classes.names != DatasetClasses.from_checkpoint(ckpt, source).names:
        raise SegnetError(f"the data at {root} has other classes than {source}")
    pairs = spread_pairs(root, INT8_CHECK_SPLIT, INT8_CHECK_FRAMES)
    for _, label_path in pairs:
        try:
            read_label(label_path, classes)
        except SegnetError as exc:
            raise DataMismatch(f"{source}: its data does not match its classes: {exc}") from None
    return root, classes, pairs


def _split_miou(source: str, classes, pairs: list, irs: list[tuple[Path, str]]) -> list[float]:
    """mIoU (points) of each (IR, amp) over ``pairs``, run as ``segnet evaluate`` runs it
    (Predictor, one confusion matrix over all frames, void ignored)."""
    predictors = []
    for ir, amp in irs:
        exported = load_exported(ir)
        predictors.append(Predictor(ModelCard.from_checkpoint(exported, source),
                                    exported_runtime(exported, "openvino", "cpu", amp, source), source=source))
    metrics = [SegmentationMetrics(classes.num_classes, classes.void_id) for _ in irs]
    for image_path, label_path in pairs:
        image, label = read_pair(image_path, label_path, classes)
        target = torch.from_numpy(label[None]).long()
        for predictor, metric in zip(predictors, metrics):
            metric.update(torch.from_numpy(predictor.predict([image])).long(), target)
    return [100 * metric.compute()["miou"] for metric in metrics]
