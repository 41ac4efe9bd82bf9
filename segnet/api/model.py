"""``segnet.load_model`` and the ``Model`` it returns: a trained network that segments RGB frames."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Union

import numpy as np

from segnet.checkpoints.model_card import ModelCard
from segnet.checkpoints.model_card import rescale_mode as _rescale_mode
from segnet.checkpoints.sources import describe, resolve_checkpoint, resolve_source
from segnet.data.classes import DatasetClasses
from segnet.data.frames import as_array, to_frame
from segnet.errors import SegnetError

ImageLike = Union[np.ndarray, str, os.PathLike]
def load_model(source: str | os.PathLike | None = None, device: str = "auto", amp: str = "auto",
               tta: str | None = None, backend: str = "auto", rescale: str = "auto") -> Model:
    """Load a trained model, ready to predict.

    ``source``: None (or "bundled") for the CamVid model shipped with segnet; a checkpoint file;
    a run folder (its best.pt); or a run name looked up in ``runs/``. ``device``: "auto", "cpu",
    "cuda" or "cuda:N". ``amp``: "auto" (bf16 where the hardware has it), "off", "bf16", "fp16".
    ``tta``: None or "flip" (average with the mirrored frame). ``backend``: "auto", "torch",
    "openvino" or "onnxruntime" (segnet.inference.runtimes; an exported .onnx/.xml is a source too).
    ``rescale``: how frames of any size are resized for the network: "auto" ("frame" when the
    checkpoint records its training frame size, else "factor"), "frame" (as many pixels as a
    training frame, aspect ratio kept: the street at the scale the network learnt, whatever the
    camera's resolution) or "factor" (the training resize factor, for crops or fixed-pixel-size
    images); segnet.inference.predictor.network_scale.
    """
    ckpt, path = resolve_checkpoint(resolve_source(source))
    return Model(ckpt, path, device=device, amp=amp, tta=tta, backend=backend, rescale=rescale)


class Model:
    """A checkpoint's network, ready to ``predict`` RGB frames and ``overlay`` the result.

    Attributes: ``classes`` (names, ``palette``, ``ignore_index``), ``card`` (the checkpoint's
    model name, options, preprocessing and meta), ``source`` (checkpoint path), ``device``,
    ``backend``, ``precision``. The network is put on its runtime at the first use that needs it
    (``predict``, ``device``, ...): ``evaluate`` with batch statistics and ``export`` never need it.
    """

    def __init__(self, ckpt: dict[str, Any], source: str = "checkpoint", device: str = "auto",
                 amp: str = "auto", tta: str | None = None, backend: str = "auto", rescale: str = "auto"):
        self.source = str(source)
        self.card: ModelCard = ModelCard.from_checkpoint(ckpt, self.source)  # malformed entries fail here
        self.amp, self.tta, self.requested_device, self._backend, self.rescale = amp, tta, device, backend, rescale
        _rescale_mode(rescale, self.card, self.source)  # a wrong value fails here, not at the first frame
        self.checkpoint = ckpt  # the checkpoint fields (an exported file's metadata); evaluate and export read them

    @cached_property
    def predictor(self):
        """The segnet.inference.predictor.Predictor that runs the network, made at first use."""
        from segnet.deploy.loading import load_predictor

        return load_predictor(self.checkpoint, self.source, device=self.requested_device, amp=self.amp, tta=self.tta,
                              backend=self._backend, rescale=self.rescale)

    @property
    def classes(self) -> DatasetClasses:
        """The classes the model was trained on: names, palette, ignore index."""
        return self.card.classes

    @property
    def name(self) -> str:
        """The architecture, e.g. fc_densenet103."""
        return self.card.model_name

    @property
    def device(self):
        """The torch.device the network runs on."""
        return self.predictor.device

    @property
    def backend(self) -> str:
        """The runtime that runs the network (torch, openvino, onnxruntime)."""
        return self.predictor.backend_name

    @property
    def precision(self) -> str:
        """float32, bfloat16 or float16: the arithmetic the forward pass uses."""
        return self.predictor.precision

    def predict(self, images: ImageLike | Sequence[ImageLike], batch_size: int = 1):
        """Class ids for one frame, a batch or a list.

        - HxWx3 uint8 RGB array, or an image path -> HxW uint8 array of class ids;
        - NxHxWx3 uint8 array (a batch; a torch tensor NxCxHxW too) -> NxHxW uint8 array;
        - a list of arrays and/or paths (sizes may differ) -> list of HxW arrays.
        Arrays and tensors that are unambiguous are converted (uint16, float 0..1, grey HxW or
        HxWx1, RGBA, torch CxHxW: segnet.data.frames); others are refused with the rule.
        ``batch_size`` frames of the same size go through the network together.
        """
        if batch_size < 1:
            raise SegnetError(f"batch_size must be >= 1, got {batch_size}")
        if not isinstance(images, (str, os.PathLike, list, tuple)) and getattr(images, "ndim", 0) == 4:
            batch = as_array(images, "images")
            frames = [_check_frame(f, f"images[{i}]") for i, f in enumerate(batch)]
            return np.stack(self._run(frames, batch_size)) if frames else np.zeros((0, *batch.shape[1:3]), np.uint8)
        if isinstance(images, (list, tuple)):
            return self._run([_as_frame(f, f"images[{i}]") for i, f in enumerate(images)], batch_size)
        return self._run([_as_frame(images, "image")], 1)[0]

    def _run(self, frames: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        start = 0
        while start < len(frames):  # consecutive frames of one size share a forward pass
            end = start + 1
            while end < len(frames) and end - start < batch_size and frames[end].shape == frames[start].shape:
                end += 1
            out += list(self.predictor.predict(frames[start:end]))
            start = end
        return out

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """HxW class ids -> HxWx3 uint8 RGB in the model's palette (void in its colour), as
        ``segnet predict`` writes ``<name>_color.png``."""
        from segnet.jobs.visualize import colorize

        return colorize(_check_labels(labels, self.classes), self.classes.palette)

    def overlay(self, image: ImageLike, labels: np.ndarray, opacity: float = 0.5, legend: bool = False) -> np.ndarray:
        """The classes in their colours blended over the image (where a colour would vanish over a
        photo it is replaced or left untinted, and the legend says so: segnet.jobs.visualize.overlay_scheme):
        HxWx3 uint8, as ``segnet predict`` writes ``<name>_overlay.png``. ``legend=True`` writes the class
        names on their colours along the bottom edge (on images at least 200 pixels wide)."""
        from segnet.jobs.visualize import Painter

        if not 0.0 <= opacity <= 1.0:
            raise SegnetError(f"opacity must be in [0, 1], got {opacity}")
        frame, labels = _as_frame(image, "image"), _check_labels(labels, self.classes)
        if frame.shape[:2] != labels.shape:
            raise SegnetError(f"labels are {labels.shape[0]}x{labels.shape[1]}, "
                              f"the image {frame.shape[0]}x{frame.shape[1]}")
        return Painter(self.classes, opacity).overlay(frame, labels, legend)

    def describe(self) -> str:
        """One line: model name, source (and a bundle's recorded test mIoU), device and precision."""
        return f"{describe(self.checkpoint, self.source)}; {self.device}, {self.precision}"

    def __repr__(self) -> str:
        return (f"Model({self.name}, {self.classes.num_classes} classes, {self.backend} on {self.device}, "
                f"{self.precision}, source={self.source!r})")


def _as_frame(item: ImageLike, what: str) -> np.ndarray:
    if isinstance(item, (str, os.PathLike)):
        from segnet.data.images import read_image

        return read_image(item)
    return _check_frame(item, what)


def _check_frame(frame: Any, what: str) -> np.ndarray:
    """An HxWx3 uint8 RGB frame (converted where that is unambiguous), or one SegnetError with the rule."""
    return to_frame(frame, what)


def _check_labels(labels: Any, classes: DatasetClasses) -> np.ndarray:
    """HxW class ids of ``classes`` (the void id included), or one SegnetError saying what is wrong."""
    if not isinstance(labels, np.ndarray) or labels.ndim != 2 or labels.dtype.kind not in "ui":
        shape = getattr(labels, "shape", type(labels).__name__)
        raise SegnetError(f"labels: expected an HxW integer array of class ids, got {shape}")
    if labels.size and labels.min() < 0:
        raise SegnetError(f"labels: class ids must be >= 0, got {labels.min()}")
    if labels.size and labels.max() > classes.void_id:
        raise SegnetError(f"labels: class id {labels.max()} is not one of the model's {classes.num_classes} classes "
                          f"(ids 0..{classes.num_classes - 1}, {classes.void_id} for {classes.ignore_name})")
    return labels
