"""Predictor: a model on a runtime, turning RGB uint8 frames of any size into class ids.

Shared by predict, evaluate, demo and the Python API; segnet.deploy.loading builds one for a
checkpoint or an exported file, choosing the runtime. Frames smaller than the network takes are
padded and cropped back, frames over ``max_pixels`` (network pixels) are segmented in overlapping
tiles (segnet.inference.tiling); either way the labels have the frame's own size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from segnet.checkpoints.model_card import ModelCard, rescale_mode
from segnet.core.choices import TTA
from segnet.errors import SegnetError
from segnet.inference.forward import flip_averaged
from segnet.inference.preprocess import frames_to_tensor, network_input, network_scale, scaled_size
from segnet.inference.tiling import predict_tiled

# Whole-frame inference up to this many network pixels (after network_scale); larger frames go in
# tiles of TILE network pixels per side overlapping by a third, as mmseg's slide mode (a 48 MP
# photo's peak memory: docs/results/inference.md).
MAX_PIXELS = 1_200_000
TILE = 768


class Predictor:
    """A model card and the runtime that computes its logits, ready for RGB uint8 frames.

    ``runtime``: a segnet.inference.runtimes backend (its ``input_rule``, ``device``, ``precision``).
    tta: None or "flip". tiles: None = when a frame exceeds ``max_pixels``, True = always, False =
    never. rescale: how a frame is resized for the network (segnet.inference.preprocess.network_scale):
    "auto" = "frame" when the model card records its training frame size, else "factor".
    """

    def __init__(self, card: ModelCard, runtime, tta: str | None = None, tiles: bool | None = None,
                 max_pixels: int = MAX_PIXELS, tile: int = TILE, rescale: str = "auto", source: str = "checkpoint"):
        if (tta or "none") not in TTA:
            raise SegnetError(f"unknown tta '{tta}' (use {', '.join(TTA)})")
        self.tta = None if tta in (None, "none") else tta
        self.card = card
        self.num_classes, self.class_names = card.classes.num_classes, list(card.classes.names)
        self.palette, self.input_scale = card.classes.palette, card.input_scale
        self.rescale = rescale_mode(rescale, card, source)
        self.tiles, self.max_pixels, self.tile = tiles, max_pixels, tile
        self.backend = runtime
        self.model = getattr(runtime, "model", None) if runtime.name == "torch" else None  # the torch module
        self.device = runtime.device
        self.amp_dtype = getattr(runtime, "amp_dtype", None)

    def to_tensor(self, images: list[np.ndarray]) -> torch.Tensor:
        """HxWx3 uint8 RGB frames (same size) -> normalised float [N, 3, H, W] on the device."""
        return frames_to_tensor(images, self.card.normalization, self.device)

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
        scale = self.network_scale(*size) if scale is None else scale
        h, w = scaled_size(size, scale)
        x = network_input(batch, scale, self.backend.input_rule)
        out = flip_averaged(self.backend, x) if self.tta == "flip" else self.backend(x)
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
