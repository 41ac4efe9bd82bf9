"""Which runtime runs a model, and the Predictor built on it (``--backend auto`` and the others).

The default for a ``.pt`` on a CPU is measured (`segnet bench predict`, docs/results/inference.md):
OpenVINO runs segnet's networks in less CPU time per frame than PyTorch's eager forward with the
same labels, and its INT8 IR (NNCF after segnet.deploy.quantize) takes about 1.5x less again. INT8
is the default only for a model whose INT8 IR passes segnet.deploy.int8_check (at most 0.5 mIoU
lost against float32 on val frames, measured once per IR); any other model runs float32.
``--amp off`` asks for float32, ``--amp bf16/fp16`` for torch autocast; CUDA always runs torch.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from segnet.checkpoints.exported import load_exported
from segnet.checkpoints.model_card import ModelCard
from segnet.core.choices import BACKENDS
from segnet.core.device import resolve_device
from segnet.deploy.int8_check import DataMismatch, int8_verdict, verdict_line
from segnet.deploy.ir_cache import cached_ir
from segnet.errors import SegnetError
from segnet.inference.predictor import MAX_PIXELS, TILE, Predictor
from segnet.inference.runtimes import exported_runtime, openvino_available, torch_runtime

CPU_DEFAULT_PRECISION = "int8"


def default_runtime(device: torch.device, amp: str) -> tuple[str, str]:
    """(backend, precision) that ``--backend auto`` uses for a .pt checkpoint."""
    if device.type != "cpu" or amp in ("bf16", "fp16") or os.environ.get("SEGNET_BACKEND", "auto") == "torch":
        return "torch", "amp"
    if not openvino_available():
        return "torch", "amp"
    return "openvino", "float32" if amp == "off" else CPU_DEFAULT_PRECISION


def load_predictor(ckpt: dict[str, Any], source: str = "checkpoint", device: str = "auto", amp: str = "auto",
                   tta: str | None = None, channels_last: bool | None = None, fused: bool = True,
                   backend: str = "auto", tiles: bool | None = None, max_pixels: int = MAX_PIXELS,
                   tile: int = TILE, rescale: str = "auto") -> Predictor:
    """A Predictor for a checkpoint (or an exported file's fields) on the runtime ``backend`` names.

    backend: "auto" (on a CPU, a .pt runs on OpenVINO INT8 when its INT8 IR passes the accuracy
    check, else float32, converted and checked once and cached; on CUDA, torch; an exported file
    on its runtime), "torch", "openvino" or "onnxruntime". amp="auto" and channels_last=None pick
    the fastest correct torch path (segnet.core.device); ``fused=False`` runs a torch module as it
    is (no buffered FC-DenseNet forward).
    """
    if backend not in BACKENDS:
        raise SegnetError(f"unknown backend '{backend}' (use {', '.join(BACKENDS)})")
    card = ModelCard.from_checkpoint(ckpt, source)  # classes and preprocessing, read in one place
    if not ckpt.get("exported") and backend in ("auto", "openvino"):
        runtime, precision = default_runtime(resolve_device(device), amp)
        if backend == "openvino":
            runtime, precision = "openvino", "float32" if amp == "off" else CPU_DEFAULT_PRECISION
        if runtime == "openvino":  # the .pt converted once, kept by weights hash
            ckpt = _converted(ckpt, source, precision, required=backend == "openvino")
    if ckpt.get("exported"):
        runtime = exported_runtime(ckpt, backend, device, amp, source)
    elif backend == "onnxruntime":
        raise SegnetError("backend onnxruntime runs an exported model: export the checkpoint to ONNX "
                          "first, then pass that file")
    else:
        runtime = torch_runtime(ckpt, source, device, amp, channels_last, fused)
    return Predictor(card, runtime, tta=tta, tiles=tiles, max_pixels=max_pixels, tile=tile, rescale=rescale,
                     source=source)


def cached_openvino(ckpt: dict[str, Any], source: str, precision: str,
                    calibration_frames: int | None = None, verify: bool = True) -> dict[str, Any] | None:
    """The checkpoint as an OpenVINO IR (exported fields), made once and kept by weights hash in
    the package's assets (the bundled model's, shipped) or the cache folder. INT8 calibrates on
    the model's training frames and, with ``verify``, must pass segnet.deploy.int8_check;
    otherwise it returns None with one printed line saying why (the caller runs float32).
    ``verify=False`` (benchmarks) returns the INT8 IR whatever its accuracy, None only when it
    cannot be made."""
    if precision != "int8":
        return load_exported(cached_ir(ckpt, source, "float32"))
    if verify:
        verdict = int8_verdict(ckpt, source, calibration_frames)
        if not verdict["accepted"]:
            print(verdict_line(source, verdict), flush=True)
            return None
    try:
        return load_exported(cached_ir(ckpt, source, "int8", calibration_frames))
    except SegnetError:
        return None  # no training frames to calibrate on


def _converted(ckpt: dict[str, Any], source: str, precision: str, required: bool) -> dict[str, Any]:
    """The checkpoint as a cached OpenVINO IR; for ``auto``, the checkpoint itself (torch) when the
    conversion fails (a model the ONNX exporter cannot trace): slower, never a failed run."""
    try:
        return cached_openvino(ckpt, source, precision) or cached_openvino(ckpt, source, "float32")
    except SegnetError as exc:
        if required or isinstance(exc, DataMismatch):  # torch would read the same labels: fail once, here
            raise
        print(f"running {source} on torch: {exc}", flush=True)
        return ckpt
