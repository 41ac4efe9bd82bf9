"""Predictor: a checkpoint's model on a device, turning RGB uint8 frames into class ids.

Shared by predict, evaluate and demo; picks the fastest correct path for the machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from segnet.core.checkpoint import model_from_checkpoint
from segnet.core.device import resolve_amp, resolve_device
from segnet.core.forward import forward_logits
from segnet.data.classes import NUM_CLASSES, PALETTE
from segnet.errors import SegnetError
from segnet.inference.fast import prepare_for_inference


class Predictor:
    """A checkpoint's model on a device, ready for RGB uint8 frames.

    amp="auto" and channels_last=None pick the fastest correct path: bf16 autocast and
    channels_last on CUDA and on AMX CPUs (segnet.core.device), float32 otherwise; and for
    FC-DenseNets the buffered forward of segnet.inference.fast (``fused=False``: the model as is).
    """

    def __init__(self, ckpt: dict[str, Any], source: str = "checkpoint", device: str = "auto",
                 amp: str = "auto", tta: str | None = None, channels_last: bool | None = None,
                 fused: bool = True):
        self.device = resolve_device(device)
        self.amp_dtype = resolve_amp(amp, self.device)
        self.tta = None if tta in (None, "none") else tta
        if self.tta not in (None, "flip"):
            raise SegnetError(f"unknown --tta '{tta}' (use flip)")
        self.num_classes = int(ckpt.get("num_classes", NUM_CLASSES))
        self.class_names = list(ckpt.get("class_names") or [])
        self.palette = _palette(ckpt, self.num_classes, source)
        self.input_scale = float(ckpt.get("input_scale", 1.0) or 1.0)
        norm = ckpt.get("normalization") or {}
        self.mean = torch.tensor(norm.get("mean", (0.0, 0.0, 0.0)), dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(norm.get("std", (1.0, 1.0, 1.0)), dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        model = model_from_checkpoint(ckpt, source).eval().to(self.device)
        self.channels_last = True if channels_last is None else channels_last
        self.model = prepare_for_inference(model, channels_last=self.channels_last, fused=fused)

    def to_tensor(self, images: list[np.ndarray]) -> torch.Tensor:
        """HxWx3 uint8 RGB frames (same size) -> normalised float [N, 3, H, W] on the device."""
        batch = torch.from_numpy(np.stack(images)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        return batch.sub_(self.mean).div_(self.std)

    @torch.no_grad()
    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        return forward_logits(self.model, batch, self.input_scale, self.tta, self.amp_dtype, self.channels_last)

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        """[N, H, W] uint8 class ids for same-size RGB frames."""
        return self.logits(self.to_tensor(images)).argmax(1).to(torch.uint8).cpu().numpy()

    @property
    def precision(self) -> str:
        return {None: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[self.amp_dtype]


def _palette(ckpt: dict[str, Any], num_classes: int, source: str) -> np.ndarray:
    palette = np.asarray(ckpt.get("palette") or PALETTE, dtype=np.uint8)
    if palette.ndim != 2 or palette.shape[1] != 3 or len(palette) < num_classes:
        if num_classes <= len(PALETTE) - 1:
            return PALETTE
        raise SegnetError(f"{source}: palette has {len(palette)} colours for {num_classes} classes")
    return palette
