"""Predictor: a model on a runtime, turning RGB uint8 frames of any size into class ids.

Shared by predict, evaluate, demo and the Python API. The model is a checkpoint (``.pt``) or an
exported OpenVINO IR / ONNX file (segnet.inference.backends.load_exported gives it the same
fields); the runtime is picked by ``backend``. Frames smaller than the network takes are padded
and cropped back, frames over ``max_pixels`` (network pixels) are segmented in overlapping tiles
(segnet.inference.tiling); either way the labels have the frame's own size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from segnet.core.checkpoint import model_from_checkpoint
from segnet.core.device import resolve_amp, resolve_device
from segnet.core.model_card import ModelCard, rescale_mode
from segnet.errors import SegnetError
from segnet.inference.backends import (BACKENDS, CPU_DEFAULT_PRECISION, OnnxRuntimeBackend, OpenVINOBackend, TorchBackend, cache_dir,
                                      cached_openvino, default_runtime)
from segnet.inference.fast import prepare_for_inference
from segnet.inference.tiling import pad_to, predict_tiled, size_rule

# Whole-frame inference up to this many network pixels (after network_scale); larger frames go in
# tiles of TILE network pixels per side overlapping by a third, as mmseg's slide mode (a 48 MP
# photo's peak memory: docs/results/inference.md).
MAX_PIXELS = 1_200_000
TILE = 768


class Predictor:
    """A model on a runtime, ready for RGB uint8 frames.

    backend: "auto" (on a CPU, a .pt runs on OpenVINO INT8 when its INT8 IR loses <= 0.5 val mIoU
    against float32, else float32; converted and checked once, cached,
    segnet.inference.backends.default_runtime; on CUDA, torch; an exported file
    on its runtime), "torch", "openvino" or "onnxruntime". amp="auto" and channels_last=None pick
    the fastest correct torch path: bf16 autocast and channels_last on CUDA and on AMX CPUs
    (segnet.core.device), float32 otherwise; for FC-DenseNets the buffered forward of
    segnet.inference.fast (``fused=False``: the model as is). tiles: None = when a frame exceeds
    ``max_pixels``, True = always, False = never. rescale: how a frame is resized for the network
    (network_scale): "auto" = "frame" when the model card records its training frame size, else
    "factor".
    """

    def __init__(self, ckpt: dict[str, Any], source: str = "checkpoint", device: str = "auto",
                 amp: str = "auto", tta: str | None = None, channels_last: bool | None = None,
                 fused: bool = True, backend: str = "auto", tiles: bool | None = None,
                 max_pixels: int = MAX_PIXELS, tile: int = TILE, rescale: str = "auto"):
        self.tta = None if tta in (None, "none") else tta
        if self.tta not in (None, "flip"):
            raise SegnetError(f"unknown tta '{tta}' (use flip)")
        if backend not in BACKENDS:
            raise SegnetError(f"unknown backend '{backend}' (use {', '.join(BACKENDS)})")
        self.card = ModelCard.from_checkpoint(ckpt, source)  # classes and preprocessing, read in one place
        self.num_classes, self.class_names = self.card.classes.num_classes, list(self.card.classes.names)
        self.palette, self.input_scale = self.card.classes.palette, self.card.input_scale
        self.rescale = rescale_mode(rescale, self.card, source)
        self.tiles, self.max_pixels, self.tile = tiles, max_pixels, tile
        self.model = None  # the torch module, for the torch backend
        if not ckpt.get("exported") and backend in ("auto", "openvino") and fused:
            runtime, precision = default_runtime(resolve_device(device), amp)
            if backend == "openvino":
                runtime, precision = "openvino", "float32" if amp == "off" else CPU_DEFAULT_PRECISION
            if runtime == "openvino":  # the .pt converted once, kept by weights hash
                ckpt = _converted(ckpt, source, precision, required=backend == "openvino")
        exported = ckpt.get("exported")
        if exported:
            self.backend = _exported_backend(exported, ckpt.get("precision", "float32"), backend, device, amp, source)
            self.multiple, self.min_size = int(ckpt.get("size_multiple", 32)), int(ckpt.get("min_size", 32))
        else:
            if backend == "onnxruntime":
                raise SegnetError("backend onnxruntime runs an exported model: export the checkpoint to ONNX "
                                  "first, then pass that file")
            dev = resolve_device(device)
            model = model_from_checkpoint(ckpt, source).eval().to(dev)
            self.multiple, self.min_size = size_rule(model)
            channels_last = True if channels_last is None else channels_last
            self.model = prepare_for_inference(model, channels_last=channels_last, fused=fused)
            self.backend = TorchBackend(self.model, dev, resolve_amp(amp, dev), channels_last)
        self.device = self.backend.device
        self.amp_dtype = getattr(self.backend, "amp_dtype", None)
        norm = self.card.normalization
        self.mean = torch.tensor(norm.get("mean", (0.0, 0.0, 0.0)), dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(norm.get("std", (1.0, 1.0, 1.0)), dtype=torch.float32, device=self.device).view(1, -1, 1, 1)

    def to_tensor(self, images: list[np.ndarray]) -> torch.Tensor:
        """HxWx3 uint8 RGB frames (same size) -> normalised float [N, 3, H, W] on the device."""
        batch = torch.from_numpy(np.stack(images)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        return batch.sub_(self.mean).div_(self.std)

    def network_scale(self, height: int, width: int) -> float:
        """The factor a height x width frame is resized by for the network (network_scale)."""
        return network_scale(self.card, height, width, self.rescale)

    @torch.no_grad()
    def logits(self, batch: torch.Tensor, scale: float | None = None) -> torch.Tensor:
        """float32 logits [N, C, H, W] of a normalised batch, at the batch's size (any size >= 1x1).

        The network sees the batch resized by ``scale`` (default: network_scale of the batch's
        size; antialiased, as in training) and padded to a size it takes; its logits are cropped
        and resized back bilinearly.
        """
        size = batch.shape[-2:]
        x = scale_input(batch, self.network_scale(*size) if scale is None else scale)
        h, w = x.shape[-2:]
        x = pad_to(x, self.multiple, self.min_size)
        out = self.backend(x)
        if self.tta == "flip":
            out = 0.5 * (out + self.backend(x.flip(-1)).flip(-1))
        out = out[..., :h, :w].to(batch.device)
        if out.shape[-2:] != size:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        """[N, H, W] uint8 class ids for same-size RGB frames; large frames in tiles."""
        h, w = images[0].shape[:2]
        scale = self.network_scale(h, w)
        if self._tiled(h, w, scale):
            side = max(1, round(self.tile / scale))  # the tile in frame pixels
            stride = max(1, side * 2 // 3)
            return np.stack([predict_tiled(image, lambda crop: self.logits(self.to_tensor([crop]), scale)[0],
                                           (side, side), (stride, stride)) for image in images])
        return self.logits(self.to_tensor(images), scale).argmax(1).to(torch.uint8).cpu().numpy()

    def _tiled(self, h: int, w: int, scale: float | None = None) -> bool:
        if self.tiles is not None:
            return self.tiles
        scale = self.network_scale(h, w) if scale is None else scale
        return h * w * scale ** 2 > self.max_pixels

    @property
    def precision(self) -> str:
        return self.backend.precision

    @property
    def backend_name(self) -> str:
        return self.backend.name


def network_scale(card: ModelCard, height: int, width: int, rescale: str = "frame") -> float:
    """The factor a height x width frame is resized by before the network.

    "frame" (needs the card's frame_size): the frame keeps its aspect ratio and gets as many pixels
    as a training frame had, so the street keeps about the scale the network learnt whatever the
    camera's resolution. A frame of the training frames' size gets exactly input_scale; a 1920x1080
    dashcam frame reaches the bundled model (trained on 240x180) at 277x155 instead of 960x540,
    which lifted its val mIoU from 26 to 54 (docs/results/inference.md, "Frames of other cameras").
    "factor": input_scale for every frame, right for crops or tiles at the training resolution
    (aerial or microscope images, where a pixel has a fixed size).
    """
    if rescale == "factor" or card.frame_size is None:
        return card.input_scale
    frame_h, frame_w = card.frame_size
    if (math.floor(height * card.input_scale), math.floor(width * card.input_scale)) == (frame_h, frame_w):
        return card.input_scale  # the training frames' size: the very factor training used
    return math.sqrt(frame_h * frame_w / (height * width))


def scale_input(batch: torch.Tensor, input_scale: float) -> torch.Tensor:
    """The batch resized by a factor (antialiased, as in training), at least 1x1."""
    if input_scale == 1.0:
        return batch
    size = [max(1, math.floor(side * input_scale)) for side in batch.shape[-2:]]
    return F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)


def _converted(ckpt: dict[str, Any], source: str, precision: str, required: bool) -> dict[str, Any]:
    """The checkpoint as a cached OpenVINO IR; for ``auto``, the checkpoint itself (torch) when the
    conversion fails (a model the ONNX exporter cannot trace): slower, never a failed run."""
    try:
        return cached_openvino(ckpt, source, precision) or cached_openvino(ckpt, source, "float32")
    except SegnetError as exc:
        if required:
            raise
        print(f"running {source} on torch: {exc}", flush=True)
        return ckpt


def _exported_backend(exported: dict[str, str], precision: str, backend: str, device: str, amp: str, source: str):
    """The runtime for an exported file: OpenVINO for an IR and, by default, for ONNX too
    (faster than ONNX Runtime on this project's CPUs, docs/results/inference.md)."""
    from segnet.inference.backends import openvino_available

    fmt, path = exported["format"], exported["path"]
    if device not in ("auto", "cpu"):
        raise SegnetError(f"{source}: an exported model runs on the CPU (got device {device})")
    if backend == "torch":
        raise SegnetError(f"{source}: backend torch needs a .pt checkpoint, not an exported model")
    if backend == "onnxruntime" or (backend == "auto" and fmt == "onnx" and not openvino_available()):
        if fmt != "onnx":
            raise SegnetError(f"{source}: ONNX Runtime runs .onnx files; this is an OpenVINO IR")
        return OnnxRuntimeBackend(path)
    if not openvino_available():
        raise SegnetError("OpenVINO is not installed: pip install openvino")
    hint = "f32" if amp == "off" else "bf16" if amp == "bf16" else None
    return OpenVINOBackend(path, precision, hint, cache_dir() / "compiled")
